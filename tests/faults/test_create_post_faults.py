"""create_post when the last step refuses, and with two replicas of core."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from testkit.consistency import assert_consistent
from testkit.http import hashtag_counts, register_and_login, wait_for_post_status
from testkit.infra import Infra
from testkit.processes import ServiceProcess, wait_until
from testkit.sql import scalar
from testkit.stack import running_stack

pytestmark = pytest.mark.slow


def test_author_deactivated_before_publish_compensates_the_index(infra: Infra,
                                                                 tmp_path: Path) -> None:
    with running_stack(infra, tmp_path, gateway=False,
                       env={"SAGA_STEP_TIMEOUT_SECONDS": "20"}) as stack:
        c = httpx.Client(base_url=stack.core.url, timeout=30)
        alice = register_and_login(c)
        tag = f"gone{uuid.uuid4().hex[:8]}"
        stack.social.stop()
        r = c.post("/api/posts", json={"content": f"#{tag}"},
                   headers={**alice["headers"], "Prefer": "respond-async"})
        assert r.status_code == 202
        post_id = r.json()["id"]
        # meanwhile the author is deactivated (as the delete_account saga's first step does)
        scalar(stack.core_db, f"UPDATE users SET is_active = false WHERE id = {alice['id']}")
        stack.social.start()
        wait_until(lambda: scalar(stack.core_db, "SELECT status FROM sagas") == "compensated",
                   20, what="saga compensated")
        assert scalar(stack.core_db, f"SELECT status FROM posts WHERE id = {post_id}") \
            == "rejected"
        assert "deactivated" in str(scalar(
            stack.core_db, f"SELECT rejection_reason FROM posts WHERE id = {post_id}"))
        # social indexed the hashtags, then the compensation removed them
        wait_until(lambda: scalar(stack.social_db, "SELECT count(*) FROM post_hashtags") == 0,
                   10, what="hashtags unindexed")
        assert scalar(stack.social_db, "SELECT count(*) FROM posts") == 0
        assert scalar(stack.social_db, "SELECT count(*) FROM hashtags") == 1
        assert scalar(stack.core_db, "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
        # the test deactivated the user behind core's back (no event): undo that first
        scalar(stack.core_db, "UPDATE users SET is_active = true")
        assert_consistent(stack)
        c.close()


def test_replies_consumed_by_another_replica_still_answer_the_request(
        infra: Infra, tmp_path: Path) -> None:
    with running_stack(infra, tmp_path, gateway=False) as stack:
        second = ServiceProcess("core_service", stack.core.env, tmp_path, name="core-2").start()
        try:
            with httpx.Client(base_url=stack.core.url, timeout=30) as c:
                alice = register_and_login(c)
                tag = f"rep{uuid.uuid4().hex[:8]}"
                codes = [c.post("/api/posts", json={"content": f"#{tag} n{i}"},
                                headers=alice["headers"]).status_code for i in range(20)]
            assert codes == [201] * 20
            with httpx.Client(base_url=second.url, timeout=30) as c2:
                post = c2.post("/api/posts", json={"content": f"#{tag}"},
                               headers=alice["headers"])
                assert post.status_code == 201
                assert wait_for_post_status(c2, alice["headers"], post.json()["id"],
                                            {"published"})
            with httpx.Client(base_url=stack.social.url, timeout=10) as s:
                wait_until(lambda: hashtag_counts(s, alice["headers"], tag) == {tag: 21}, 10)
            assert_consistent(stack)
        finally:
            second.stop()
