"""Pure rules for @mentions (no I/O)."""

from __future__ import annotations

import re

_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9._]{3,30})")


def extract_mentions(text: str | None) -> list[str]:
    """Distinct usernames mentioned as ``@name``, lower-cased, in order."""
    if not text:
        return []
    seen: dict[str, None] = {}
    for m in _MENTION.finditer(text):
        seen.setdefault(m.group(1).rstrip(".").lower(), None)
    return [name for name in seen if len(name) >= 3]
