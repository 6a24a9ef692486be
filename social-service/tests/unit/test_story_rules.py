from __future__ import annotations

from social_service.domain.stories import is_empty_story


def test_a_story_needs_an_image_or_content() -> None:
    assert is_empty_story(None, None)
    assert is_empty_story("  ", "\n")
    assert not is_empty_story("https://img.example/1.png", None)
    assert not is_empty_story(None, "hello")
