"""Sessions and account safety through the gateway: rotating refresh tokens, logout,
password change on both services, re-authentication to delete the account; the
gateway's throttling and headers; operator endpoints behind their token; saga data
without message content."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from instasaga_gateway.render import Limits
from testkit.http import PASSWORD, delete_account, register_and_login
from testkit.infra import Infra
from testkit.processes import wait_until
from testkit.sql import scalar
from testkit.stack import Stack, running_stack

OPS_TOKEN = "an-operator-token-for-tests"  # test-only


@pytest.fixture(scope="module")
def guarded(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack with an operator token and the gateway's limits tightened: two
    sign-ins a second with a burst of three, per address."""
    log_dir: Path = tmp_path_factory.mktemp("guarded")
    with running_stack(infra, log_dir, env={"OPS_TOKEN": OPS_TOKEN},
                       gateway_limits=Limits(auth_rate=2, auth_burst=3, connections=50)) as s:
        yield s


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(c: httpx.Client, user: dict, password: str = PASSWORD) -> httpx.Response:  # type: ignore[type-arg]
    return c.post("/api/auth/login", json={"email": f"{user['username']}@example.com",
                                           "password": password})


def test_login_answers_a_short_access_token_and_a_refresh_token(stack: Stack) -> None:
    with stack.client() as c:
        u = register_and_login(c)
        body = login(c, u).json()
        assert body["token_type"] == "bearer" and body["expires_in"] == 120 * 60
        assert body["refresh_token"] and body["refresh_token"] != u["refresh_token"]
        assert c.get("/api/auth/me", headers=bearer(body["access_token"])).status_code == 200


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_session(stack: Stack) -> None:
    with stack.client() as c:
        u = register_and_login(c)
        first = u["refresh_token"]
        r = c.post("/api/auth/refresh", json={"refresh_token": first})
        assert r.status_code == 200, r.text
        second = r.json()
        assert second["refresh_token"] != first
        assert c.get("/api/auth/me", headers=bearer(second["access_token"])).status_code == 200

        # social knows the token before
        wait_until(lambda: c.get("/api/notifications",
                                 headers=bearer(second["access_token"])).status_code == 200,
                   10, what="social accepts the token")

        # the first one again: someone copied it; the whole session ends
        r = c.post("/api/auth/refresh", json={"refresh_token": first})
        assert r.status_code == 401
        assert c.post("/api/auth/refresh",
                      json={"refresh_token": second["refresh_token"]}).status_code == 401
        for token in (second["access_token"], u["headers"]["Authorization"][7:]):
            assert c.get("/api/auth/me", headers=bearer(token)).status_code == 401
        # and social refuses them too, within seconds (session.revoked)
        for token in (second["access_token"], u["headers"]["Authorization"][7:]):
            wait_until(lambda t=token: c.get("/api/notifications",
                                             headers=bearer(t)).status_code == 401,
                       3, 0.05, "social refuses the revoked session's token")

        # another login session of the same user is untouched
        other = login(c, u).json()
        assert c.get("/api/auth/me", headers=bearer(other["access_token"])).status_code == 200


@pytest.mark.parametrize("token", ["", "not-a-token", "0" * 32 + ".x",
                                   uuid.uuid4().hex + ".secret", "a" * 300])
def test_refresh_refuses_unknown_and_malformed_tokens(stack: Stack, token: str) -> None:
    with stack.client() as c:
        r = c.post("/api/auth/refresh", json={"refresh_token": token})
        assert r.status_code in (401, 422), r.text
        assert token not in r.text or not token


def test_logout_ends_the_session_and_its_access_tokens(stack: Stack) -> None:
    with stack.client() as c:
        u = register_and_login(c)
        kept = login(c, u).json()
        wait_until(lambda: c.get("/api/notifications", headers=u["headers"]).status_code == 200,
                   10, what="social accepts the token")
        assert c.get("/api/feed", headers=u["headers"]).status_code == 200
        r = c.post("/api/auth/logout", json={"refresh_token": u["refresh_token"]})
        assert r.status_code == 204
        assert c.get("/api/auth/me", headers=u["headers"]).status_code == 401
        assert c.get("/api/feed", headers=u["headers"]).status_code == 401
        assert c.get("/api/feed", headers=bearer(kept["access_token"])).status_code == 200
        assert c.post("/api/auth/refresh",
                      json={"refresh_token": u["refresh_token"]}).status_code == 401
        assert c.get("/api/auth/me", headers=bearer(kept["access_token"])).status_code == 200
        # social refuses the ended session's token within seconds, and nothing is sent
        # with it; the other session's token still works there
        wait_until(lambda: c.get("/api/notifications", headers=u["headers"]).status_code == 401,
                   3, 0.05, "social refuses the logged-out token")
        search = {"q": "a"}
        assert c.get("/api/search/hashtags", params=search,
                     headers=u["headers"]).status_code == 401
        assert c.get("/api/search/hashtags", params=search,
                     headers=bearer(kept["access_token"])).status_code == 200
        other = register_and_login(c)
        sent = c.post("/api/messages", json={"receiver_id": other["id"], "content": "hi"},
                      headers=u["headers"])
        assert sent.status_code == 401
        assert c.get("/api/notifications",
                     headers=bearer(kept["access_token"])).status_code == 200


def test_a_password_change_refuses_every_older_token_on_both_services(stack: Stack) -> None:
    with stack.client() as c:
        u = register_and_login(c)
        other = login(c, u).json()
        # social knows the user (and so its token version) before the change
        wait_until(lambda: c.get("/api/notifications", headers=u["headers"]).status_code == 200,
                   10, what="social accepts the token")

        wrong = c.put("/api/auth/password", headers=u["headers"],
                      json={"current_password": "not my password", "new_password": "n3w-secret"})
        assert wrong.status_code == 403
        short = c.put("/api/auth/password", headers=u["headers"],
                      json={"current_password": PASSWORD, "new_password": "short"})
        assert short.status_code == 422 and "short" not in short.text

        r = c.put("/api/auth/password", headers=u["headers"],
                  json={"current_password": PASSWORD, "new_password": "n3w-secret"})
        assert r.status_code == 204, r.text
        for token in (u["headers"]["Authorization"][7:], other["access_token"]):
            assert c.get("/api/auth/me", headers=bearer(token)).status_code == 401
            assert c.get("/api/feed", headers=bearer(token)).status_code == 401
        for refresh in (u["refresh_token"], other["refresh_token"]):
            assert c.post("/api/auth/refresh", json={"refresh_token": refresh}).status_code == 401
        # social learns the new token version from user.updated
        wait_until(lambda: c.get("/api/notifications", headers=u["headers"]).status_code == 401,
                   2.5, 0.05, "social refuses the old token")
        assert c.get("/api/search/hashtags", params={"q": "a"},
                     headers=u["headers"]).status_code == 401

        assert login(c, u).status_code == 401
        fresh = login(c, u, "n3w-secret")
        assert fresh.status_code == 200
        token = fresh.json()["access_token"]
        assert c.get("/api/auth/me", headers=bearer(token)).status_code == 200
        wait_until(lambda: c.get("/api/notifications", headers=bearer(token)).status_code == 200,
                   10, what="social accepts the new token")


def test_deleting_the_account_asks_for_the_password(stack: Stack) -> None:
    with stack.client() as c:
        u = register_and_login(c)
        missing = c.delete("/api/users/me", headers=u["headers"])
        assert missing.status_code in (401, 403, 422), missing.text
        wrong = c.request("DELETE", "/api/users/me", json={"password": "not my password"},
                          headers=u["headers"])
        assert wrong.status_code == 403
        assert c.get("/api/auth/me", headers=u["headers"]).status_code == 200
        assert delete_account(c, u).status_code == 204
        assert c.get("/api/auth/me", headers=u["headers"]).status_code == 401


def test_an_unknown_email_and_a_wrong_password_get_the_same_answer(stack: Stack) -> None:
    with stack.client() as c:
        u = register_and_login(c)
        unknown = c.post("/api/auth/login", json={"email": "nobody-at-all@example.com",
                                                  "password": PASSWORD})
        wrong = login(c, u, "not my password")
        assert unknown.status_code == wrong.status_code == 401
        assert unknown.json() == wrong.json()


def test_message_content_stays_out_of_the_saga(stack: Stack) -> None:
    with stack.client() as c:
        a, b = register_and_login(c), register_and_login(c)
        secret = f"between us {uuid.uuid4().hex}"
        r = c.post("/api/messages", json={"receiver_id": b["id"], "content": secret},
                   headers=a["headers"])
        assert r.status_code == 201, r.text
        story = c.post("/api/stories", json={"content": secret,
                                             "image_url": "https://example.com/s.jpg"},
                       headers=a["headers"])
        assert story.status_code in (201, 202), story.text
    sagas = httpx.get(f"{stack.social.url}/ops/sagas", params={"limit": 50}).json()
    assert {"send_message", "create_story"} <= {s["type"] for s in sagas}
    assert secret not in str(sagas)


def test_sign_in_is_throttled_per_address_with_retry_after(guarded: Stack) -> None:
    with guarded.client() as c:
        answers = [c.post("/api/auth/login", json={"email": "x@example.com",
                                                   "password": "whatever"})
                   for _ in range(12)]
        codes = [r.status_code for r in answers]
        assert 429 in codes and 401 in codes, codes
        limited = next(r for r in answers if r.status_code == 429)
        assert limited.headers["retry-after"] == "1"
        assert limited.json() == {"detail": "Too many requests: try again shortly"}
        # other routes are not throttled
        assert all(c.get("/api/feed").status_code == 401 for _ in range(10))


def test_the_gateway_sets_security_headers(guarded: Stack) -> None:
    with guarded.client() as c:
        for r in (c.get("/api/feed"), c.get("/nowhere"), c.get("/health")):
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "no-referrer"
            assert "default-src 'none'" in r.headers["content-security-policy"]
            assert "retry-after" not in r.headers


@pytest.mark.parametrize("path", ["/ops/sagas", "/metrics", "/ops/sagas/stats", "/ops/saga-types",
                                  "/ops/outbox", "/ops/tasks"])
def test_operator_endpoints_need_the_operator_token(guarded: Stack, path: str) -> None:
    for url in (guarded.core.url, guarded.social.url):
        assert httpx.get(url + path).status_code == 401
        assert httpx.get(url + path, headers={"X-Ops-Token": "wrong"}).status_code == 401
        assert httpx.get(url + path, headers={"X-Ops-Token": OPS_TOKEN}).status_code == 200
        assert httpx.get(url + "/health").status_code == 200
    # never through the gateway
    assert httpx.get(guarded.url + path, headers={"X-Ops-Token": OPS_TOKEN}).status_code == 404


def test_a_follow_unfollow_loop_notifies_once(stack: Stack) -> None:
    with stack.client() as c:
        a, b = register_and_login(c), register_and_login(c)
        for _ in range(4):
            assert c.post(f"/api/follow/{b['id']}", headers=a["headers"]).status_code in (200,
                                                                                           201)
            assert c.delete(f"/api/follow/{b['id']}", headers=a["headers"]).status_code == 200
        assert c.post(f"/api/follow/{b['id']}", headers=a["headers"]).status_code in (200, 201)
        # the last follow's event has reached the notifications (its seq is the edge's)
        pair = f"follower_id = {a['id']} AND followee_id = {b['id']}"
        wait_until(lambda: scalar(stack.social_db, f"""
            SELECT n.seq = f.version AND f.active FROM follows f, notifications n
            WHERE f.{pair.replace(' AND ', ' AND f.')}
              AND n.dedupe_key = 'follow:{a['id']}:{b['id']}'"""), 30,
                   what="the last follow notified")
        assert scalar(stack.social_db, "SELECT count(*) FROM notifications WHERE "
                                       f"user_id = {b['id']} AND type = 'follow'") == 1
        follows = [n for n in c.get("/api/notifications", headers=b["headers"]).json()
                   if n["type"] == "follow"]
        assert len(follows) == 1


def test_an_account_with_thousands_of_likes_and_comments_is_deleted_in_bulk(
        stack: Stack) -> None:
    """Likes and comments on 3,000 posts of someone else go in a few statements, the
    posts' counters corrected, one event per change. (Last in this module: social
    takes a while to consume its 9,000 events.)"""
    n = 3000
    with stack.client() as c:
        author, fan = register_and_login(c), register_and_login(c)
        scalar(stack.core_db, f"""
            WITH p AS (
                INSERT INTO posts (author_id, content, status, like_count, comment_count)
                SELECT {author['id']}, 'bulk', 'published', 1, 2 FROM generate_series(1, {n})
                RETURNING id
            ), l AS (INSERT INTO likes (user_id, post_id) SELECT {fan['id']}, id FROM p)
            INSERT INTO comments (post_id, author_id, content)
            SELECT id, {fan['id']}, 'nice' FROM p CROSS JOIN generate_series(1, 2)""")
        r = delete_account(c, fan)
        assert r.status_code == 204, r.text
    assert scalar(stack.core_db, f"SELECT count(*) FROM posts WHERE author_id = {author['id']}"
                                 " AND (like_count, comment_count) <> (0, 0)") == 0
    events = scalar(stack.core_db, "SELECT count(*) FROM outbox WHERE message_type IN "
                                   "('post.unliked', 'comment.deleted')")
    assert events == 3 * n

