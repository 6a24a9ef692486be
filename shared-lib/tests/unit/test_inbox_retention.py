"""A service refuses an inbox window shorter than its longest saga plus the
replay window of dead-lettered messages (a later copy would run twice)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from instasaga.messages import PurgePost, PurgeUser, UnindexPostHashtags
from shared_lib.messaging.topology import Topology
from shared_lib.runtime import ServiceRuntime
from shared_lib.saga import (
    LocalStep,
    RemoteStep,
    SagaContext,
    SagaData,
    SagaDefinition,
    SagaOrchestrator,
)
from shared_lib.settings import ServiceSettings


async def _noop(ctx: SagaContext) -> None:
    return None


SAGA = SagaDefinition("demo", SagaData, (
    LocalStep("a", _noop, compensation=_noop),
    RemoteStep("b", lambda d: UnindexPostHashtags(post_id=1),
               compensation=lambda d: PurgePost(post_id=1)),
    RemoteStep("c", lambda d: PurgeUser(user_id=1, seq=1), cancel_on_timeout=True),
    RemoteStep("d", lambda d: PurgePost(post_id=1)),
))


def test_longest_lifetime_counts_every_resend_and_compensation() -> None:
    o = SagaOrchestrator(service="core", definitions=[SAGA], step_timeout=10, max_attempts=3,
                         compensation_max_attempts=3, clock=lambda: None)  # type: ignore[arg-type]
    # three remote steps x 3 attempts x 10 s, then two steps undone: 10 + 20 + 40 s each
    assert o.longest_lifetime() == timedelta(seconds=3 * 3 * 10 + 2 * 70)


def _runtime(**settings: object) -> ServiceRuntime:
    return ServiceRuntime(service="core", sagas=[SAGA], topology=Topology(exchanges=()),
                          settings=ServiceSettings(environment="test", **settings))


def test_default_windows_are_consistent() -> None:
    _runtime().check_inbox_retention()


def test_an_inbox_window_shorter_than_saga_plus_replay_window_is_refused() -> None:
    with pytest.raises(ValueError, match="RETENTION_INBOX_SECONDS"):
        _runtime(retention_inbox_seconds=3 * 86400).check_inbox_retention()
    _runtime(retention_inbox_seconds=3 * 86400,
             dlq_replay_window_seconds=86400).check_inbox_retention()
