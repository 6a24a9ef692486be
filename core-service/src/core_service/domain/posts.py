"""Pure rules about posts and comments (no I/O)."""

from __future__ import annotations

import re
from enum import StrEnum

MAX_CONTENT_CHARS = 2200
_HASHTAG = re.compile(r"(?<![\w&#])#(\w+)", re.UNICODE)


class PostStatus(StrEnum):
    pending = "pending"
    published = "published"
    rejected = "rejected"
    deleting = "deleting"


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


def is_visible(status: str, author_id: int, viewer_id: int | None) -> bool:
    """Everyone sees a published post; its author sees it in every status."""
    return status == PostStatus.published or author_id == viewer_id


def may_delete_comment(user_id: int, comment_author_id: int, post_author_id: int) -> bool:
    """A comment can be deleted by whoever wrote it and by the post's author."""
    return user_id in (comment_author_id, post_author_id)
