"""The initiator of each saga dies at each step boundary (FAILPOINTS, see
shared_lib.failpoints) and the saga still ends correctly after a restart:

* ``saga.after_start``: first transaction committed, command not published;
* ``outbox.after_publish``: command published, not marked sent (it goes again);
* ``consumer.after_commit`` on the replies queue: reply applied, not acked (it
  comes again and is ignored) -- on a rejection path this is the moment the
  saga has just started compensating.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from testkit.consistency import assert_consistent
from testkit.http import delete_account, register_and_login
from testkit.infra import Infra
from testkit.processes import ServiceProcess, wait_until
from testkit.sql import scalar
from testkit.stack import Stack, running_stack

pytestmark = pytest.mark.slow


def _restart(proc: ServiceProcess, failpoints: str | None = None) -> None:
    proc.stop()
    proc.env.pop("FAILPOINTS", None)
    if failpoints:
        proc.env["FAILPOINTS"] = failpoints
    proc.start()


def _send_and_crash(proc: ServiceProcess, request: Callable[[], object]) -> None:
    try:
        request()
    except httpx.HTTPError:
        pass  # the process may die before it answers
    wait_until(lambda: not proc.running, 20, what=f"{proc.name} crashed at its failpoint")


def _last_saga(db: str, saga_type: str) -> str:
    return str(scalar(db, f"SELECT status FROM sagas WHERE type = '{saga_type}' "
                          "ORDER BY created_at DESC LIMIT 1"))


def _outbox_drained(db: str) -> bool:
    return scalar(db, "SELECT count(*) FROM outbox "
                      "WHERE sent_at IS NULL AND parked_at IS NULL") == 0


def _crash_then_finish(stack: Stack, proc: ServiceProcess, db: str, saga_type: str,
                       failpoint: str, request: Callable[[], object],
                       expected: str = "completed") -> None:
    # the previous saga's last messages (a command the deadline scanner sent again
    # while the process was restarting, say) go out first: the failpoint is for this
    # saga's message, not for one of those published as the process starts
    wait_until(lambda: _outbox_drained(db), 20, what="the outbox drained")
    _restart(proc, failpoint)
    _send_and_crash(proc, request)
    _restart(proc)
    wait_until(lambda: _last_saga(db, saga_type) == expected, 30,
               what=f"{saga_type} {expected} after a crash at {failpoint}")


ASYNC = {"Prefer": "respond-async"}


def test_core_sagas_survive_a_crash_at_every_boundary(infra: Infra, tmp_path: Path) -> None:
    with running_stack(infra, tmp_path, gateway=False,
                       env={"SAGA_STEP_TIMEOUT_SECONDS": "5"}) as stack:
        core = httpx.Client(base_url=stack.core.url, timeout=10)
        a, b = register_and_login(core), register_and_login(core)
        h = {**a["headers"], **ASYNC}

        def post(content: str) -> Callable[[], object]:
            return lambda: core.post("/api/posts", json={"content": content}, headers=h)

        for i, fp in enumerate(["saga.after_start:create_post",
                                "outbox.after_publish:index_post_hashtags",
                                "consumer.after_commit:core.replies"]):
            _crash_then_finish(stack, stack.core, stack.core_db, "create_post", fp,
                               post(f"#crash{i}"))
        assert scalar(stack.core_db, "SELECT count(*) FROM posts WHERE status = 'published'") \
            == 3

        # compensating: the author is deactivated while social is away, so the last step
        # refuses and unindex_post_hashtags goes out; core dies right after that commit
        victim = register_and_login(core)
        stack.social.stop()
        core.post("/api/posts", json={"content": "#doomed"},
                  headers={**victim["headers"], **ASYNC})
        scalar(stack.core_db, f"UPDATE users SET is_active = false WHERE id = {victim['id']}")
        _restart(stack.core, "consumer.after_commit:core.replies")
        stack.social.start()
        wait_until(lambda: not stack.core.running, 20, what="core crashed while compensating")
        assert _last_saga(stack.core_db, "create_post") == "compensating"
        _restart(stack.core)
        wait_until(lambda: _last_saga(stack.core_db, "create_post") == "compensated", 30)
        scalar(stack.core_db, f"UPDATE users SET is_active = true WHERE id = {victim['id']}")

        post_ids = [int(x) for x in str(scalar(
            stack.core_db, "SELECT string_agg(id::text, ',') FROM posts "
                           "WHERE status = 'published'")).split(",")]
        for post_id, fp in zip(post_ids, ["outbox.after_publish:purge_post",
                                          "consumer.after_commit:core.replies"], strict=False):
            _crash_then_finish(stack, stack.core, stack.core_db, "delete_post", fp,
                               lambda p=post_id: core.delete(f"/api/posts/{p}", headers=h))
        for user, fp in ((a, "outbox.after_publish:purge_user"),
                         (b, "consumer.after_commit:core.replies")):
            _crash_then_finish(stack, stack.core, stack.core_db, "delete_account", fp,
                               lambda u=user: delete_account(core, u, ASYNC))
        assert scalar(stack.core_db, "SELECT count(*) FROM users") == 1  # only the victim
        assert_consistent(stack)
        core.close()


def test_social_sagas_survive_a_crash_at_every_boundary(infra: Infra, tmp_path: Path) -> None:
    with running_stack(infra, tmp_path, gateway=False,
                       env={"SAGA_STEP_TIMEOUT_SECONDS": "5"}) as stack:
        core = httpx.Client(base_url=stack.core.url, timeout=10)
        social = httpx.Client(base_url=stack.social.url, timeout=10)
        a, b = register_and_login(core), register_and_login(core)
        h = {**a["headers"], **ASYNC}
        for fp in ("saga.after_start:send_message", "outbox.after_publish:authorize_message",
                   "consumer.after_commit:social.replies"):
            _crash_then_finish(stack, stack.social, stack.social_db, "send_message", fp,
                               lambda: social.post("/api/messages", headers=h, json={
                                   "receiver_id": b["id"], "content": "hi"}))
        assert scalar(stack.social_db, "SELECT count(*) FROM messages WHERE status = 'sent'") \
            == 3
        for fp in ("saga.after_start:create_story", "outbox.after_publish:record_story",
                   "consumer.after_commit:social.replies"):
            _crash_then_finish(stack, stack.social, stack.social_db, "create_story", fp,
                               lambda: social.post("/api/stories", headers=h,
                                                   json={"content": "day"}))
        assert scalar(stack.social_db, "SELECT count(*) FROM stories WHERE status = 'active'") \
            == 3
        assert scalar(stack.core_db, "SELECT count(*) FROM story_records") == 3
        assert_consistent(stack)
        core.close()
        social.close()
