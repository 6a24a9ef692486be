"""A password change whose events reach social late: social still refuses the old
access tokens at once, from the session revocations on their own queue, or, with
those late too, from the first newer token it sees."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from instasaga.queues import SOCIAL_PROJECTIONS, SOCIAL_SESSIONS
from testkit.consistency import assert_consistent
from testkit.http import PASSWORD, register_and_login
from testkit.infra import Infra
from testkit.processes import wait_until
from testkit.queues import hold_queued
from testkit.sql import scalar
from testkit.stack import Stack, running_stack

pytestmark = pytest.mark.slow

PROJECTIONS = SOCIAL_PROJECTIONS
SESSIONS = SOCIAL_SESSIONS


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _change_password_while_social_is_away(stack: Stack, core: httpx.Client,
                                          social: httpx.Client) -> tuple[dict, str]:  # type: ignore[type-arg]
    """A user known to social changes the password while social is stopped; returns
    the user and the old access token, once core has published the change's events."""
    u = register_and_login(core)
    wait_until(lambda: social.get("/api/notifications", headers=u["headers"]).status_code == 200,
               10, what="social accepts the token")
    stack.social.stop()
    r = core.put("/api/auth/password", headers=u["headers"],
                 json={"current_password": PASSWORD, "new_password": "n3w-secret"})
    assert r.status_code == 204, r.text
    wait_until(lambda: scalar(stack.core_db, "SELECT count(*) FROM outbox "
                                             "WHERE sent_at IS NULL") == 0,
               10, what="core published the change")
    return u, u["headers"]["Authorization"][7:]


def test_the_revocation_overtakes_a_late_user_updated(infra: Infra, tmp_path: Path) -> None:
    with running_stack(infra, tmp_path, gateway=False) as stack, \
            httpx.Client(base_url=stack.core.url, timeout=30) as core:
        social = httpx.Client(base_url=stack.social.url, timeout=30)
        _, old = _change_password_while_social_is_away(stack, core, social)

        def while_user_updated_waits() -> None:
            stack.social.start()
            wait_until(lambda: social.get("/api/notifications",
                                          headers=_bearer(old)).status_code == 401,
                       3, 0.05, "social refuses the old token")
            assert scalar(stack.social_db, "SELECT token_version FROM users") == 1

        assert hold_queued(stack.amqp_url, [PROJECTIONS], while_user_updated_waits) == 1
        wait_until(lambda: scalar(stack.social_db, "SELECT token_version FROM users") == 2,
                   10, what="user.updated applied")
        assert_consistent(stack)
        social.close()


def test_a_newer_token_fails_the_older_ones_closed(infra: Infra, tmp_path: Path) -> None:
    with running_stack(infra, tmp_path, gateway=False) as stack, \
            httpx.Client(base_url=stack.core.url, timeout=30) as core:
        social = httpx.Client(base_url=stack.social.url, timeout=30)
        u, old = _change_password_while_social_is_away(stack, core, social)

        def while_both_wait() -> None:
            stack.social.start()
            # social has heard of neither event: the old token still passes there
            assert social.get("/api/notifications", headers=_bearer(old)).status_code == 200
            fresh = core.post("/api/auth/login", json={"email": f"{u['username']}@example.com",
                                                       "password": "n3w-secret"})
            assert fresh.status_code == 200, fresh.text
            new = fresh.json()["access_token"]
            # a hot path's own token check (fused with its read) learns it as well
            assert social.get("/api/search/hashtags", params={"q": "a"},
                              headers=_bearer(new)).status_code == 200
            # the signed newer token told social the user's version: the old one is refused
            assert social.get("/api/notifications", headers=_bearer(old)).status_code == 401
            assert social.get("/api/search/hashtags", params={"q": "a"},
                              headers=_bearer(old)).status_code == 401

        assert hold_queued(stack.amqp_url, [PROJECTIONS, SESSIONS], while_both_wait) == 2
        wait_until(lambda: scalar(stack.social_db, "SELECT count(*) FROM revoked_sessions") == 1
                   and scalar(stack.social_db, "SELECT count(*) FROM inbox WHERE "
                                               "message_type = 'user.updated'") == 1,
                   10, what="the held events applied")
        assert scalar(stack.social_db, "SELECT token_version FROM users") == 2
        assert_consistent(stack)
        social.close()
