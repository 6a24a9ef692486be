"""Sampling profiles of the services during a measured window (``--profile``).

``py-spy record --gil`` samples each service process while the load runs,
taking only the thread that holds the GIL (so idle threads and waiting count
for nothing: the samples are where the process spends its CPU), writing collapsed stacks
(``<label>-<process>.txt``: one ``frame;frame;...;frame count`` line per
distinct stack, the input of flame graph tools: speedscope opens it as is). :func:`summarize`
reads the collapsed stacks back and tells where the busy samples went:

SQLAlchemy runs the database calls of an async session in greenlets, whose
stacks py-spy sees from the greenlet's start (``Session.execute``), not from
the caller: the package shares count them, the inclusive shares of our
functions do not.

* by package: the share of busy samples with at least one frame in
  SQLAlchemy, asyncpg, aio-pika/aiormq/pamqp, pydantic, logging, ... (a sample
  counts for every package on its stack, so the shares add up to more than 100);
* the top functions by inclusive share (on the stack) and by self share
  (the frame being run), each as ``function (module)``.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: package shown for a frame, by a fragment of its file path (first match wins)
#: (py-spy names files by their module path: ``sqlalchemy/orm/session.py``)
PACKAGES: tuple[tuple[str, str], ...] = (
    ("sqlalchemy/", "sqlalchemy"), ("greenlet/", "sqlalchemy"),
    ("asyncpg/", "asyncpg"),
    ("aio_pika/", "aio-pika"), ("aiormq/", "aio-pika"), ("pamqp/", "aio-pika"),
    ("pydantic", "pydantic"),
    ("logging/", "logging"), ("shared_lib/logs.py", "logging"),
    ("prometheus_client/", "prometheus"),
    ("starlette/", "fastapi"), ("fastapi/", "fastapi"), ("uvicorn/", "uvicorn"),
    ("httptools/", "uvicorn"), ("bcrypt/", "bcrypt"), ("jwt/", "jwt"),
    ("tenacity/", "tenacity"), ("asyncio/", "asyncio"), ("json/", "json"),
    ("shared_lib/", "shared_lib"), ("core_service/", "core_service"),
    ("social_service/", "social_service"),
)


def _frame_file(frame: str) -> str:
    start = frame.rfind("(")
    return frame[start + 1:-1] if start >= 0 and frame.endswith(")") else ""


def package_of(frame: str) -> str | None:
    path = _frame_file(frame)
    for fragment, name in PACKAGES:
        if path.startswith(fragment) or f"/{fragment}" in path:
            return name
    return None


def _short(frame: str) -> str:
    """``func (/long/path/site-packages/pkg/mod.py)`` -> ``func (pkg/mod.py)``."""
    path = _frame_file(frame)
    name = frame[: frame.rfind("(")].strip() if path else frame
    for marker in ("site-packages/", "/src/", "/lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


def read_collapsed(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def summarize(path: Path, top: int = 12) -> dict[str, Any]:
    """Busy samples of one process by package and by function."""
    stacks = read_collapsed(path)
    total = sum(n for _, n in stacks)
    by_package: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for frames, n in stacks:
        for pkg in {package_of(f) for f in frames} - {None}:
            by_package[pkg] += n  # type: ignore[index]
        for name in {_short(f) for f in frames}:
            inclusive[name] += n
        own[_short(frames[-1])] += n

    def share(counter: Counter[str], keep: Any = None) -> list[tuple[str, float]]:
        items = [(k, v) for k, v in counter.most_common() if keep is None or keep(k)]
        return [(k, round(100 * v / total, 1)) for k, v in items[:top]] if total else []

    ours = ("shared_lib/", "core_service/", "social_service/")
    return {
        "samples": total,
        "by_package_percent": share(by_package),
        "top_inclusive_percent": share(inclusive, lambda k: any(o in k for o in ours)),
        "top_self_percent": share(own),
    }


@dataclass
class Profiler:
    """py-spy on each named process between :meth:`start` and :meth:`stop`."""

    pids: dict[str, int]
    out_dir: Path
    label: str
    rate: int = 200
    _procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @staticmethod
    def available() -> bool:
        return shutil.which("py-spy") is not None

    def _path(self, name: str, suffix: str) -> Path:
        return self.out_dir / f"{self.label}-{name}.{suffix}"

    def start(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name, pid in self.pids.items():
            self._procs[name] = subprocess.Popen(
                ["py-spy", "record", "--pid", str(pid), "--rate", str(self.rate),
                 "--gil", "--nolineno", "--format", "raw",
                 "--output", str(self._path(name, "txt"))],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> dict[str, Any]:
        """Stop sampling; the summary of each process's profile."""
        for proc in self._procs.values():
            proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        summaries = {}
        for name, proc in self._procs.items():
            proc.wait(timeout=60)
            raw = self._path(name, "txt")
            if raw.exists():
                summaries[name] = {**summarize(raw), "collapsed": str(raw)}
        return summaries


def render(profiles: dict[str, Any]) -> list[str]:
    """Profile summaries as text lines for the report."""
    lines = []
    for name, p in profiles.items():
        lines.append(f"profile of {name}: {p['samples']} busy samples ({p['collapsed']})")
        lines.append("  by package (% of busy samples on the stack): " + ", ".join(
            f"{k} {v}" for k, v in p["by_package_percent"]))
        lines.append("  our functions, inclusive %:")
        lines += [f"    {v:5.1f}  {k}" for k, v in p["top_inclusive_percent"]]
        lines.append("  self %:")
        lines += [f"    {v:5.1f}  {k}" for k, v in p["top_self_percent"]]
    return lines
