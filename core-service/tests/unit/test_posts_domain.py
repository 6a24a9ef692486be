from __future__ import annotations

import pytest

from core_service.domain.posts import (
    PostStatus,
    extract_hashtags,
    is_empty_post,
    is_visible,
    may_delete_comment,
)


@pytest.mark.parametrize(("content", "tags"), [
    (None, []), ("", []), ("no tags", []),
    ("#Sun and #sun and #SUN", ["sun"]),
    ("a #b #c_d #é", ["b", "c_d", "é"]),
    ("mail@x #tag a#notatag &#39; ##double", ["tag"]),
])
def test_extract_hashtags(content: str | None, tags: list[str]) -> None:
    assert extract_hashtags(content) == tags


def test_empty_post() -> None:
    assert is_empty_post(None, None) and is_empty_post("  ", "")
    assert not is_empty_post("x", None) and not is_empty_post(None, "http://i")


def test_visibility() -> None:
    assert is_visible(PostStatus.published, author_id=1, viewer_id=None)
    assert is_visible(PostStatus.published, author_id=1, viewer_id=2)
    for status in (PostStatus.pending, PostStatus.rejected, PostStatus.deleting):
        assert is_visible(status, author_id=1, viewer_id=1)
        assert not is_visible(status, author_id=1, viewer_id=2)
        assert not is_visible(status, author_id=1, viewer_id=None)


def test_who_may_delete_a_comment() -> None:
    assert may_delete_comment(1, comment_author_id=1, post_author_id=2)
    assert may_delete_comment(2, comment_author_id=1, post_author_id=2)
    assert not may_delete_comment(3, comment_author_id=1, post_author_id=2)
