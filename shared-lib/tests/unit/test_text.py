"""Text from clients: the string types refuse what cannot be stored or is not typed by
a person, URLs are web URLs, hashtags have one form; a 422 never carries the input."""

from __future__ import annotations

import json
import re
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI, Query
from pydantic import BaseModel, StringConstraints, ValidationError

from instasaga.hashtags import extract_hashtags, normalise_hashtag
from shared_lib.metrics import Metrics
from shared_lib.text import (
    LINE_PATTERN,
    NONBLANK_TEXT,
    SAFE_LINE,
    SAFE_TEXT,
    TEXT_PATTERN,
    URL_PATTERN,
    WebUrl,
)
from shared_lib.web import install_common, validation_issue


class Form(BaseModel):
    line: Annotated[str, StringConstraints(max_length=20), SAFE_LINE] = "x"
    text: Annotated[str, StringConstraints(max_length=50), SAFE_TEXT] = "x"
    comment: Annotated[str, StringConstraints(min_length=1), NONBLANK_TEXT] = "x"
    url: WebUrl | None = None
    code: Annotated[str, StringConstraints(pattern=r"^[a-z]+$"), SAFE_LINE] = "x"


def errors_of(**fields: object) -> list[str]:
    try:
        Form.model_validate(fields)
    except ValidationError as exc:
        return [e["type"] for e in exc.errors()]
    return []


@pytest.mark.parametrize("value", ["plain", "émoji 🎉", "中文", "", "a" * 20])
def test_a_line_of_ordinary_text_passes(value: str) -> None:
    assert errors_of(line=value) == []


@pytest.mark.parametrize("value", ["a\x00b", "\x01", "tab\there", "new\nline", "\r", "\x7f",
                                   "\x85", "\x9f", "\x1b[31m"])
def test_a_line_refuses_every_control_character(value: str) -> None:
    assert errors_of(line=value) == ["unsafe_text"]


@pytest.mark.parametrize("value", ["two\nlines", "cr\r\nlf", "a\ttab", "x"])
def test_free_text_takes_line_breaks_and_tabs(value: str) -> None:
    assert errors_of(text=value) == []


@pytest.mark.parametrize("value", ["nul\x00", "\x08", "\x0b", "\x0c", "\x1f", "\x7f", "\x80"])
def test_free_text_refuses_other_control_characters(value: str) -> None:
    assert errors_of(text=value) == ["unsafe_text"]


@pytest.mark.parametrize("field", ["line", "text", "comment", "url", "code"])
@pytest.mark.parametrize("value", ["\ud800", "a\udfffb", "\udc00\ud800"])
def test_a_lone_surrogate_is_refused_as_invalid_unicode(field: str, value: str) -> None:
    assert errors_of(**{field: value}) == ["string_unicode"]


def test_a_lone_surrogate_from_raw_json_is_refused_before_any_other_check() -> None:
    body = json.loads('{"line": "\\ud800", "text": "ok \\udc00"}')
    assert errors_of(**body) == ["string_unicode", "string_unicode"]
    # a proper pair is a character like any other
    assert errors_of(**json.loads('{"line": "\\ud83c\\udf89"}')) == []


def test_lengths_and_own_patterns_stand_beside_the_rule() -> None:
    assert errors_of(line="a" * 21) == ["string_too_long"]
    assert errors_of(code="ABC") == ["string_pattern_mismatch"]
    assert errors_of(code="abc") == []


@pytest.mark.parametrize("value", ["   ", "\n\t ", "\u3000"])
def test_nonblank_text_refuses_white_space_only(value: str) -> None:
    assert errors_of(comment=value) == ["blank_text"]


@pytest.mark.parametrize("value", ["http://example.com", "https://example.com/a/b?c=d#e",
                                   "HTTPS://EXAMPLE.COM", "https://127.0.0.1:8080/x.png",
                                   "https://user@host/p"])
def test_web_urls_pass(value: str) -> None:
    assert errors_of(url=value) == []


@pytest.mark.parametrize("value", ["javascript:alert(1)", "JavaScript://x%0aalert(1)",
                                   "data:text/html,<script>", "ftp://example.com/x",
                                   "file:///etc/passwd", "//example.com", "https://",
                                   "https:///path", "https://exa mple.com", "https://a/\x00",
                                   "vbscript:msgbox", "example.com/x.png", " https://a.b",
                                   "https://a.b/" + "x" * 2048])
def test_other_urls_are_refused(value: str) -> None:
    assert errors_of(url=value) in (["url_scheme"], ["string_too_long"])


def test_the_documented_patterns_say_what_the_checks_do() -> None:
    schema = Form.model_json_schema()["properties"]
    assert schema["line"]["pattern"] == LINE_PATTERN
    assert schema["text"]["pattern"] == TEXT_PATTERN
    assert schema["url"]["anyOf"][0]["pattern"] == URL_PATTERN
    assert schema["url"]["anyOf"][0]["maxLength"] == 2048
    assert schema["code"]["pattern"] == "^[a-z]+$"  # the field's own, stricter pattern
    for value in ["ok", "a\tb", "a\nb", "a\x00", "\x7f", "\x9f", "é"]:
        assert bool(re.match(TEXT_PATTERN, value)) == (errors_of(text=value) == [])
        assert bool(re.match(LINE_PATTERN, value)) == (errors_of(line=value) == [])


@pytest.mark.parametrize(("given", "expected"), [
    ("Spam", "spam"), ("#SPAM", "spam"), ("  #spam ", "spam"),
    ("\uff53\uff50\uff41\uff4d", "spam"),              # full-width letters
    ("\U0001d42c\U0001d429\U0001d41a\U0001d426", "spam"),  # mathematical bold
    ("\u017fpam", "spam"),                              # long s
    ("stra\u00dfe", "strasse"), ("CAF\u00c9", "caf\u00e9"),
    ("cafe\u0301", "caf\u00e9"),                        # composed
    ("\u2460", "1"),                                     # circled digit
])
def test_a_hashtag_has_one_form(given: str, expected: str) -> None:
    assert normalise_hashtag(given) == expected
    assert normalise_hashtag(normalise_hashtag(given)) == expected


def test_hashtags_are_extracted_normalised_and_distinct() -> None:
    text = ("#Beach day \uff03\uff42\uff45\uff41\uff43\uff48 #\U0001d41b\U0001d41e\U0001d41a"
            "\U0001d41c\U0001d421 #sun_set x#no &#35; ##double #\u017fpam")
    assert extract_hashtags(text) == ["beach", "sun_set", "spam"]
    assert extract_hashtags(None) == [] and extract_hashtags("") == []


# ------------------------------------------------------------------- the 422 answer

SECRET = "hunter2-secret-value"


def test_a_validation_issue_keeps_the_constraint_and_drops_the_input() -> None:
    issue = validation_issue({"type": "string_too_long", "loc": ("body", "bio"),
                              "msg": "String should have at most 5 characters",
                              "input": SECRET, "ctx": {"max_length": 5},
                              "url": "https://errors.pydantic.dev"})
    assert issue == {"type": "string_too_long", "loc": ["body", "bio"],
                     "msg": "String should have at most 5 characters",
                     "ctx": {"max_length": 5}}


def test_a_validation_issue_never_repeats_the_input_in_its_message_or_context() -> None:
    issue = validation_issue({"type": "value_error", "loc": ("body", "email"),
                              "msg": f"value is not a valid email address: {SECRET!r} is odd",
                              "input": SECRET, "ctx": {"reason": SECRET, "error": SECRET}})
    assert SECRET not in json.dumps(issue)
    issue = validation_issue({"type": "value_error", "loc": ("body", "x"),
                              "msg": f"Value error, bad {SECRET}", "input": SECRET})
    assert SECRET not in json.dumps(issue)


def test_a_validation_issue_is_always_encodable() -> None:
    issue = validation_issue({"type": "string_unicode", "loc": ("body", "\ud800"),
                              "msg": "bad \udc00", "input": "\ud800"})
    json.dumps(issue, ensure_ascii=False).encode("utf-8")


class Login(BaseModel):
    email: Annotated[str, StringConstraints(max_length=10), SAFE_LINE]
    password: Annotated[str, StringConstraints(max_length=10), SAFE_TEXT]


async def test_the_422_of_an_app_carries_no_input_even_a_lone_surrogate() -> None:
    app = FastAPI()
    install_common(app, 1_048_576, Metrics("test"))

    @app.post("/login")
    async def login(body: Login) -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/search")
    async def search(q: Annotated[str, Query(max_length=10), SAFE_LINE]) -> dict[str, str]:
        return {"q": q}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://core") as client:
        raw = '{"email": "\\ud800", "password": "' + SECRET + '"}'
        r = await client.post("/login", content=raw,
                              headers={"content-type": "application/json"})
        assert r.status_code == 422
        assert [d["type"] for d in r.json()["detail"]] == ["string_unicode", "string_too_long"]
        assert SECRET not in r.text and "input" not in r.text
        r = await client.get("/search", params={"q": "a\x00b"})
        assert r.status_code == 422 and r.json()["detail"][0]["type"] == "unsafe_text"
        assert "a\\u0000b" not in r.text and "input" not in r.text
        r = await client.post("/login", content=b"{\"email\": ",
                              headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"
