"""create_post end to end: both services and the gateway as processes."""

from __future__ import annotations

import uuid

import httpx

from testkit.http import hashtag_counts, register_and_login, wait_for_post_status
from testkit.processes import wait_until
from testkit.stack import Stack


def _tag() -> str:
    return f"tag{uuid.uuid4().hex[:8]}"


def test_post_with_hashtags_is_published_and_searchable(stack: Stack) -> None:
    with stack.client() as c:
        alice = register_and_login(c)
        tag = _tag()
        r = c.post("/api/posts", json={"content": f"sunset #{tag} #{tag}X"},
                   headers=alice["headers"])
        assert r.status_code == 201, r.text
        post = r.json()
        assert post["status"] == "published"
        assert post["hashtags"] == [tag, f"{tag}x"]
        assert post["author_username"] == alice["username"]
        assert r.headers["location"] == f"/api/posts/{post['id']}"
        wait_until(lambda: hashtag_counts(c, alice["headers"], tag) == {tag: 1, f"{tag}x": 1},
                   10, what="hashtags searchable")
        # anyone can read a published post
        assert c.get(f"/api/posts/{post['id']}").json()["status"] == "published"


def test_31_hashtags_are_rejected_and_nothing_is_indexed(stack: Stack) -> None:
    with stack.client() as c:
        alice = register_and_login(c)
        prefix = _tag()
        content = " ".join(f"#{prefix}n{i}" for i in range(31))
        r = c.post("/api/posts", json={"content": content}, headers=alice["headers"])
        assert r.status_code == 422, r.text
        assert "Too many hashtags" in r.json()["detail"]
        assert hashtag_counts(c, alice["headers"], prefix) == {}
        # the author can see the rejected post and why; nobody else can
        sagas = httpx.get(f"{stack.core.url}/ops/sagas", params={"type": "create_post"}).json()
        post_id = next(s["data"]["post_id"] for s in sagas if s["status"] == "compensated")
        own = c.get(f"/api/posts/{post_id}", headers=alice["headers"]).json()
        assert own["status"] == "rejected" and "Too many hashtags" in own["rejection_reason"]
        assert c.get(f"/api/posts/{post_id}").status_code == 404


def test_banned_and_overlong_hashtags_are_rejected(stack: Stack) -> None:
    with stack.client() as c:
        alice = register_and_login(c)
        tag = _tag()
        r = c.post("/api/posts", json={"content": f"#{tag} #Spam"}, headers=alice["headers"])
        assert r.status_code == 422 and r.json()["detail"] == "Hashtag not allowed: #spam"
        r = c.post("/api/posts", json={"content": f"#{tag} #{'x' * 101}"},
                   headers=alice["headers"])
        assert r.status_code == 422 and "longer than 100" in r.json()["detail"]
        r = c.post("/api/posts", json={"content": " ".join(f"#{tag}{i}" for i in range(30))},
                   headers=alice["headers"])
        assert r.status_code == 201, r.text
        wait_until(lambda: len(hashtag_counts(c, alice["headers"], tag)) == 30, 10)
        assert tag not in hashtag_counts(c, alice["headers"], tag)


def test_respond_async_answers_202_then_the_post_is_published(stack: Stack) -> None:
    with stack.client() as c:
        alice = register_and_login(c)
        tag = _tag()
        r = c.post("/api/posts", json={"content": f"later #{tag}"},
                   headers={**alice["headers"], "Prefer": "respond-async"})
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "pending"
        location = r.headers["location"]
        assert location == f"/api/posts/{r.json()['id']}"
        post = wait_for_post_status(c, alice["headers"], r.json()["id"], {"published"})
        assert post["hashtags"] == [tag]
        wait_until(lambda: hashtag_counts(c, alice["headers"], tag) == {tag: 1}, 10)


def test_invalid_posts_get_clear_4xx(stack: Stack) -> None:
    with stack.client() as c:
        alice = register_and_login(c)
        h = alice["headers"]
        assert c.post("/api/posts", json={}, headers=h).status_code == 422
        assert c.post("/api/posts", json={"content": "  "}, headers=h).status_code == 422
        assert c.post("/api/posts", json={"content": "x" * 2201}, headers=h).status_code == 422
        assert c.post("/api/posts", content=b"{not json", headers={
            **h, "content-type": "application/json"}).status_code == 422
        assert c.post("/api/posts", json={"content": "hi"}).status_code == 401
        assert c.get(f"/api/posts/{2**63}").status_code == 422
        assert c.get("/api/posts/999999999").status_code == 404
        assert c.get("/ops/sagas").status_code == 404  # not exposed by the gateway
