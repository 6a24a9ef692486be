"""social-service's HTTP API through the gateway: every endpoint, its 4xx and
its authorization rules."""

from __future__ import annotations

import uuid

import httpx
import pytest

from testkit.http import register_and_login
from testkit.processes import wait_until
from testkit.sql import scalar
from testkit.stack import Stack


@pytest.fixture
def client(stack: Stack):  # type: ignore[no-untyped-def]
    with stack.client() as c:
        yield c


def _known_to_social(c: httpx.Client, viewer: dict, *users: dict) -> None:  # type: ignore[type-arg]
    """Wait until social's users projection has these users (user.registered consumed)."""
    for u in users:
        wait_until(lambda u=u: any(
            x["id"] == u["id"] for x in c.get("/api/search/users", params={"q": u["username"]},
                                              headers=viewer["headers"]).json()), 10,
                   what=f"user {u['username']} projected")


# --------------------------------------------------------------- messages
def test_messages_conversations_and_read(client: httpx.Client) -> None:
    a, b, c3 = (register_and_login(client) for _ in range(3))
    r = client.post("/api/messages", json={"receiver_id": b["id"], "content": "hi b"},
                    headers=a["headers"])
    assert r.status_code == 201, r.text
    m1 = r.json()
    assert set(m1) == {"id", "sender_id", "receiver_id", "content", "is_read", "status",
                       "created_at"}
    assert m1["status"] == "sent" and m1["sender_id"] == a["id"]
    client.post("/api/messages", json={"receiver_id": a["id"], "content": "hi a"},
                headers=b["headers"])
    client.post("/api/messages", json={"receiver_id": a["id"], "content": "again"},
                headers=b["headers"])
    client.post("/api/messages", json={"receiver_id": a["id"], "content": "from c"},
                headers=c3["headers"])

    convs = client.get("/api/messages", headers=a["headers"]).json()
    assert [cv["other_user_id"] for cv in convs] == [c3["id"], b["id"]]  # newest first
    by_other = {cv["other_user_id"]: cv for cv in convs}
    assert by_other[b["id"]]["unread_count"] == 2
    assert by_other[b["id"]]["last_message"]["content"] == "again"

    thread = client.get(f"/api/messages/{b['id']}", headers=a["headers"]).json()
    assert [m["content"] for m in thread] == ["hi b", "hi a", "again"]
    # only the two participants ever see a message
    assert client.get(f"/api/messages/{b['id']}", headers=c3["headers"]).json() == []
    assert client.get(f"/api/messages/{a['id']}", headers=c3["headers"]).json()[0][
        "content"] == "from c"

    assert client.post(f"/api/messages/{b['id']}/read", headers=a["headers"]).json() == {
        "marked": 2}
    assert client.post(f"/api/messages/{b['id']}/read", headers=a["headers"]).json() == {
        "marked": 0}
    # marking messages *to someone else* does nothing
    assert client.post(f"/api/messages/{a['id']}/read", headers=c3["headers"]).json() == {
        "marked": 0}
    convs = client.get("/api/messages", headers=a["headers"]).json()
    assert {cv["other_user_id"]: cv["unread_count"] for cv in convs} == {b["id"]: 0,
                                                                         c3["id"]: 1}


def test_message_errors(stack: Stack, client: httpx.Client) -> None:
    a, b = register_and_login(client), register_and_login(client)
    h = a["headers"]
    assert client.post("/api/messages", json={"receiver_id": a["id"], "content": "me"},
                       headers=h).json() == {"detail": "You cannot send a message to yourself"}
    r = client.post("/api/messages", json={"receiver_id": 999999999, "content": "x"}, headers=h)
    assert r.status_code == 404 and r.json()["detail"] == "Receiver not found"
    scalar(stack.core_db, f"UPDATE users SET is_active = false WHERE id = {b['id']}")
    r = client.post("/api/messages", json={"receiver_id": b["id"], "content": "x"}, headers=h)
    assert r.status_code == 404
    for body in ({"receiver_id": b["id"], "content": ""},
                 {"receiver_id": b["id"], "content": "x" * 1001},
                 {"receiver_id": b["id"]}, {"receiver_id": 0, "content": "x"},
                 {"receiver_id": 2**63, "content": "x"}, {"receiver_id": "x", "content": "x"}):
        assert client.post("/api/messages", json=body, headers=h).status_code == 422, body
    assert client.post("/api/messages", json={"receiver_id": 1, "content": "x"}).status_code \
        == 401
    assert client.get("/api/messages", params={"limit": 101}, headers=h).status_code == 422
    # rejected messages never show up
    assert client.get("/api/messages", headers=h).json() == []


# ---------------------------------------------------------------- stories
def test_stories_mine_feed_delete_and_profile_flag(client: httpx.Client) -> None:
    a, b, c3 = (register_and_login(client) for _ in range(3))
    r = client.post("/api/stories", json={"content": "my day"}, headers=a["headers"])
    assert r.status_code == 201, r.text
    story = r.json()
    assert set(story) == {"id", "author_id", "author_username", "image_url", "content",
                          "status", "created_at", "expires_at"}
    assert story["status"] == "active" and story["author_username"] == a["username"]
    assert client.get(f"/api/users/{a['id']}").json()["has_active_story"] is True
    assert [s["id"] for s in client.get("/api/stories", headers=a["headers"]).json()] == [
        story["id"]]
    client.post(f"/api/follow/{a['id']}", headers=b["headers"])
    wait_until(lambda: [s["id"] for s in client.get("/api/stories/feed",
                                                    headers=b["headers"]).json()]
               == [story["id"]], 10, what="story in follower's feed")
    assert client.get("/api/stories/feed", headers=c3["headers"]).json() == []
    assert client.get("/api/stories", headers=b["headers"]).json() == []

    assert client.delete(f"/api/stories/{story['id']}", headers=b["headers"]).status_code \
        == 403
    assert client.delete("/api/stories/999999999", headers=a["headers"]).status_code == 404
    assert client.delete(f"/api/stories/{story['id']}", headers=a["headers"]).status_code \
        == 204
    assert client.get("/api/stories", headers=a["headers"]).json() == []
    wait_until(lambda: client.get(f"/api/users/{a['id']}").json()["has_active_story"]
               is False, 10, what="has_active_story cleared")


def test_expired_stories_disappear(stack: Stack, client: httpx.Client) -> None:
    a = register_and_login(client)
    story = client.post("/api/stories", json={"image_url": "http://img/1"},
                        headers=a["headers"]).json()
    scalar(stack.social_db, "UPDATE stories SET expires_at = now() - interval '1 second'"
                            f" WHERE id = {story['id']}")
    scalar(stack.core_db, "UPDATE story_records SET expires_at = now() - interval '1 second'"
                          f" WHERE story_id = {story['id']}")
    assert client.get("/api/stories", headers=a["headers"]).json() == []
    assert client.get("/api/stories/feed", headers=a["headers"]).json() == []
    assert client.get(f"/api/users/{a['id']}").json()["has_active_story"] is False


def test_story_errors(client: httpx.Client) -> None:
    a = register_and_login(client)
    assert client.post("/api/stories", json={}, headers=a["headers"]).status_code == 422
    assert client.post("/api/stories", json={"content": " "},
                       headers=a["headers"]).status_code == 422
    assert client.post("/api/stories", json={"content": "x"}).status_code == 401
    assert client.delete("/api/stories/0", headers=a["headers"]).status_code == 422


# ---------------------------------------------------------- notifications
def test_notifications_from_events(client: httpx.Client) -> None:
    a, b, c3 = (register_and_login(client) for _ in range(3))
    _known_to_social(client, a, a, b, c3)
    post = client.post("/api/posts", json={"content": f"hello @{c3['username']}"},
                       headers=a["headers"]).json()
    client.post(f"/api/posts/{post['id']}/likes", headers=b["headers"])
    client.post(f"/api/posts/{post['id']}/likes", headers=a["headers"])  # self-like: nothing
    client.post(f"/api/posts/{post['id']}/comments",
                json={"content": f"nice @{c3['username']} @nobody_here"}, headers=b["headers"])
    client.post(f"/api/follow/{a['id']}", headers=b["headers"])
    client.post("/api/messages", json={"receiver_id": a["id"], "content": "psst"},
                headers=b["headers"])

    def types(user: dict) -> list[str]:  # type: ignore[type-arg]
        return sorted(n["type"] for n in client.get("/api/notifications",
                                                    headers=user["headers"]).json())

    wait_until(lambda: types(a) == ["comment", "follow", "like", "message"], 10,
               what="a's notifications")
    wait_until(lambda: types(c3) == ["mention", "mention"], 10, what="c's mentions")
    assert types(b) == []
    notes = client.get("/api/notifications", headers=a["headers"]).json()
    assert set(notes[0]) == {"id", "user_id", "actor_id", "type", "reference_id", "message",
                             "is_read", "created_at"}
    assert all(n["user_id"] == a["id"] and n["actor_id"] == b["id"] for n in notes)
    like = next(n for n in notes if n["type"] == "like")
    assert like["reference_id"] == post["id"]

    # unlike removes the like notification
    client.post(f"/api/posts/{post['id']}/likes", headers=b["headers"])
    wait_until(lambda: types(a) == ["comment", "follow", "message"], 10, what="like removed")

    first = notes[0]["id"]
    assert client.post(f"/api/notifications/{first}/read", headers=b["headers"]).status_code \
        == 404  # not mine
    assert client.post("/api/notifications/999999999/read",
                       headers=a["headers"]).status_code == 404
    r = client.post(f"/api/notifications/{first}/read", headers=a["headers"])
    assert r.status_code == 200 and r.json()["is_read"] is True
    assert client.post("/api/notifications/read-all", headers=a["headers"]).json() == {
        "marked": 2}
    assert client.post("/api/notifications/read-all", headers=a["headers"]).json() == {
        "marked": 0}
    assert client.get("/api/notifications").status_code == 401


# ----------------------------------------------------------------- search
def test_search_users_is_literal_and_private(client: httpx.Client) -> None:
    tag = uuid.uuid4().hex[:6]
    a = register_and_login(client, f"x_{tag}_ann")
    b = register_and_login(client, f"x{tag}bob")
    client.put("/api/users/me", json={"full_name": f"Bobby {tag.upper()} 100%"},
               headers=b["headers"])
    _known_to_social(client, a, a, b)

    def found(q: str) -> list[int]:
        r = client.get("/api/search/users", params={"q": q}, headers=a["headers"])
        assert r.status_code == 200, r.text
        return [u["id"] for u in r.json()]

    assert found(f"x_{tag}") == [a["id"]]  # '_' is a literal underscore, not a wildcard
    assert sorted(found(tag.upper())) == sorted([a["id"], b["id"]])  # case-insensitive
    wait_until(lambda: found("100%") == [b["id"]], 10, what="full name projected")
    # '%' matches only a literal '%' (b's full name has one, a has none)
    assert a["id"] not in found("%") and b["id"] in found("%")
    assert all(a["id"] not in found(q) for q in ("'", "\\", "' OR 1=1 --", "é😀"))
    r = client.get("/api/search/users", params={"q": a["username"]}, headers=a["headers"])
    assert set(r.json()[0]) == {"id", "username", "full_name", "profile_image_url"}
    for bad in ({"q": ""}, {"q": "x" * 101}, {}, {"q": "a", "limit": 0}):
        assert client.get("/api/search/users", params=bad,
                          headers=a["headers"]).status_code == 422
    assert client.get("/api/search/users", params={"q": "a"}).status_code == 401


def test_search_posts_by_hashtag(client: httpx.Client) -> None:
    a = register_and_login(client)
    tag = f"t{uuid.uuid4().hex[:8]}"
    p1 = client.post("/api/posts", json={"content": f"one #{tag}"}, headers=a["headers"]).json()
    p2 = client.post("/api/posts", json={"content": f"two #{tag.upper()}"},
                     headers=a["headers"]).json()

    def posts(t: str) -> list[dict]:  # type: ignore[type-arg]
        r = client.get(f"/api/search/posts/hashtag/{t}", headers=a["headers"])
        assert r.status_code == 200, r.text
        return r.json()

    wait_until(lambda: [p["id"] for p in posts(tag)] == [p2["id"], p1["id"]], 10)
    assert posts(f"%23{tag.upper()}")[0]["author_username"] == a["username"]
    assert posts(tag)[0]["hashtags"] == [tag]
    client.delete(f"/api/posts/{p1['id']}", headers=a["headers"])
    assert [p["id"] for p in posts(tag)] == [p2["id"]]
    assert posts("%25") == [] and posts("_") == []
    assert client.get(f"/api/search/posts/hashtag/{tag}").status_code == 401
