"""Pure rules about stories (no I/O)."""

from __future__ import annotations

from datetime import timedelta

#: how long a story stays active after its creation
STORY_LIFETIME = timedelta(hours=24)


def is_empty_story(image_url: str | None, content: str | None) -> bool:
    """A story needs an image or some content."""
    return not (image_url or "").strip() and not (content or "").strip()
