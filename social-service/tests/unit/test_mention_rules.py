"""@mentions: which names a text notifies."""

from __future__ import annotations

from social_service.domain.mentions import MAX_MENTIONS, extract_mentions


def test_distinct_lower_cased_names_in_order() -> None:
    assert extract_mentions("hi @Bob and @alice.smith. @bob again, a@mail.com @ab") == [
        "bob", "alice.smith"]


def test_nothing_in_an_empty_text() -> None:
    assert extract_mentions(None) == extract_mentions("") == []


def test_a_text_notifies_a_bounded_number_of_people() -> None:
    text = " ".join(f"@user{i:03d} @user{i:03d}" for i in range(500))
    names = extract_mentions(text)
    assert names == [f"user{i:03d}" for i in range(MAX_MENTIONS)]
