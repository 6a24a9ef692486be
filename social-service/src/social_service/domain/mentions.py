"""Pure rules for @mentions (no I/O)."""

from __future__ import annotations

import re

_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9._]{3,30})")

#: one text notifies at most this many people; mentions beyond stay plain text
MAX_MENTIONS = 20


def extract_mentions(text: str | None) -> list[str]:
    """Distinct usernames mentioned as ``@name``, lower-cased, in order; the first
    :data:`MAX_MENTIONS` of them."""
    if not text:
        return []
    seen: dict[str, None] = {}
    for m in _MENTION.finditer(text):
        name = m.group(1).rstrip(".").lower()
        if len(name) >= 3:
            seen.setdefault(name, None)
            if len(seen) == MAX_MENTIONS:
                break
    return list(seen)
