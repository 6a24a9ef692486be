"""delete_account: everything about the user goes, other users' counters stay
exact; with social away past the deadline the user is reactivated."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from instasaga.queues import CORE_REPLIES, SOCIAL_COMMANDS, SOCIAL_NOTIFICATIONS, SOCIAL_PROJECTIONS
from instasaga.services import CORE
from instasaga.topology import system_topology
from shared_lib.contracts.routing import events_exchange
from testkit.consistency import assert_consistent
from testkit.http import delete_account, hashtag_counts, register_and_login
from testkit.infra import Infra
from testkit.processes import wait_until
from testkit.queues import hold_queued
from testkit.sql import scalar
from testkit.stack import running_stack

pytestmark = pytest.mark.slow


def test_delete_account_removes_the_user_everywhere(infra: Infra, tmp_path: Path) -> None:
    with running_stack(infra, tmp_path) as stack, stack.client() as c:
        a, b, c3 = (register_and_login(c) for _ in range(3))
        tag = f"acct{uuid.uuid4().hex[:8]}"
        a_post = c.post("/api/posts", json={"content": f"#{tag}"}, headers=a["headers"]).json()
        b_post = c.post("/api/posts", json={"content": "b's post"},
                        headers=b["headers"]).json()
        c.post(f"/api/posts/{a_post['id']}/likes", headers=b["headers"])
        c.post(f"/api/posts/{b_post['id']}/likes", headers=a["headers"])
        c.post(f"/api/posts/{b_post['id']}/comments", json={"content": "from a"},
               headers=a["headers"])
        c.post(f"/api/posts/{b_post['id']}/comments", json={"content": "from c"},
               headers=c3["headers"])
        c.post(f"/api/follow/{b['id']}", headers=a["headers"])
        c.post(f"/api/follow/{a['id']}", headers=c3["headers"])
        assert c.post("/api/messages", json={"receiver_id": b["id"], "content": "hi"},
                      headers=a["headers"]).status_code == 201
        c.post("/api/messages", json={"receiver_id": a["id"], "content": "yo"},
               headers=b["headers"])
        c.post("/api/stories", json={"content": "a's story"}, headers=a["headers"])
        wait_until(lambda: hashtag_counts(c, b["headers"], tag) == {tag: 1}, 10)
        # like, two comments, follow, message
        wait_until(lambda: len(c.get("/api/notifications", headers=b["headers"]).json()) == 5,
                   10, what="b's notifications")

        r = delete_account(c, a)
        assert r.status_code == 204, r.text

        # a's tokens are refused by both services, a cannot log in
        assert c.get("/api/auth/me", headers=a["headers"]).status_code == 401
        wait_until(lambda: c.get("/api/notifications", headers=a["headers"]).status_code == 401,
                   10, what="social refuses a's token")
        assert c.post("/api/auth/login", json={"email": f"{a['username']}@example.com",
                                               "password": "correct horse"}).status_code == 401
        assert c.get(f"/api/users/{a['id']}").status_code == 404
        # other users' counters are exact
        b_now = c.get(f"/api/posts/{b_post['id']}").json()
        assert (b_now["like_count"], b_now["comment_count"]) == (0, 1)
        assert c.get(f"/api/users/{b['id']}").json()["follower_count"] == 0
        assert c.get(f"/api/users/{c3['id']}").json()["following_count"] == 0
        assert c.get(f"/api/posts/{a_post['id']}").status_code == 404
        # social forgot a: messages, notifications, stories, search entry, hashtag links
        assert c.get("/api/messages", headers=b["headers"]).json() == []
        assert all(n["actor_id"] != a["id"] for n in
                   c.get("/api/notifications", headers=b["headers"]).json())
        assert c.get("/api/search/users", params={"q": a["username"]},
                     headers=b["headers"]).json() == []
        assert hashtag_counts(c, b["headers"], tag) == {}
        assert scalar(stack.social_db,
                      f"SELECT count(*) FROM stories WHERE author_id = {a['id']}") == 0
        for table, column in (("likes", "user_id"), ("comments", "author_id"),
                              ("follows", "follower_id"), ("follows", "followee_id"),
                              ("posts", "author_id"), ("users", "id")):
            assert scalar(stack.core_db,
                          f"SELECT count(*) FROM {table} WHERE {column} = {a['id']}") == 0
        # social's projection of b's post follows core's counters
        wait_until(lambda: scalar(stack.social_db, "SELECT like_count || '/' || comment_count"
                                  f" FROM posts WHERE id = {b_post['id']}") == "0/1", 10)
        assert_consistent(stack)


def test_social_away_past_the_deadline_keeps_the_account_until_social_decides(
        infra: Infra, tmp_path: Path) -> None:
    """purge_user gets no reply in time: the account stays deactivated (202) and core
    sends saga.cancel. Both commands wait in social's queue; social, back, handles them
    concurrently, and whichever claims the purge's inbox row first decides: the purge
    ran (the cancel answers so, the deletion completes) or the cancel preempted it (the
    purge never runs, the account is active again on both sides). Nothing is
    half-deleted either way. (test_cancelled_purge_reactivates_the_user forces the
    second order.)"""
    with running_stack(infra, tmp_path, gateway=False,
                       env={"SAGA_STEP_TIMEOUT_SECONDS": "0.5", "SAGA_STEP_MAX_ATTEMPTS": "2",
                            "SAGA_WAIT_SECONDS": "3"}) as stack:
        c = httpx.Client(base_url=stack.core.url, timeout=30)
        a = register_and_login(c)
        stack.social.stop()
        assert delete_account(c, a).status_code == 202
        assert c.get("/api/auth/me", headers=a["headers"]).status_code == 401  # deactivated
        wait_until(lambda: any(s["detail"] == "cancel requested" for s in httpx.get(
            f"{stack.core.url}/ops/sagas/"
            + httpx.get(f"{stack.core.url}/ops/sagas").json()[0]["id"]).json()["steps"]),
            10, what="cancel probe sent")
        assert scalar(stack.core_db, f"SELECT count(*) FROM users WHERE id = {a['id']}") == 1
        stack.social.start()
        wait_until(lambda: httpx.get(f"{stack.core.url}/ops/sagas").json()[0]["status"]
                   in ("completed", "compensated"), 20, what="social's decision")
        status = httpx.get(f"{stack.core.url}/ops/sagas").json()[0]["status"]
        in_core = scalar(stack.core_db, f"SELECT count(*) FROM users WHERE id = {a['id']}")
        wait_until(lambda: scalar(stack.social_db, "SELECT is_active FROM users WHERE id = "
                                  f"{a['id']}") is (status == "compensated"), 10,
                   what="social's user in step with the saga")
        if status == "completed":  # the purge ran first
            assert in_core == 0
        else:  # the cancel preempted the purge
            assert in_core == 1
            login = c.post("/api/auth/login", json={"email": f"{a['username']}@example.com",
                                                    "password": a["password"]})
            assert login.status_code == 200
        print(f"\nsocial decided: {status}")
        assert_consistent(stack)
        c.close()


def test_cancelled_purge_reactivates_the_user(infra: Infra, tmp_path: Path) -> None:
    """When social confirms the purge never ran (its cancel overtook it), core
    reactivates the user: simulated by answering the cancel before the purge."""
    with running_stack(infra, tmp_path, gateway=False,
                       env={"SAGA_STEP_TIMEOUT_SECONDS": "0.5", "SAGA_STEP_MAX_ATTEMPTS": "1",
                            "SAGA_WAIT_SECONDS": "1"}) as stack:
        c = httpx.Client(base_url=stack.core.url, timeout=30)
        a = register_and_login(c)
        stack.social.stop()
        assert delete_account(c, a).status_code == 202
        wait_until(lambda: scalar(stack.core_db, "SELECT count(*) FROM outbox WHERE "
                                  "message_type = 'saga.cancel' AND sent_at IS NOT NULL") == 1,
                   10, what="cancel probe published")
        # social comes back and handles the probe before the purge: drop the queued purge
        # from social's queue first, as if the probe had been consumed first
        _drop_queued(stack, "purge_user")
        stack.social.start()
        wait_until(lambda: httpx.get(f"{stack.core.url}/ops/sagas").json()[0]["status"]
                   == "compensated", 20, what="saga compensated")
        assert c.get("/api/auth/me", headers=a["headers"]).status_code == 200  # reactivated
        assert_consistent(stack)
        c.close()


def test_events_still_queued_at_the_purge_leave_nothing_of_the_user(
        infra: Infra, tmp_path: Path) -> None:
    """Two users follow X and X follows them back, X likes one's post and mentions
    both in a comment on it, then deletes the account at once. The events of
    those moves are still queued for social's projections and notifications
    when social purges X: held back here until the whole deletion has been
    handled, then delivered. They must bring back no follow edge and no
    notification of X's."""
    with running_stack(infra, tmp_path, gateway=False,
                       env={"SAGA_STEP_TIMEOUT_SECONDS": "10"}) as stack:
        c = httpx.Client(base_url=stack.core.url, timeout=30)
        x, *others = (register_and_login(c) for _ in range(3))
        post = c.post("/api/posts", json={"content": "hello"}, headers=others[0]["headers"])
        assert post.status_code == 201, post.text
        post_id = post.json()["id"]
        wait_until(lambda: scalar(stack.social_db, "SELECT count(*) FROM users") == 3
                   and scalar(stack.social_db, "SELECT count(*) FROM inbox WHERE "
                                               "message_type = 'post.published'") == 1,
                   10, what="users and post projected")
        stack.social.stop()

        for other in others:
            assert c.post(f"/api/follow/{x['id']}", headers=other["headers"]).status_code == 200
            assert c.post(f"/api/follow/{other['id']}", headers=x["headers"]).status_code == 200
        assert c.post(f"/api/posts/{post_id}/likes", headers=x["headers"]).status_code == 200
        mentions = " ".join(f"@{o['username']}" for o in others)
        assert c.post(f"/api/posts/{post_id}/comments", json={"content": f"hi {mentions}"},
                      headers=x["headers"]).status_code == 201
        _delete_and_publish(stack, c, x)

        def purge_and_deletion() -> None:
            _social_back_and_account_deleted(stack)
            # core's events of the deletion (unfollows, user.deleted) handled on every
            # queue they reach
            queues = len(system_topology().routes(events_exchange(CORE), "user.deleted"))
            wait_until(lambda: scalar(stack.social_db, "SELECT count(*) FROM inbox WHERE "
                                      "message_type = 'user.deleted'") == queues,
                       15, what="user.deleted handled")

        held = hold_queued(stack.amqp_url,
                           [SOCIAL_PROJECTIONS, SOCIAL_NOTIFICATIONS],
                           meanwhile=purge_and_deletion)
        # 4 follows, like, comment, deactivation, all on projections (which notifies
        # the like, the comment, its mentions and the follows in the same statements)
        assert held == 7, held
        assert_consistent(stack)
        uid = x["id"]
        assert scalar(stack.social_db, "SELECT count(*) FROM notifications "
                                       f"WHERE user_id = {uid} OR actor_id = {uid}") == 0
        assert scalar(stack.social_db, "SELECT count(*) FROM follows WHERE active AND "
                                       f"(follower_id = {uid} OR followee_id = {uid})") == 0
        assert scalar(stack.social_db, "SELECT count(*) FROM follows WHERE active") == 0
        c.close()




def test_a_block_queued_at_the_purge_revives_no_block_of_the_user(
        infra: Infra, tmp_path: Path) -> None:
    """X blocks one user and another blocks X, then X deletes the account at once. The
    block events are still queued for social's projections when social purges X (held
    back here until the deletion has been handled): they must bring back no block row."""
    with running_stack(infra, tmp_path, gateway=False,
                       env={"SAGA_STEP_TIMEOUT_SECONDS": "10"}) as stack:
        c = httpx.Client(base_url=stack.core.url, timeout=30)
        x, y, z = (register_and_login(c) for _ in range(3))
        wait_until(lambda: scalar(stack.social_db, "SELECT count(*) FROM users") == 3,
                   10, what="users projected")
        stack.social.stop()

        assert c.post(f"/api/users/{y['id']}/block", headers=x["headers"]).status_code == 200
        assert c.post(f"/api/users/{x['id']}/block", headers=z["headers"]).status_code == 200
        _delete_and_publish(stack, c, x)

        def purge_and_deletion() -> None:
            _social_back_and_account_deleted(stack)

        held = hold_queued(stack.amqp_url, [SOCIAL_PROJECTIONS],
                           meanwhile=purge_and_deletion)
        assert held >= 2, held  # the two blocks, at least
        wait_until(lambda: scalar(stack.social_db, "SELECT count(*) FROM inbox WHERE "
                                  "message_type = 'user.blocked'") == 2,
                   15, what="the held block events handled")
        assert_consistent(stack)
        assert scalar(stack.social_db, "SELECT count(*) FROM blocks WHERE active AND "
                                       f"(blocker_id = {x['id']} OR blocked_id = {x['id']})"
                      ) == 0
        c.close()




def test_a_retry_after_the_inbox_forgot_the_purge_keeps_the_user_deleted(
        infra: Infra, tmp_path: Path) -> None:
    """purge_user ran at social but neither its reply nor the cancel probe's reached
    core: the saga failed and waits for an operator. By the time of the retry, social's
    inbox no longer has the purge (its retention is a few seconds here); the new probe
    learns from the user's tombstone that the purge ran, and the deletion completes
    instead of reactivating a user social has purged."""
    quick = {"SAGA_STEP_TIMEOUT_SECONDS": "1", "SAGA_STEP_MAX_ATTEMPTS": "1",
             "SAGA_COMPENSATION_MAX_ATTEMPTS": "1", "DLQ_REPLAY_WINDOW_SECONDS": "0"}
    with running_stack(infra, tmp_path, gateway=False, env=quick,
                       social_env={"RETENTION_INBOX_SECONDS": "20",
                                   "RETENTION_INTERVAL_SECONDS": "0.5"}) as stack:
        c = httpx.Client(base_url=stack.core.url, timeout=30)
        x = register_and_login(c)
        wait_until(lambda: scalar(stack.social_db, "SELECT count(*) FROM users") == 1,
                   10, what="user projected")
        stack.social.stop()
        assert delete_account(c, x, {"Prefer": "respond-async"}).status_code == 202
        wait_until(lambda: scalar(stack.core_db, "SELECT count(*) FROM outbox WHERE "
                                  "message_type = 'purge_user' AND sent_at IS NOT NULL") == 1,
                   10, what="purge_user published")
        stack.core.stop()
        # social purges the user; its reply is lost on the way
        stack.social.start()
        wait_until(lambda: scalar(stack.social_db, "SELECT count(*) FROM inbox WHERE "
                                  "message_type = 'purge_user'") == 1, 10, what="purged")
        wait_until(lambda: scalar(stack.social_db, "SELECT count(*) FROM outbox "
                                                   "WHERE sent_at IS NULL") == 0,
                   10, what="reply published")
        stack.social.stop()
        _drop_queued(stack, "saga.reply", CORE_REPLIES)
        # core's deadline passes and its cancel probe is lost too: the saga fails
        stack.core.start()
        wait_until(lambda: scalar(stack.core_db, "SELECT status FROM sagas") == "failed",
                   20, what="saga failed")
        _drop_queued(stack, "saga.cancel")
        stack.social.start()
        wait_until(lambda: scalar(stack.social_db, "SELECT count(*) FROM inbox WHERE "
                                  "message_type = 'purge_user'") == 0,
                   40, what="social's inbox forgot the purge")

        saga_id = scalar(stack.core_db, "SELECT id FROM sagas")
        r = httpx.post(f"{stack.core.url}/ops/sagas/{saga_id}/retry")
        assert r.status_code == 200, r.text
        wait_until(lambda: scalar(stack.core_db, "SELECT status FROM sagas") != "compensating",
                   20, what="the retry's probe answered")
        assert scalar(stack.core_db, "SELECT status FROM sagas") == "completed"
        assert scalar(stack.core_db, f"SELECT count(*) FROM users WHERE id = {x['id']}") == 0
        assert scalar(stack.social_db, f"SELECT deleted FROM users WHERE id = {x['id']}")
        assert_consistent(stack)
        c.close()


def _delete_and_publish(stack, c: httpx.Client, user: dict) -> None:  # type: ignore[no-untyped-def,type-arg]
    """Delete the account without waiting; return once core published all it wrote."""
    r = delete_account(c, user, {"Prefer": "respond-async"})
    assert r.status_code == 202, r.text
    wait_until(lambda: scalar(stack.core_db, "SELECT count(*) FROM outbox WHERE "
                              "sent_at IS NOT NULL AND message_type = 'purge_user'") == 1
               and scalar(stack.core_db, "SELECT count(*) FROM outbox "
                                         "WHERE sent_at IS NULL") == 0,
               10, what="core published the events and the purge")


def _social_back_and_account_deleted(stack) -> None:  # type: ignore[no-untyped-def]
    stack.social.start()
    wait_until(lambda: scalar(stack.core_db, "SELECT status FROM sagas WHERE "
                              "type = 'delete_account'") == "completed",
               30, what="account deleted")


def _drop_queued(stack, message_type: str,  # type: ignore[no-untyped-def]
                 queue_name: str = SOCIAL_COMMANDS) -> None:
    """Remove the queued messages of one type from a queue, keeping the rest."""
    import aio_pika

    from testkit.infra import run_sync

    async def go() -> None:
        conn = await aio_pika.connect(stack.amqp_url)
        try:
            channel = await conn.channel()
            queue = await channel.get_queue(queue_name)
            keep = []
            while (msg := await queue.get(fail=False)) is not None:
                if msg.type == message_type:
                    await msg.ack()
                else:
                    keep.append(msg)
            for msg in keep:
                await msg.nack(requeue=True)
        finally:
            await conn.close()

    run_sync(go())
