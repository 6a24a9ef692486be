from __future__ import annotations

import pytest

from core_service.domain.posts import extract_hashtags, is_empty_post


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
