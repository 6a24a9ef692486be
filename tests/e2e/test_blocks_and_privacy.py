"""Blocks, private accounts and follow requests through the gateway: every rule in
both directions of a block, and each privacy rule for a stranger, a pending
requester, an approved follower and the owner."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from testkit.http import register_and_login
from testkit.processes import wait_until
from testkit.sql import scalar
from testkit.stack import Stack

User = dict[str, Any]


@pytest.fixture
def client(stack: Stack):  # type: ignore[no-untyped-def]
    with stack.client() as c:
        yield c


def _known_to_social(c: httpx.Client, *users: User) -> None:
    """Social has projected these users (user.registered consumed)."""
    for u in users:
        wait_until(lambda u=u: any(x["id"] == u["id"] for x in c.get(
            "/api/search/users", params={"q": u["username"]}, headers=u["headers"]).json()),
                   10, what=f"user {u['username']} projected")


def _post(c: httpx.Client, u: User, content: str) -> int:
    r = c.post("/api/posts", json={"content": content}, headers=u["headers"])
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _tagged(c: httpx.Client, viewer: User, tag: str) -> set[int]:
    r = c.get(f"/api/search/posts/hashtag/{tag}", headers=viewer["headers"])
    assert r.status_code == 200, r.text
    return {p["id"] for p in r.json()}


def _notifications(c: httpx.Client, u: User, kind: str) -> list[dict[str, Any]]:
    return [n for n in c.get("/api/notifications", headers=u["headers"]).json()
            if n["type"] == kind]


def _block(c: httpx.Client, blocker: User, blocked: User) -> None:
    r = c.post(f"/api/users/{blocked['id']}/block", headers=blocker["headers"])
    assert r.status_code == 200 and r.json() == {"blocked": True}, r.text


# ------------------------------------------------------------------ blocks
def test_block_and_unblock_are_idempotent_and_listed(client: httpx.Client) -> None:
    a, b = register_and_login(client), register_and_login(client)
    assert client.post(f"/api/users/{a['id']}/block", headers=a["headers"]).status_code == 400
    assert client.post("/api/users/987654321/block", headers=a["headers"]).status_code == 404
    _block(client, a, b)
    _block(client, a, b)
    assert [u["id"] for u in client.get("/api/users/me/blocked",
                                        headers=a["headers"]).json()] == [b["id"]]
    assert client.get("/api/users/me/blocked", headers=b["headers"]).json() == []
    for _ in range(2):
        r = client.delete(f"/api/users/{b['id']}/block", headers=a["headers"])
        assert r.status_code == 200 and r.json() == {"blocked": False}
    assert client.get("/api/users/me/blocked", headers=a["headers"]).json() == []


def test_a_block_removes_follows_both_ways_and_pending_requests(client: httpx.Client,
                                                                 stack: Stack) -> None:
    a, b, c = (register_and_login(client) for _ in range(3))
    assert client.post(f"/api/follow/{b['id']}", headers=a["headers"]).json()["following"]
    assert client.post(f"/api/follow/{a['id']}", headers=b["headers"]).json()["following"]
    client.put("/api/users/me", json={"is_private": True}, headers=c["headers"])
    assert client.post(f"/api/follow/{c['id']}", headers=a["headers"]).status_code == 202
    _block(client, a, b)
    _block(client, c, a)
    for u in (a, b):
        profile = client.get(f"/api/users/{u['id']}", headers=c["headers"]).json()
        assert profile["follower_count"] == profile["following_count"] == 0
    assert client.get("/api/follow/requests", headers=c["headers"]).json() == []
    assert scalar(stack.core_db, "SELECT count(*) FROM follows WHERE "
                                 f"{a['id']} IN (follower_id, followee_id)") == 0


@pytest.mark.parametrize("direction", ["blocker acts", "blocked acts"])
def test_no_contact_either_way(client: httpx.Client, stack: Stack, direction: str) -> None:
    blocker, blocked = register_and_login(client), register_and_login(client)
    _known_to_social(client, blocker, blocked)
    posts = {blocker["id"]: _post(client, blocker, "mine"),
             blocked["id"]: _post(client, blocked, "mine too")}
    _block(client, blocker, blocked)
    me, other = (blocker, blocked) if direction == "blocker acts" else (blocked, blocker)

    r = client.post(f"/api/follow/{other['id']}", headers=me["headers"])
    assert r.status_code == 403 and r.json()["detail"] == "You cannot follow this user"

    r = client.post("/api/messages", json={"receiver_id": other["id"], "content": "hi"},
                    headers=me["headers"])
    assert r.status_code == 403, r.text
    assert r.json()["detail"] == "You cannot message this user"
    assert scalar(stack.social_db, "SELECT status FROM messages WHERE sender_id = "
                                   f"{me['id']} ORDER BY id DESC LIMIT 1") == "rejected"

    theirs = posts[other["id"]]
    if me is blocker:  # the blocker still sees the blocked one's posts, but cannot touch them
        assert client.post(f"/api/posts/{theirs}/likes", headers=me["headers"]).status_code \
            == 403
        assert client.post(f"/api/posts/{theirs}/comments", json={"content": "x"},
                           headers=me["headers"]).status_code == 403
    else:  # the blocked one does not even see them
        assert client.post(f"/api/posts/{theirs}/likes", headers=me["headers"]).status_code \
            == 404
        assert client.post(f"/api/posts/{theirs}/comments", json={"content": "x"},
                           headers=me["headers"]).status_code == 404


def test_the_blocked_user_no_longer_sees_the_blocker(client: httpx.Client) -> None:
    blocker, blocked, other = (register_and_login(client) for _ in range(3))
    tag = f"blk{uuid.uuid4().hex[:8]}"
    post_id = _post(client, blocker, f"#{tag}")
    assert client.post("/api/stories", json={"content": "today"},
                       headers=blocker["headers"]).status_code == 201
    assert client.post(f"/api/follow/{blocker['id']}",
                       headers=blocked["headers"]).status_code == 200
    _known_to_social(client, blocker, blocked)
    wait_until(lambda: _tagged(client, blocked, tag) == {post_id}, 10, what="post indexed")
    wait_until(lambda: client.get("/api/stories/feed", headers=blocked["headers"]).json(), 10,
               what="story in the feed")

    _block(client, blocker, blocked)
    h = blocked["headers"]
    assert client.get(f"/api/users/{blocker['id']}", headers=h).status_code == 404
    for part in ("posts", "followers", "following"):
        assert client.get(f"/api/users/{blocker['id']}/{part}", headers=h).status_code == 404
    assert client.get(f"/api/posts/{post_id}", headers=h).status_code == 404
    assert client.get(f"/api/posts/{post_id}/comments", headers=h).status_code == 404
    assert post_id not in {p["id"] for p in client.get("/api/feed", headers=h).json()}
    wait_until(lambda: _tagged(client, blocked, tag) == set(), 10,
               what="left out of hashtag search")
    wait_until(lambda: client.get("/api/stories/feed", headers=h).json() == [], 10,
               what="left out of the stories feed")
    assert not [u for u in client.get("/api/search/users", params={"q": blocker["username"]},
                                      headers=h).json() if u["id"] == blocker["id"]]
    # everyone else, and the blocker, still see it all
    assert client.get(f"/api/users/{blocker['id']}", headers=other["headers"]).status_code \
        == 200
    assert _tagged(client, other, tag) == {post_id}
    assert client.get(f"/api/users/{blocked['id']}", headers=blocker["headers"]).status_code \
        == 200

    assert client.delete(f"/api/users/{blocked['id']}/block",
                         headers=blocker["headers"]).status_code == 200
    assert client.get(f"/api/users/{blocker['id']}", headers=h).status_code == 200
    wait_until(lambda: _tagged(client, blocked, tag) == {post_id}, 10, what="visible again")


def test_a_mention_across_a_block_notifies_nobody(client: httpx.Client, stack: Stack) -> None:
    a, b, c = (register_and_login(client) for _ in range(3))
    _known_to_social(client, a, b, c)
    _block(client, b, a)
    wait_until(lambda: scalar(stack.social_db, "SELECT count(*) FROM blocks WHERE active AND "
                                               f"blocker_id = {b['id']}") == 1, 10,
               what="block projected")
    post_id = _post(client, a, f"hello @{b['username']} and @{c['username']}")
    wait_until(lambda: _notifications(client, c, "mention"), 10, what="c mentioned")
    r = client.post(f"/api/posts/{post_id}/comments",
                    json={"content": f"again @{b['username']} @{c['username']}"},
                    headers=a["headers"])
    assert r.status_code == 201
    wait_until(lambda: len(_notifications(client, c, "mention")) == 2, 10,
               what="c mentioned twice")
    assert _notifications(client, b, "mention") == []


# ------------------------------------------------------- private accounts
def _private_owner(c: httpx.Client) -> User:
    owner = register_and_login(c)
    r = c.put("/api/users/me", json={"is_private": True}, headers=owner["headers"])
    assert r.status_code == 200 and r.json()["is_private"] is True
    return owner


def test_follow_requests_approve_decline_and_withdraw(client: httpx.Client) -> None:
    owner = _private_owner(client)
    asker, decliner, withdrawer = (register_and_login(client) for _ in range(3))
    _known_to_social(client, owner, asker)
    for u in (asker, decliner, withdrawer):
        r = client.post(f"/api/follow/{owner['id']}", headers=u["headers"])
        assert r.status_code == 202
        assert r.json() == {"following": False, "requested": True}
    assert client.post(f"/api/follow/{owner['id']}",
                       headers=asker["headers"]).status_code == 202  # idempotent
    wait_until(lambda: len(_notifications(client, owner, "follow_request")) == 3, 10,
               what="follow_request notifications")
    assert [u["id"] for u in client.get("/api/follow/requests", headers=owner["headers"]).json()
            ] == [asker["id"], decliner["id"], withdrawer["id"]]  # oldest first

    assert client.delete(f"/api/follow/{owner['id']}",
                         headers=withdrawer["headers"]).json() == {"following": False,
                                                                   "requested": False}
    r = client.post(f"/api/follow/requests/{decliner['id']}/decline", headers=owner["headers"])
    assert r.status_code == 200 and r.json()["following"] is False
    r = client.post(f"/api/follow/requests/{asker['id']}/approve", headers=owner["headers"])
    assert r.status_code == 200 and r.json()["following"] is True
    for gone in (asker, decliner, withdrawer):
        assert client.post(f"/api/follow/requests/{gone['id']}/approve",
                           headers=owner["headers"]).status_code == 404
    assert client.get("/api/follow/requests", headers=owner["headers"]).json() == []
    profile = client.get(f"/api/users/{owner['id']}", headers=asker["headers"]).json()
    assert profile["follower_count"] == 1 and profile["is_private"] is True
    wait_until(lambda: _notifications(client, asker, "follow_accepted"), 10,
               what="follow_accepted notification")


def test_a_private_account_for_each_kind_of_viewer(client: httpx.Client) -> None:
    owner = _private_owner(client)
    stranger, pending, follower = (register_and_login(client) for _ in range(3))
    tag = f"prv{uuid.uuid4().hex[:8]}"
    post_id = _post(client, owner, f"#{tag}")
    assert client.post("/api/stories", json={"content": "private day"},
                       headers=owner["headers"]).status_code == 201
    client.post(f"/api/follow/{owner['id']}", headers=pending["headers"])
    client.post(f"/api/follow/{owner['id']}", headers=follower["headers"])
    client.post(f"/api/follow/requests/{follower['id']}/approve", headers=owner["headers"])
    _known_to_social(client, owner, stranger, pending, follower)

    for viewer in (owner, follower):
        h = viewer["headers"]
        for part in ("posts", "followers", "following"):
            assert client.get(f"/api/users/{owner['id']}/{part}", headers=h).status_code == 200
        assert client.get(f"/api/posts/{post_id}", headers=h).status_code == 200
        wait_until(lambda h=h: _tagged(client, {"headers": h}, tag) == {post_id}, 10,
                   what="found by hashtag")
        wait_until(lambda h=h: client.get("/api/stories/feed", headers=h).json(), 10,
                   what="story in the feed")
    assert client.post(f"/api/posts/{post_id}/likes",
                       headers=follower["headers"]).status_code == 200

    for viewer in (stranger, pending):
        h = viewer["headers"]
        profile = client.get(f"/api/users/{owner['id']}", headers=h)
        assert profile.status_code == 200 and profile.json()["is_private"] is True
        for part in ("posts", "followers", "following"):
            r = client.get(f"/api/users/{owner['id']}/{part}", headers=h)
            assert r.status_code == 403 and r.json()["detail"] == "This account is private"
        assert client.get(f"/api/posts/{post_id}", headers=h).status_code == 404
        assert client.post(f"/api/posts/{post_id}/likes", headers=h).status_code == 404
        assert client.post(f"/api/posts/{post_id}/comments", json={"content": "x"},
                           headers=h).status_code == 404
        assert _tagged(client, viewer, tag) == set()
        assert client.get("/api/stories/feed", headers=h).json() == []


def test_going_public_approves_every_pending_request(client: httpx.Client) -> None:
    owner = _private_owner(client)
    askers = [register_and_login(client) for _ in range(3)]
    for u in askers:
        assert client.post(f"/api/follow/{owner['id']}", headers=u["headers"]).status_code \
            == 202
    r = client.put("/api/users/me", json={"is_private": False}, headers=owner["headers"])
    assert r.status_code == 200 and r.json()["is_private"] is False
    assert client.get("/api/follow/requests", headers=owner["headers"]).json() == []
    assert {u["id"] for u in client.get(f"/api/users/{owner['id']}/followers",
                                        headers=owner["headers"]).json()} == {
        u["id"] for u in askers}
    for u in askers:
        wait_until(lambda u=u: _notifications(client, u, "follow_accepted"), 10,
                   what="follow_accepted")
