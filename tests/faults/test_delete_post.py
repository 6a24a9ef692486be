"""delete_post with social answering, and with social away past the deadline."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from instasaga.queues import SOCIAL_NOTIFICATIONS, SOCIAL_PROJECTIONS
from testkit.consistency import assert_consistent
from testkit.http import hashtag_counts, register_and_login, wait_for_post_status
from testkit.infra import Infra
from testkit.processes import wait_until
from testkit.queues import hold_queued
from testkit.sql import scalar
from testkit.stack import running_stack

pytestmark = pytest.mark.slow


def test_delete_post_purges_social_then_deletes(infra: Infra, tmp_path: Path) -> None:
    with running_stack(infra, tmp_path, gateway=False) as stack:
        c = httpx.Client(base_url=stack.core.url, timeout=30)
        alice, bob = register_and_login(c), register_and_login(c)
        tag = f"del{uuid.uuid4().hex[:8]}"
        post = c.post("/api/posts", json={"content": f"#{tag}"}, headers=alice["headers"]).json()
        c.post(f"/api/posts/{post['id']}/likes", headers=bob["headers"])
        c.post(f"/api/posts/{post['id']}/comments", json={"content": "x"},
               headers=bob["headers"])
        s = httpx.Client(base_url=stack.social.url, timeout=10)
        wait_until(lambda: hashtag_counts(s, alice["headers"], tag) == {tag: 1}, 10)
        assert c.delete(f"/api/posts/{post['id']}", headers=alice["headers"]).status_code == 204
        assert hashtag_counts(s, alice["headers"], tag) == {}
        assert scalar(stack.core_db, "SELECT count(*) FROM likes") == 0
        assert scalar(stack.core_db, "SELECT count(*) FROM comments") == 0
        wait_until(lambda: scalar(stack.social_db,
                                  f"SELECT published FROM posts WHERE id = {post['id']}")
                   is False, 10, what="projection hidden")
        assert scalar(stack.social_db, "SELECT count(*) FROM post_hashtags") == 0
        assert_consistent(stack)
        c.close()
        s.close()


def test_social_away_past_the_deadline_restores_the_post(infra: Infra, tmp_path: Path) -> None:
    with running_stack(infra, tmp_path, gateway=False,
                       env={"SAGA_STEP_TIMEOUT_SECONDS": "0.5", "SAGA_STEP_MAX_ATTEMPTS": "2",
                            "SAGA_WAIT_SECONDS": "10"}) as stack:
        c = httpx.Client(base_url=stack.core.url, timeout=30)
        alice, bob = register_and_login(c), register_and_login(c)
        tag = f"keep{uuid.uuid4().hex[:8]}"
        post = c.post("/api/posts", json={"content": f"#{tag}"}, headers=alice["headers"]).json()
        c.post(f"/api/posts/{post['id']}/likes", headers=bob["headers"])
        s = httpx.Client(base_url=stack.social.url, timeout=10)
        wait_until(lambda: hashtag_counts(s, alice["headers"], tag) == {tag: 1}, 10)
        stack.social.stop()
        r = c.delete(f"/api/posts/{post['id']}", headers=alice["headers"])
        assert r.status_code == 503, r.text
        assert "kept" in r.json()["detail"]
        restored = wait_for_post_status(c, alice["headers"], post["id"], {"published"}, 5)
        assert restored["like_count"] == 1  # nothing lost
        stack.social.start()
        # the late purge_post runs now, but the restore (a newer version) wins
        wait_until(lambda: scalar(stack.social_db, "SELECT count(*) FROM inbox WHERE "
                                  "message_type = 'purge_post'") == 1, 15, what="purge handled")
        wait_until(lambda: hashtag_counts(s, alice["headers"], tag) == {tag: 1}, 15,
                   what="post searchable again")
        assert scalar(stack.core_db, "SELECT status FROM sagas WHERE type = 'delete_post'") \
            == "compensated"
        assert_consistent(stack)
        c.close()
        s.close()


def test_a_restored_post_gets_its_notifications_back_after_a_late_purge(
        infra: Infra, tmp_path: Path) -> None:
    """Social is away past the deadline: delete_post restores the post (announced
    with post.published). When social is back, it handles the late purge_post
    before that post.published (held back here until then): the purge hides the
    notifications about the post, and the restore shows them again."""
    with running_stack(infra, tmp_path, gateway=False,
                       env={"SAGA_STEP_TIMEOUT_SECONDS": "0.5", "SAGA_STEP_MAX_ATTEMPTS": "2",
                            "SAGA_WAIT_SECONDS": "10"}) as stack:
        c = httpx.Client(base_url=stack.core.url, timeout=30)
        s = httpx.Client(base_url=stack.social.url, timeout=10)
        alice, bob = register_and_login(c), register_and_login(c)
        post = c.post("/api/posts", json={"content": f"sunset with @{bob['username']}"},
                      headers=alice["headers"]).json()
        c.post(f"/api/posts/{post['id']}/likes", headers=bob["headers"])
        c.post(f"/api/posts/{post['id']}/comments",
               json={"content": f"thanks @{alice['username']}"}, headers=bob["headers"])

        def types(user: dict[str, Any]) -> list[str]:
            return sorted(n["type"] for n in s.get("/api/notifications",
                                                   headers=user["headers"]).json())

        def notified() -> tuple[list[str], list[str]]:
            return types(alice), types(bob)

        before = (["comment", "like", "mention"], ["mention"])
        wait_until(lambda: notified() == before, 10, what="notifications")
        stack.social.stop()
        assert c.delete(f"/api/posts/{post['id']}", headers=alice["headers"]).status_code == 503
        wait_for_post_status(c, alice["headers"], post["id"], {"published"}, 5)
        wait_until(lambda: scalar(stack.core_db, "SELECT count(*) FROM outbox "
                                                 "WHERE sent_at IS NULL") == 0,
                   10, what="restore announced")

        def purge_first() -> None:
            stack.social.start()
            wait_until(lambda: scalar(stack.social_db, "SELECT count(*) FROM inbox WHERE "
                                      "message_type = 'purge_post'") == 1, 15,
                       what="purge handled")
            assert notified() == ([], [])  # hidden by the purge

        held = hold_queued(stack.amqp_url,
                           [SOCIAL_PROJECTIONS, SOCIAL_NOTIFICATIONS],
                           meanwhile=purge_first)
        assert held == 1, held  # the restore's post.published (its one consumer's queue)
        wait_until(lambda: notified() == before, 10, what="notifications back")
        assert_consistent(stack)
        c.close()
        s.close()

