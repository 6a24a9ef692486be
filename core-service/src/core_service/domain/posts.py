"""Pure rules about posts and comments (no I/O)."""

from __future__ import annotations

from enum import StrEnum

from shared_lib.text import extract_hashtags as _extract_hashtags

MAX_CONTENT_CHARS = 2200


class PostStatus(StrEnum):
    pending = "pending"
    published = "published"
    rejected = "rejected"
    deleting = "deleting"


def extract_hashtags(content: str | None) -> list[str]:
    """Distinct hashtags of a caption, normalised (NFKC, case-folded: see
    :func:`shared_lib.text.normalise_hashtag`), in order of appearance."""
    return _extract_hashtags(content)


def is_empty_post(content: str | None, image_url: str | None) -> bool:
    return not (content and content.strip()) and not (image_url and image_url.strip())


def is_visible(status: str, author_id: int, viewer_id: int | None) -> bool:
    """Everyone sees a published post; its author sees it in every status."""
    return status == PostStatus.published or author_id == viewer_id


def may_delete_comment(user_id: int, comment_author_id: int, post_author_id: int) -> bool:
    """A comment can be deleted by whoever wrote it and by the post's author."""
    return user_id in (comment_author_id, post_author_id)
