"""The initiator dies between sending a command and handling its reply."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from testkit.consistency import assert_consistent
from testkit.http import hashtag_counts, register_and_login, wait_for_post_status
from testkit.infra import Infra
from testkit.processes import wait_until
from testkit.sql import scalar
from testkit.stack import running_stack

pytestmark = pytest.mark.slow


def test_core_killed_after_sending_index_command_resumes_the_saga(infra: Infra,
                                                                  tmp_path: Path) -> None:
    with running_stack(infra, tmp_path, gateway=False,
                       env={"SAGA_STEP_TIMEOUT_SECONDS": "10"}) as stack:
        c = httpx.Client(base_url=stack.core.url, timeout=30)
        alice = register_and_login(c)
        tag = f"crash{uuid.uuid4().hex[:8]}"
        stack.social.stop()  # the participant is away: the command waits in its queue

        r = c.post("/api/posts", json={"content": f"#{tag}"},
                   headers={**alice["headers"], "Prefer": "respond-async"})
        assert r.status_code == 202
        post_id = r.json()["id"]
        # core has published index_post_hashtags (broker confirmed) ...
        wait_until(lambda: scalar(stack.core_db, "SELECT count(*) FROM outbox WHERE "
                                   "message_type = 'index_post_hashtags' AND sent_at IS NOT NULL"
                                   ) == 1, 10, what="command sent")
        # ... and dies before any reply exists
        stack.core.kill()

        stack.social.start()  # handles the command; its reply waits for core
        wait_until(lambda: scalar(stack.social_db, "SELECT count(*) FROM outbox WHERE "
                                   "message_type = 'saga.reply' AND sent_at IS NOT NULL") == 1,
                   20, what="reply sent")
        assert scalar(stack.core_db, "SELECT status FROM sagas") == "running"

        stack.core.start()
        post = wait_for_post_status(c, alice["headers"], post_id, {"published"}, timeout=30)
        assert post["hashtags"] == [tag]
        saga = httpx.get(f"{stack.core.url}/ops/sagas").json()[0]
        assert saga["status"] == "completed"
        detail = httpx.get(f"{stack.core.url}/ops/sagas/{saga['id']}").json()
        actions = [(s["step"], s["action"]) for s in detail["steps"]]
        assert actions.count(("index_hashtags", "completed")) == 1
        with httpx.Client(base_url=stack.social.url, timeout=10) as s:
            wait_until(lambda: hashtag_counts(s, alice["headers"], tag) == {tag: 1}, 10)
        assert_consistent(stack)
        c.close()


def test_participant_down_past_the_deadline_compensates(infra: Infra, tmp_path: Path) -> None:
    """social does not answer within the deadline and its retries: the step counts
    as rejected, the compensation waits for social, and once social is back the
    post ends rejected with nothing indexed (the late commands change nothing)."""
    with running_stack(infra, tmp_path, gateway=False,
                       env={"SAGA_STEP_TIMEOUT_SECONDS": "0.5", "SAGA_STEP_MAX_ATTEMPTS": "2",
                            "SAGA_WAIT_SECONDS": "10"}) as stack:
        c = httpx.Client(base_url=stack.core.url, timeout=30)
        alice = register_and_login(c)
        tag = f"late{uuid.uuid4().hex[:8]}"
        stack.social.stop()
        r = c.post("/api/posts", json={"content": f"#{tag}"},
                   headers={**alice["headers"], "Prefer": "respond-async"})
        assert r.status_code == 202, r.text
        post_id = r.json()["id"]
        # the step gives up after its retries; the compensation waits for social
        wait_until(lambda: httpx.get(f"{stack.core.url}/ops/sagas").json()[0]["status"]
                   == "compensating", 20, what="saga compensating")
        stack.social.start()
        post = wait_for_post_status(c, alice["headers"], post_id, {"rejected"}, timeout=30)
        assert "no reply" in post["rejection_reason"]
        wait_until(lambda: httpx.get(f"{stack.core.url}/ops/sagas").json()[0]["status"]
                   == "compensated", 20, what="saga compensated")
        with httpx.Client(base_url=stack.social.url, timeout=10) as s:
            assert hashtag_counts(s, alice["headers"], tag) == {}
        assert scalar(stack.social_db, "SELECT count(*) FROM posts") == 0
        assert_consistent(stack)
        c.close()
