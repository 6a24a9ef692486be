"""Pure rules about posts (no I/O)."""

from __future__ import annotations

import re

MAX_CONTENT_CHARS = 2200
_HASHTAG = re.compile(r"(?<![\w&#])#(\w+)", re.UNICODE)


def extract_hashtags(content: str | None) -> list[str]:
    """Distinct hashtags of a caption, lower-cased, in order of appearance."""
    if not content:
        return []
    seen: dict[str, None] = {}
    for match in _HASHTAG.finditer(content):
        seen.setdefault(match.group(1).lower(), None)
    return list(seen)


def is_empty_post(content: str | None, image_url: str | None) -> bool:
    return not (content and content.strip()) and not (image_url and image_url.strip())
