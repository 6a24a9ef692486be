"""``Idempotency-Key`` through the gateway: a retried write answers the first outcome
and does nothing again; the same key for another request is refused; concurrent
requests with one key make one resource."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import httpx
import pytest

from testkit.http import PASSWORD, register_and_login
from testkit.processes import wait_until
from testkit.sql import scalar
from testkit.stack import Stack

REPLAYED = "Idempotent-Replayed"


def keyed(user: dict[str, Any] | None, key: str | None = None) -> dict[str, str]:
    headers = dict(user["headers"]) if user else {}
    headers["Idempotency-Key"] = key or str(uuid.uuid4())
    return headers


def twice(c: httpx.Client, path: str, headers: dict[str, str],
          json: dict[str, Any] | None = None) -> tuple[httpx.Response, httpx.Response]:
    first = c.post(path, json=json, headers=headers)
    again = c.post(path, json=json, headers=headers)
    assert REPLAYED not in first.headers
    assert again.headers.get(REPLAYED) == "true", (again.status_code, again.text)
    assert again.status_code == first.status_code, (first.text, again.text)
    return first, again


def test_a_retried_post_is_the_same_post(stack: Stack) -> None:
    with stack.client() as c:
        u = register_and_login(c)
        content = f"once {uuid.uuid4().hex}"
        first, again = twice(c, "/api/posts", keyed(u), {"content": content})
        assert first.status_code == 201, first.text
        assert again.json()["id"] == first.json()["id"]
        assert again.headers["location"] == first.headers["location"]
        assert scalar(stack.core_db, "SELECT count(*) FROM posts WHERE content = "
                                     f"'{content}'") == 1


def test_a_retried_rejected_post_is_rejected_again_without_a_second_saga(stack: Stack) -> None:
    with stack.client() as c:
        u = register_and_login(c)
        first, again = twice(c, "/api/posts", keyed(u), {"content": "#spam again"})
        assert first.status_code == 422, first.text
        assert again.json() == first.json()
        assert scalar(stack.core_db, "SELECT count(*) FROM posts WHERE author_id = "
                                     f"{u['id']}") == 1


def test_a_key_answers_an_async_start_as_it_stands_now(stack: Stack) -> None:
    with stack.client() as c:
        u = register_and_login(c)
        headers = {**keyed(u), "Prefer": "respond-async"}
        first = c.post("/api/posts", json={"content": "later"}, headers=headers)
        assert first.status_code == 202, first.text
        post_id = first.json()["id"]
        wait_until(lambda: c.get(f"/api/posts/{post_id}").json()["status"] == "published",
                   10, what="published")
        again = c.post("/api/posts", json={"content": "later"},
                       headers={k: v for k, v in headers.items() if k != "Prefer"})
        assert again.status_code == 201 and again.json()["id"] == post_id
        assert again.headers[REPLAYED] == "true"


def test_the_same_key_for_another_request_is_refused(stack: Stack) -> None:
    with stack.client() as c:
        u = register_and_login(c)
        headers = keyed(u)
        assert c.post("/api/posts", json={"content": "one"}, headers=headers).status_code == 201
        other = c.post("/api/posts", json={"content": "two"}, headers=headers)
        assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]
        post = c.post("/api/posts", json={"content": "one"}, headers=headers).json()["id"]
        elsewhere = c.post(f"/api/posts/{post}/comments", json={"content": "one"},
                           headers=headers)
        assert elsewhere.status_code == 422


def test_keys_belong_to_their_caller(stack: Stack) -> None:
    with stack.client() as c:
        a, b = register_and_login(c), register_and_login(c)
        key = str(uuid.uuid4())
        ra = c.post("/api/posts", json={"content": "same"}, headers=keyed(a, key))
        rb = c.post("/api/posts", json={"content": "same"}, headers=keyed(b, key))
        assert ra.status_code == rb.status_code == 201
        assert ra.json()["id"] != rb.json()["id"] and REPLAYED not in rb.headers


def test_a_retried_like_does_not_toggle_it_back(stack: Stack) -> None:
    with stack.client() as c:
        u = register_and_login(c)
        post = c.post("/api/posts", json={"content": "like me"}, headers=u["headers"]).json()
        first, again = twice(c, f"/api/posts/{post['id']}/likes", keyed(u))
        assert first.json() == again.json() == {"liked": True, "like_count": 1}
        assert c.get(f"/api/posts/{post['id']}").json()["like_count"] == 1


def test_a_retried_comment_is_one_comment(stack: Stack) -> None:
    with stack.client() as c:
        u = register_and_login(c)
        post = c.post("/api/posts", json={"content": "say"}, headers=u["headers"]).json()
        first, again = twice(c, f"/api/posts/{post['id']}/comments", keyed(u),
                             {"content": "once"})
        assert first.status_code == 201 and again.json()["id"] == first.json()["id"]
        assert c.get(f"/api/posts/{post['id']}").json()["comment_count"] == 1


def test_a_retried_follow_and_registration(stack: Stack) -> None:
    with stack.client() as c:
        a, b = register_and_login(c), register_and_login(c)
        first, again = twice(c, f"/api/follow/{b['id']}", keyed(a))
        assert first.status_code == 200 and again.json() == first.json()

        name = f"u{uuid.uuid4().hex[:10]}"
        body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
        first, again = twice(c, "/api/auth/register", keyed(None), body)
        assert first.status_code == 201, first.text
        assert again.json()["id"] == first.json()["id"]
        # without the key, the second registration is refused as usual
        assert c.post("/api/auth/register", json=body).status_code == 400


def test_a_retried_message_and_story(stack: Stack) -> None:
    with stack.client() as c:
        a, b = register_and_login(c), register_and_login(c)
        wait_until(lambda: scalar(stack.social_db, "SELECT count(*) FROM users WHERE id IN "
                                  f"({a['id']}, {b['id']})") == 2, 10, what="users projected")
        first, again = twice(c, "/api/messages", keyed(a),
                             {"receiver_id": b["id"], "content": "just once"})
        assert first.status_code == 201, first.text
        assert again.json()["id"] == first.json()["id"]
        assert len(c.get(f"/api/messages/{a['id']}", headers=b["headers"]).json()) == 1

        first, again = twice(c, "/api/stories", keyed(a), {"content": "a story"})
        assert first.status_code == 201, first.text
        assert again.json()["id"] == first.json()["id"]
        assert len(c.get("/api/stories", headers=a["headers"]).json()) == 1


@pytest.mark.parametrize("key", ["", "a" * 256, "with space", "caf\u00e9".encode()])
def test_a_malformed_key_is_refused(stack: Stack, key: str | bytes) -> None:
    with stack.client() as c:
        u = register_and_login(c)
        r = c.post("/api/posts", json={"content": "x"},
                   headers={**u["headers"], "Idempotency-Key": key})
        assert r.status_code == 422, r.text


@pytest.mark.parametrize("what", ["post", "comment"])
def test_concurrent_requests_with_one_key_make_one_resource(stack: Stack, what: str) -> None:
    with stack.client() as c:
        u = register_and_login(c)
        post = c.post("/api/posts", json={"content": "base"}, headers=u["headers"]).json()
    path, body = (("/api/posts", {"content": "raced"}) if what == "post"
                  else (f"/api/posts/{post['id']}/comments", {"content": "raced"}))
    headers = keyed(u)
    answers: list[httpx.Response] = []
    start = threading.Barrier(6)

    def send() -> None:
        with stack.client() as client:
            start.wait()
            answers.append(client.post(path, json=body, headers=headers))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.status_code for r in answers} == {201}, [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    table = "posts" if what == "post" else "comments"
    assert scalar(stack.core_db, f"SELECT count(*) FROM {table} WHERE content = 'raced' "
                                 f"AND author_id = {u['id']}") == 1
