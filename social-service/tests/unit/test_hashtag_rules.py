from __future__ import annotations

from social_service.domain.hashtags import like_prefix, normalise, rejection_reason

RULES = {"max_count": 30, "max_length": 100, "banned": frozenset({"spam"})}


def test_normalise() -> None:
    assert normalise(["#A", "a", " b ", "", "#"]) == ["a", "b"]


def test_thirty_hashtags_pass_thirty_one_do_not() -> None:
    assert rejection_reason([f"t{i}" for i in range(30)], **RULES) is None
    assert "Too many hashtags: 31" in (rejection_reason([f"t{i}" for i in range(31)], **RULES)
                                       or "")


def test_long_and_banned_hashtags() -> None:
    assert rejection_reason(["x" * 100], **RULES) is None
    assert "longer than 100" in (rejection_reason(["x" * 101], **RULES) or "")
    assert rejection_reason(["ok", "spam"], **RULES) == "Hashtag not allowed: #spam"


def test_like_prefix_is_literal() -> None:
    assert like_prefix("a%b_c\\") == "a\\%b\\_c\\\\%"
