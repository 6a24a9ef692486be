"""core-service's HTTP API through the gateway: every endpoint, its 4xx and
its authorization rules."""

from __future__ import annotations

import base64
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from testkit.http import register_and_login
from testkit.sql import scalar
from testkit.stack import Stack


@pytest.fixture
def client(stack: Stack):  # type: ignore[no-untyped-def]
    with stack.client() as c:
        yield c


def _post(c: httpx.Client, user: dict, content: str = "hello") -> dict:  # type: ignore[type-arg]
    r = c.post("/api/posts", json={"content": content}, headers=user["headers"])
    assert r.status_code == 201, r.text
    return r.json()


# ------------------------------------------------------------------ auth
def test_register_validation_and_duplicates(client: httpx.Client) -> None:
    name = f"u{uuid.uuid4().hex[:8]}"
    ok = {"username": name, "email": f"{name}@example.com", "password": "12345678"}
    r = client.post("/api/auth/register", json=ok)
    assert r.status_code == 201
    assert set(r.json()) == {"id", "username", "email", "full_name", "bio",
                             "profile_image_url", "is_active", "is_private", "created_at"}
    assert client.post("/api/auth/register", json={**ok, "username": name + "x"}).json() == {
        "detail": "Email already registered"}
    r = client.post("/api/auth/register", json={**ok, "email": f"x{name}@example.com",
                                                "username": name.upper()})
    assert r.status_code == 400 and r.json() == {"detail": "Username already taken"}
    bad = [{**ok, "username": "ab"}, {**ok, "username": "a" * 31},
           {**ok, "username": "bad name"}, {**ok, "username": "x'; drop table users;--"},
           {**ok, "email": "not-an-email"}, {**ok, "password": "1234567"},
           {**ok, "password": "é" * 37}, {"username": name}, {**ok, "username": 5}]
    for body in bad:
        assert client.post("/api/auth/register", json=body).status_code == 422, body
    assert client.post("/api/auth/register", content=b"{",
                       headers={"content-type": "application/json"}).status_code == 422


def test_login_token_and_me(client: httpx.Client) -> None:
    u = register_and_login(client)
    assert client.post("/api/auth/login", json={"email": f"{u['username']}@example.com",
                                                "password": "wrong pass"}).status_code == 401
    assert client.post("/api/auth/login", json={"email": "nobody@example.com",
                                                "password": "x"}).status_code == 401
    r = client.post("/api/auth/token", data={"username": u["username"],
                                             "password": "correct horse"})
    assert r.status_code == 200 and r.json()["token_type"] == "bearer"
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert me.status_code == 200 and me.json()["email"] == f"{u['username']}@example.com"
    assert client.get("/api/auth/me").status_code == 401


def _b64(d: dict) -> str:  # type: ignore[type-arg]
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


def test_forged_expired_and_unsigned_tokens_are_refused(client: httpx.Client) -> None:
    u = register_and_login(client)
    now = int(time.time())
    claims = {"sub": str(u["id"]), "iat": now, "exp": now + 600, "jti": "x"}
    header, _body, sig = u["headers"]["Authorization"].split()[1].split(".")
    tokens = [
        f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims)}.{sig}",
        f"{header}.{_b64({**claims, 'sub': '1'})}.{sig}",  # tampered payload
        f"{header}.{_b64({**claims, 'exp': now - 10})}.{sig}",
        "garbage",
    ]
    for t in tokens:
        h = {"Authorization": f"Bearer {t}"}
        assert client.get("/api/auth/me", headers=h).status_code == 401
        assert client.get("/api/search/hashtags", params={"q": "a"},
                          headers=h).status_code == 401


def test_deactivated_users_tokens_are_refused_by_both_services(stack: Stack,
                                                               client: httpx.Client) -> None:
    u = register_and_login(client)
    assert client.get("/api/auth/me", headers=u["headers"]).status_code == 200
    assert client.get("/api/feed", headers=u["headers"]).status_code == 200
    scalar(stack.core_db, f"UPDATE users SET is_active = false WHERE id = {u['id']}")
    assert client.get("/api/auth/me", headers=u["headers"]).status_code == 401
    assert client.get("/api/feed", headers=u["headers"]).status_code == 401
    assert client.post("/api/auth/login", json={"email": f"{u['username']}@example.com",
                                                "password": "correct horse"}).status_code == 401
    assert client.get(f"/api/users/{u['id']}").status_code == 404


# ----------------------------------------------------------------- users
def test_profile_update_and_privacy(client: httpx.Client) -> None:
    a, b = register_and_login(client), register_and_login(client)
    r = client.put("/api/users/me", json={"full_name": "Alice A", "bio": "hi"},
                   headers=a["headers"])
    assert r.status_code == 200 and r.json()["full_name"] == "Alice A"
    assert r.json()["email"]
    assert client.put("/api/users/me", json={"bio": "x" * 501},
                      headers=a["headers"]).status_code == 422
    assert client.put("/api/users/me", json={"bio": "x"}).status_code == 401
    profile = client.get(f"/api/users/{a['id']}").json()
    assert profile["full_name"] == "Alice A" and profile["bio"] == "hi"
    assert "email" not in profile
    assert set(profile) == {"id", "username", "full_name", "bio", "profile_image_url",
                            "post_count", "follower_count", "following_count",
                            "has_active_story", "is_private"}
    client.post(f"/api/follow/{a['id']}", headers=b["headers"])
    followers = client.get(f"/api/users/{a['id']}/followers", headers=b["headers"]).json()
    assert followers == [{"id": b["id"], "username": b["username"], "full_name": None,
                          "profile_image_url": None}]
    for path in ("", "/posts", "/followers", "/following"):
        assert client.get(f"/api/users/999999999{path}", headers=a["headers"]).status_code \
            == 404
        assert client.get(f"/api/users/0{path}", headers=a["headers"]).status_code == 422
        assert client.get(f"/api/users/abc{path}", headers=a["headers"]).status_code == 422


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"offset": -1},
                                    {"limit": "x"}, {"offset": 2**40}])
def test_pagination_out_of_range_is_422(client: httpx.Client, params: dict) -> None:  # type: ignore[type-arg]
    u = register_and_login(client)
    for path in ("/api/feed", f"/api/users/{u['id']}/posts", f"/api/users/{u['id']}/followers",
                 f"/api/users/{u['id']}/following"):
        assert client.get(path, params=params, headers=u["headers"]).status_code == 422


# ----------------------------------------------------------------- posts
def test_user_posts_newest_first_and_post_count(client: httpx.Client) -> None:
    u = register_and_login(client)
    ids = [_post(client, u, f"post {i}")["id"] for i in range(3)]
    posts = client.get(f"/api/users/{u['id']}/posts", headers=u["headers"]).json()
    assert [p["id"] for p in posts] == ids[::-1]
    assert client.get(f"/api/users/{u['id']}/posts", params={"limit": 1, "offset": 1},
                      headers=u["headers"]).json()[0]["id"] == ids[1]
    assert client.get(f"/api/users/{u['id']}").json()["post_count"] == 3


def test_delete_post_rules(client: httpx.Client) -> None:
    a, b = register_and_login(client), register_and_login(client)
    post = _post(client, a, "to delete #bye")
    assert client.delete(f"/api/posts/{post['id']}", headers=b["headers"]).status_code == 403
    assert client.delete(f"/api/posts/{post['id']}").status_code == 401
    assert client.delete("/api/posts/999999999", headers=a["headers"]).status_code == 404
    assert client.delete(f"/api/posts/{post['id']}", headers=a["headers"]).status_code == 204
    assert client.get(f"/api/posts/{post['id']}").status_code == 404
    assert client.delete(f"/api/posts/{post['id']}", headers=a["headers"]).status_code == 404
    assert client.get(f"/api/users/{a['id']}").json()["post_count"] == 0


# ------------------------------------------------------- likes, comments
def test_likes_toggle(client: httpx.Client) -> None:
    a, b = register_and_login(client), register_and_login(client)
    post = _post(client, a)
    url = f"/api/posts/{post['id']}/likes"
    assert client.post(url, headers=b["headers"]).json() == {"liked": True, "like_count": 1}
    assert client.post(url, headers=a["headers"]).json() == {"liked": True, "like_count": 2}
    assert client.post(url, headers=b["headers"]).json() == {"liked": False, "like_count": 1}
    assert client.post(url).status_code == 401
    assert client.post("/api/posts/999999999/likes", headers=b["headers"]).status_code == 404
    assert client.get(f"/api/posts/{post['id']}").json()["like_count"] == 1


def test_fifty_concurrent_likes_keep_the_count_exact(stack: Stack,
                                                     client: httpx.Client) -> None:
    author = register_and_login(client)
    post = _post(client, author)
    users = [register_and_login(client) for _ in range(50)]

    def like(u: dict) -> int:  # type: ignore[type-arg]
        with stack.client() as c:
            return c.post(f"/api/posts/{post['id']}/likes", headers=u["headers"]).status_code

    with ThreadPoolExecutor(25) as pool:
        assert list(pool.map(like, users)) == [200] * 50
    count = client.get(f"/api/posts/{post['id']}").json()["like_count"]
    rows = scalar(stack.core_db, f"SELECT count(*) FROM likes WHERE post_id = {post['id']}")
    assert count == rows == 50


def test_comments(client: httpx.Client) -> None:
    a, b, c3 = (register_and_login(client) for _ in range(3))
    post = _post(client, a)
    url = f"/api/posts/{post['id']}/comments"
    first = client.post(url, json={"content": "first"}, headers=b["headers"])
    assert first.status_code == 201
    assert set(first.json()) == {"id", "post_id", "author_id", "author_username", "content",
                                 "created_at"}
    second = client.post(url, json={"content": "second"}, headers=c3["headers"]).json()
    listed = client.get(url, headers=a["headers"]).json()
    assert [x["content"] for x in listed] == ["first", "second"]  # oldest first
    for body in ({"content": ""}, {"content": "   "}, {"content": "x" * 2201}, {}):
        assert client.post(url, json=body, headers=b["headers"]).status_code == 422
    assert client.post(url, json={"content": "x"}).status_code == 401
    assert client.get("/api/posts/999999999/comments", headers=a["headers"]).status_code == 404
    cid = first.json()["id"]
    # neither the comment's author nor the post's author: 403
    assert client.delete(f"/api/posts/comments/{cid}", headers=c3["headers"]).status_code \
        == 403
    assert client.delete(f"/api/posts/comments/{cid}", headers=b["headers"]).status_code \
        == 204
    # the post's author may delete anyone's comment on it
    assert client.delete(f"/api/posts/comments/{second['id']}",
                         headers=a["headers"]).status_code == 204
    assert client.delete(f"/api/posts/comments/{cid}", headers=b["headers"]).status_code \
        == 404
    assert client.get(f"/api/posts/{post['id']}").json()["comment_count"] == 0


# ------------------------------------------------------- follows, feed
def test_follow_rules_counts_and_feed(client: httpx.Client) -> None:
    a, b, c3 = (register_and_login(client) for _ in range(3))
    assert client.post(f"/api/follow/{a['id']}", headers=a["headers"]).json() == {
        "detail": "You cannot follow yourself"}
    assert client.post("/api/follow/999999999", headers=a["headers"]).status_code == 404
    assert client.post(f"/api/follow/{b['id']}").status_code == 401
    for _ in range(2):  # idempotent
        r = client.post(f"/api/follow/{b['id']}", headers=a["headers"])
        assert r.status_code == 200 and r.json() == {"following": True, "requested": False}
    assert client.get(f"/api/users/{b['id']}").json()["follower_count"] == 1
    assert client.get(f"/api/users/{a['id']}").json()["following_count"] == 1
    following = client.get(f"/api/users/{a['id']}/following", headers=a["headers"]).json()
    assert [u["id"] for u in following] == [b["id"]]

    mine = _post(client, a, "mine")
    theirs = _post(client, b, "theirs")
    _post(client, c3, "not followed")
    feed = client.get("/api/feed", headers=a["headers"]).json()
    assert [p["id"] for p in feed] == [theirs["id"], mine["id"]]

    for _ in range(2):
        r = client.delete(f"/api/follow/{b['id']}", headers=a["headers"])
        assert r.status_code == 200 and r.json() == {"following": False, "requested": False}
    assert client.get(f"/api/users/{b['id']}").json()["follower_count"] == 0
    assert [p["id"] for p in client.get("/api/feed", headers=a["headers"]).json()] == [
        mine["id"]]


def test_huge_bodies_are_refused(client: httpx.Client) -> None:
    u = register_and_login(client)
    r = client.post("/api/posts", content=b'{"content": "' + b"x" * 2_000_000 + b'"}',
                    headers={**u["headers"], "content-type": "application/json"})
    assert r.status_code == 413
