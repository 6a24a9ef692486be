"""What the services wrote to their logs during a run (they run with LOG_LEVEL=WARNING)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

LEVELS = ("CRITICAL", "ERROR", "WARNING")
MAX_EXAMPLES = 5
_LEVEL = re.compile(r"\b(" + "|".join(LEVELS) + r")\b")
_NUMBERS = re.compile(r"0x[0-9a-fA-F]+|\d+")  # addresses, ids, times


def scan_log(path: Path) -> dict[str, object]:
    """Counts of warning/error lines and tracebacks, and a few distinct examples."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return {"missing": True}
    levels: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for line in lines:
        match = _LEVEL.search(line)
        if match is None:
            continue
        levels[match.group(1)] += 1
        shape = _NUMBERS.sub("N", line[match.start():])[:160]  # one example per kind
        if len(examples) < MAX_EXAMPLES:
            examples.setdefault(shape, line[:400])
    return {"lines": len(lines), "by_level": dict(levels),
            "tracebacks": sum("Traceback" in line for line in lines),
            "examples": list(examples.values()), "path": str(path)}


def scan_logs(paths: dict[str, Path]) -> dict[str, dict[str, object]]:
    return {name: scan_log(path) for name, path in paths.items()}
