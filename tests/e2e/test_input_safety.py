"""Input that never gives a 500 and is never echoed, through the gateway: control
characters and lone surrogates refused with 422, 422 answers without the input, paging
bounded, hashtags compared in one form, only web URLs for images."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from testkit.http import register_and_login, wait_for_post_status
from testkit.processes import wait_until
from testkit.stack import Stack

SECRET = "a-secret-that-must-not-come-back"


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as c:
        yield c


@pytest.fixture(scope="module")
def user(client: httpx.Client) -> dict[str, Any]:
    return register_and_login(client)


@pytest.fixture(scope="module")
def other(client: httpx.Client) -> dict[str, Any]:
    return register_and_login(client)


def assert_refused_without_echo(r: httpx.Response, *sent: str) -> list[dict[str, Any]]:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/json")
    detail = r.json()["detail"]
    assert isinstance(detail, list) and detail, detail
    for issue in detail:
        assert set(issue) <= {"loc", "msg", "type", "ctx"}, issue
    for text in sent:
        assert text not in r.text
    return detail


def raw_json(client: httpx.Client, method: str, url: str, body: str,
             headers: dict[str, str] | None = None) -> httpx.Response:
    return client.request(method, url, content=body.encode(),
                          headers={"content-type": "application/json", **(headers or {})})


# ------------------------------------------------------------- control characters
@pytest.mark.parametrize("path", ["/api/search/hashtags", "/api/search/users"])
@pytest.mark.parametrize("q", ["a\x00b", "\x00", "tag\x1b[0m", "x\x7f"])
def test_a_control_character_in_a_query_is_422(client: httpx.Client, user: dict[str, Any],
                                               path: str, q: str) -> None:
    r = client.get(path, params={"q": q}, headers=user["headers"])
    detail = assert_refused_without_echo(r)
    assert detail[0]["loc"] == ["query", "q"] and detail[0]["type"] == "unsafe_text"


@pytest.mark.parametrize(("method", "url", "body"), [
    ("POST", "/api/messages", {"receiver_id": "OTHER", "content": "hi\x00there"}),
    ("POST", "/api/posts", {"content": "nul \x00 #tag"}),
    ("POST", "/api/stories", {"content": "bell\x07"}),
    ("PUT", "/api/users/me", {"bio": "escape \x1b[2J"}),
    ("PUT", "/api/users/me", {"full_name": "two\nlines"}),
    ("POST", "/api/posts/POST/comments", {"content": "\x00"}),
])
def test_a_control_character_in_a_body_is_422(client: httpx.Client, user: dict[str, Any],
                                              other: dict[str, Any], method: str, url: str,
                                              body: dict[str, Any]) -> None:
    if "POST" in url.split("/"):
        r = client.post("/api/posts", json={"content": "a post to comment on"},
                        headers=user["headers"])
        url = url.replace("POST", str(r.json()["id"]))
    body = {k: other["id"] if v == "OTHER" else v for k, v in body.items()}
    r = client.request(method, url, json=body, headers=user["headers"])
    detail = assert_refused_without_echo(r)
    assert detail[0]["type"] == "unsafe_text" and detail[0]["loc"][0] == "body"


def test_free_text_keeps_its_line_breaks_and_tabs(client: httpx.Client,
                                                  user: dict[str, Any]) -> None:
    r = client.put("/api/users/me", json={"bio": "line one\nline two\r\n\ttabbed"},
                   headers=user["headers"])
    assert r.status_code == 200, r.text
    assert r.json()["bio"] == "line one\nline two\r\n\ttabbed"


def test_a_nul_in_the_token_form_is_refused_not_a_server_error(client: httpx.Client,
                                                               user: dict[str, Any]) -> None:
    r = client.post("/api/auth/token", data={"username": f"{SECRET}\x00@example.com",
                                             "password": "correct horse"})
    assert r.status_code == 422, r.text
    assert SECRET not in r.text
    email = f"{user['username']}@example.com"
    for password in (f"{SECRET}\x00", "\x00"):
        r = client.post("/api/auth/token", data={"username": email, "password": password})
        assert r.status_code in (401, 422), r.text
        assert SECRET not in r.text


# --------------------------------------------------------------- lone surrogates
@pytest.mark.parametrize("body", [
    '{"email": "\\ud800", "password": "PASSWORD"}',
    '{"email": "x@example.com", "password": "\\udc00PASSWORD"}',
    '{"email": "\\ud800\\ud800@example.com", "password": "PASSWORD"}',
])
def test_a_lone_surrogate_on_login_is_422_without_echo(client: httpx.Client, body: str) -> None:
    r = raw_json(client, "POST", "/api/auth/login", body.replace("PASSWORD", SECRET))
    detail = assert_refused_without_echo(r, SECRET)
    assert "string_unicode" in {d["type"] for d in detail}


def test_a_lone_surrogate_on_register_and_in_a_message_is_422(
        client: httpx.Client, user: dict[str, Any], other: dict[str, Any]) -> None:
    r = raw_json(client, "POST", "/api/auth/register",
                 '{"username": "surrogate_user", "email": "s@example.com", '
                 f'"password": "{SECRET}", "full_name": "\\udfff"}}')
    assert_refused_without_echo(r, SECRET)
    r = raw_json(client, "POST", "/api/messages",
                 f'{{"receiver_id": {other["id"]}, "content": "hi \\ud83d"}}',
                 headers=user["headers"])
    assert_refused_without_echo(r)
    # a proper pair is an ordinary character
    r = raw_json(client, "POST", "/api/posts", '{"content": "party \\ud83c\\udf89"}',
                 headers=user["headers"])
    assert r.status_code in (201, 202), r.text
    assert r.json()["content"] == "party \U0001f389"


# ------------------------------------------------------------------ never echoed
def test_a_422_does_not_send_the_input_back(client: httpx.Client, user: dict[str, Any]) -> None:
    r = client.put("/api/users/me", json={"bio": SECRET * 20}, headers=user["headers"])
    detail = assert_refused_without_echo(r, SECRET)
    assert detail[0]["type"] == "string_too_long" and detail[0]["ctx"] == {"max_length": 500}
    r = client.post("/api/auth/register", json={"username": "ok_name", "password": SECRET,
                                                "email": f"{SECRET}@@example"})
    assert_refused_without_echo(r, SECRET)
    r = raw_json(client, "POST", "/api/auth/login", '{"email": "' + SECRET + '", ')
    assert assert_refused_without_echo(r, SECRET)[0]["type"] == "json_invalid"


# ------------------------------------------------------------------------ paging
@pytest.mark.parametrize("path", ["/api/feed", "/api/notifications", "/api/messages",
                                  "/api/search/users?q=a", "/api/stories/feed"])
def test_offsets_are_capped(client: httpx.Client, user: dict[str, Any], path: str) -> None:
    sep = "&" if "?" in path else "?"
    assert client.get(f"{path}{sep}offset=10000", headers=user["headers"]).status_code == 200
    r = client.get(f"{path}{sep}offset=10001", headers=user["headers"])
    detail = assert_refused_without_echo(r)
    assert detail[0]["loc"] == ["query", "offset"] and detail[0]["ctx"] == {"le": 10000}
    assert client.get(f"{path}{sep}limit=101", headers=user["headers"]).status_code == 422


# ---------------------------------------------------------------------- hashtags
@pytest.mark.parametrize("tag", ["\uff53\uff50\uff41\uff4d",           # full-width
                                 "\U0001d42c\U0001d429\U0001d41a\U0001d426",  # bold
                                 "\u017fpam", "SPAM", "\uff46\uff4f\uff52\uff42\uff49\uff44"
                                 "\uff44\uff45\uff4e"])
def test_a_banned_hashtag_cannot_hide_behind_look_alike_letters(
        client: httpx.Client, user: dict[str, Any], tag: str) -> None:
    r = client.post("/api/posts", json={"content": f"buy now #{tag}"}, headers=user["headers"])
    assert r.status_code == 422, r.text
    assert r.json()["detail"] in ("Hashtag not allowed: #spam",
                                  "Hashtag not allowed: #forbidden")


def test_a_full_width_number_sign_starts_a_banned_hashtag(client: httpx.Client,
                                                          user: dict[str, Any]) -> None:
    r = client.post("/api/posts", json={"content": "\uff03spam"}, headers=user["headers"])
    assert r.status_code == 422 and r.json()["detail"] == "Hashtag not allowed: #spam"


def test_hashtags_are_found_whatever_form_they_are_written_in(
        client: httpx.Client, user: dict[str, Any]) -> None:
    r = client.post("/api/posts", json={"content": "#\uff23\uff41\uff46\u00e9Noir tonight"},
                    headers=user["headers"])
    assert r.status_code in (201, 202), r.text
    post = wait_for_post_status(client, user["headers"], r.json()["id"], {"published"})
    assert post["hashtags"] == ["caf\u00e9noir"]
    for q in ("CAF\u00c9N", "#caf\u00e9", "cafe\u0301n", "\uff43\uff41\uff46\u00e9"):
        found = wait_until(lambda q=q: client.get(
            "/api/search/hashtags", params={"q": q}, headers=user["headers"]).json(), 10,
            what=f"hashtags for {q!r}")
        assert [h["name"] for h in found] == ["caf\u00e9noir"], q
    r = client.get("/api/search/posts/hashtag/%23CAF%C3%89NOIR", headers=user["headers"])
    assert [p["id"] for p in r.json()] == [post["id"]]


# -------------------------------------------------------------------------- URLs
@pytest.mark.parametrize("url", ["javascript:alert(1)", "JAVASCRIPT:alert(document.cookie)",
                                 "data:image/png;base64,AAAA", "ftp://example.com/a.png",
                                 "//example.com/a.png", "https://"])
def test_only_http_and_https_urls_are_taken(client: httpx.Client, user: dict[str, Any],
                                            url: str) -> None:
    for method, path, body in [("POST", "/api/posts", {"content": "x", "image_url": url}),
                               ("PUT", "/api/users/me", {"profile_image_url": url}),
                               ("POST", "/api/stories", {"image_url": url})]:
        r = client.request(method, path, json=body, headers=user["headers"])
        detail = assert_refused_without_echo(r, url)
        assert detail[0]["type"] == "url_scheme", (path, detail)


def test_web_urls_are_taken(client: httpx.Client, user: dict[str, Any]) -> None:
    url = "https://cdn.example.com/u/1.png?size=200"
    r = client.put("/api/users/me", json={"profile_image_url": url}, headers=user["headers"])
    assert r.status_code == 200 and r.json()["profile_image_url"] == url
    r = client.post("/api/posts", json={"image_url": "HTTP://example.com/a.jpg"},
                    headers=user["headers"])
    assert r.status_code in (201, 202), r.text


def test_refused_input_is_never_stored(client: httpx.Client, user: dict[str, Any]) -> None:
    me = client.get("/api/auth/me", headers=user["headers"]).json()
    assert "javascript" not in json.dumps(me) and "\x1b" not in json.dumps(me)
