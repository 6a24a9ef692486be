"""send_message and create_story (initiated by social): rejected, and with
core away past the step deadline (compensation; the late reply is ignored)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from instasaga.queues import CORE_COMMANDS
from testkit.consistency import assert_consistent
from testkit.http import register_and_login
from testkit.infra import Infra
from testkit.processes import wait_until
from testkit.queues import hold_queued
from testkit.sql import scalar
from testkit.stack import running_stack

pytestmark = pytest.mark.slow

FAST_TIMEOUTS = {"SAGA_STEP_TIMEOUT_SECONDS": "0.5", "SAGA_STEP_MAX_ATTEMPTS": "2",
                 "SAGA_WAIT_SECONDS": "10"}


def _saga(stack, saga_type: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    sagas = httpx.get(f"{stack.social.url}/ops/sagas", params={"type": saga_type}).json()
    assert len(sagas) == 1
    return httpx.get(f"{stack.social.url}/ops/sagas/{sagas[0]['id']}").json()


def test_create_story_rejected_when_core_says_the_author_is_deactivated(
        infra: Infra, tmp_path: Path) -> None:
    with running_stack(infra, tmp_path, gateway=False) as stack:
        core = httpx.Client(base_url=stack.core.url, timeout=30)
        social = httpx.Client(base_url=stack.social.url, timeout=30)
        a = register_and_login(core)
        scalar(stack.core_db, f"UPDATE users SET is_active = false WHERE id = {a['id']}")
        r = social.post("/api/stories", json={"content": "x"}, headers=a["headers"])
        assert r.status_code == 403 and r.json()["detail"] == "Author is deactivated"
        assert scalar(stack.social_db, "SELECT status FROM stories") == "rejected"
        assert _saga(stack, "create_story")["status"] == "compensated"
        assert social.get("/api/stories", headers=a["headers"]).json() == []
        # the test deactivated the user behind core's back (no event): undo that first
        scalar(stack.core_db, "UPDATE users SET is_active = true")
        assert_consistent(stack)


def test_send_message_with_core_away_is_rejected_and_the_late_reply_ignored(
        infra: Infra, tmp_path: Path) -> None:
    with running_stack(infra, tmp_path, gateway=False, env=FAST_TIMEOUTS) as stack:
        core = httpx.Client(base_url=stack.core.url, timeout=30)
        social = httpx.Client(base_url=stack.social.url, timeout=30)
        a, b = register_and_login(core), register_and_login(core)
        stack.core.stop()
        r = social.post("/api/messages", json={"receiver_id": b["id"], "content": "hello?"},
                        headers=a["headers"])
        # no remote compensation to wait for: rejected within the wait, as unavailable
        assert r.status_code == 503, r.text
        assert "no reply from authorize_message" in r.json()["detail"]
        assert social.get(f"/api/messages/{b['id']}", headers=a["headers"]).json() == []
        stack.core.start()
        # core answers the (re-sent) command late; social records the reply and ignores it
        wait_until(lambda: any(s["action"] == "ignored"
                               for s in _saga(stack, "send_message")["steps"]), 15,
                   what="late reply recorded")
        saga = _saga(stack, "send_message")
        assert saga["status"] == "compensated"
        assert scalar(stack.social_db, "SELECT status FROM messages") == "rejected"
        assert scalar(stack.social_db, "SELECT count(*) FROM notifications") == 0
        assert social.get("/api/messages", headers=b["headers"]).json() == []
        assert_consistent(stack)


def test_create_story_with_core_away_compensates_record_story(infra: Infra,
                                                              tmp_path: Path) -> None:
    with running_stack(infra, tmp_path, gateway=False, env=FAST_TIMEOUTS) as stack:
        core = httpx.Client(base_url=stack.core.url, timeout=30)
        social = httpx.Client(base_url=stack.social.url, timeout=30)
        a = register_and_login(core)
        stack.core.stop()
        r = social.post("/api/stories", json={"content": "x"},
                        headers={**a["headers"], "Prefer": "respond-async"})
        assert r.status_code == 202 and r.json()["status"] == "pending"
        wait_until(lambda: _saga(stack, "create_story")["status"] == "compensating", 15,
                   what="unrecord_story waiting for core")
        stack.core.start()
        wait_until(lambda: _saga(stack, "create_story")["status"] == "compensated", 20,
                   what="compensated")
        assert scalar(stack.social_db, "SELECT status FROM stories") == "rejected"
        # record_story ran late in core, then unrecord_story undid it
        assert scalar(stack.core_db, "SELECT count(*) FROM story_records") == 0
        assert core.get(f"/api/users/{a['id']}").json()["has_active_story"] is False
        assert social.get("/api/stories", headers=a["headers"]).json() == []
        assert_consistent(stack)


def test_a_block_while_a_message_to_the_blocker_is_in_flight(infra: Infra,
                                                              tmp_path: Path) -> None:
    """A message is waiting in core's command queue when its receiver blocks the
    sender: core authorizes it after the block, so it ends rejected; one sent before
    the block stays sent. Never both, and the receiver is never told of the rejected one."""
    with running_stack(infra, tmp_path, gateway=False,
                       env={"SAGA_WAIT_SECONDS": "1", "SAGA_STEP_TIMEOUT_SECONDS": "30"}
                       ) as stack:
        core = httpx.Client(base_url=stack.core.url, timeout=30)
        social = httpx.Client(base_url=stack.social.url, timeout=30)
        a, b = register_and_login(core), register_and_login(core)
        before = social.post("/api/messages", json={"receiver_id": b["id"], "content": "hi"},
                             headers=a["headers"])
        assert before.status_code == 201, before.text

        stack.core.stop()
        r = social.post("/api/messages", json={"receiver_id": b["id"], "content": "again"},
                        headers=a["headers"])
        assert r.status_code == 202, r.text  # waiting for core's authorization
        in_flight = r.json()["id"]

        def block_meanwhile() -> None:
            stack.core.start()
            assert core.post(f"/api/users/{a['id']}/block",
                             headers=b["headers"]).status_code == 200

        assert hold_queued(stack.amqp_url, [CORE_COMMANDS], block_meanwhile) == 1
        wait_until(lambda: scalar(stack.social_db, "SELECT status FROM messages WHERE id = "
                                                   f"{in_flight}") == "rejected", 20,
                   what="the in-flight message rejected")
        statuses = {m["id"]: m["status"] for m in social.get(
            f"/api/messages/{b['id']}", headers=a["headers"]).json()}
        assert statuses.get(before.json()["id"]) == "sent"
        assert in_flight not in {m["id"] for m in social.get(
            f"/api/messages/{a['id']}", headers=b["headers"]).json()}
        assert scalar(stack.social_db, "SELECT count(*) FROM notifications WHERE "
                                       f"type = 'message' AND reference_id = {in_flight}") == 0
        assert scalar(stack.social_db, "SELECT count(*) FROM outbox WHERE message_type = "
                                       "'message.sent'") == 1
        saga = next(s for s in httpx.get(f"{stack.social.url}/ops/sagas",
                                         params={"type": "send_message"}).json()
                    if s["status"] != "completed")
        assert saga["status"] == "compensated" and saga["reason"] == \
            "You cannot message this user"
        assert_consistent(stack)
