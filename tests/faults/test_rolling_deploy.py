"""A rolling deploy: either service may run a newer or an older version than the
other for a while. Each declares the topology from its own subscriptions, so a newer
peer binds event types (and versions) an older consumer does not handle, and an older
peer keeps bindings a newer consumer dropped. No such message is dead-lettered: the
consumer sets it aside in the publisher's unrouted queue, and the replay tool puts it
back once a version that handles it runs."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from instasaga.messages import UserRegistered
from instasaga.queues import CORE_EVENTS, CORE_UNROUTED, SOCIAL_NOTIFICATIONS, SOCIAL_PROJECTIONS
from ops_tools.replay_dlq import replay_dlq
from shared_lib.contracts import envelope_for
from testkit.infra import Infra, run_sync
from testkit.processes import wait_until
from testkit.sql import scalar
from testkit.stack import Stack, running_stack

pytestmark = pytest.mark.slow

PROJECTIONS = SOCIAL_PROJECTIONS
NOTIFICATIONS = SOCIAL_NOTIFICATIONS
UNROUTED = CORE_UNROUTED


def _on_broker(stack: Stack, work: Callable[[aio_pika.abc.AbstractChannel], Awaitable[Any]]
               ) -> Any:
    async def go() -> Any:
        conn = await aio_pika.connect(stack.amqp_url)
        try:
            return await work(await conn.channel(publisher_confirms=True))
        finally:
            await conn.close()

    return run_sync(go())


def _publish_event(stack: Stack, body: dict[str, Any], routing_key: str) -> None:
    async def work(channel: aio_pika.abc.AbstractChannel) -> None:
        exchange = await channel.get_exchange(CORE_EVENTS)
        await exchange.publish(aio_pika.Message(json.dumps(body).encode(),
                                                delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                               routing_key=routing_key, mandatory=True)
    _on_broker(stack, work)


def _bind(stack: Stack, queue: str, key: str, bind: bool = True) -> None:
    async def work(channel: aio_pika.abc.AbstractChannel) -> None:
        q = await channel.get_queue(queue)
        if bind:
            await q.bind(CORE_EVENTS, key)
        else:
            await q.unbind(CORE_EVENTS, key)
    _on_broker(stack, work)


def _depth(stack: Stack, queue: str) -> int:
    async def work(channel: aio_pika.abc.AbstractChannel) -> int:
        q = await channel.declare_queue(queue, passive=True)
        return q.declaration_result.message_count or 0
    return int(_on_broker(stack, work))


def _dead_lettered(stack: Stack) -> int:
    return sum(_depth(stack, f"{q}.dlq") for q in (PROJECTIONS, NOTIFICATIONS))


def test_what_a_newer_publisher_sends_is_set_aside_not_dead_lettered(
        infra: Infra, tmp_path: Path) -> None:
    with running_stack(infra, tmp_path, gateway=False) as stack:
        known = envelope_for(UserRegistered(seq=1, user_id=9001, username="nine"),
                             source="core").model_dump(mode="json")
        newer_type = {**known, "message_id": str(uuid.uuid4()), "type": "user.renamed"}
        newer_version = {**known, "message_id": str(uuid.uuid4()), "version": 2}
        # a newer core's subscriptions bind its new event to social's projections
        _bind(stack, PROJECTIONS, "user.renamed")
        _publish_event(stack, newer_type, "user.renamed")
        _publish_event(stack, newer_version, "user.registered")
        wait_until(lambda: _depth(stack, UNROUTED) == 2, 20, what="both set aside")
        assert _dead_lettered(stack) == 0
        assert "set aside user.renamed" in stack.social.log_path.read_text()
        # the consumer goes on: the current version of the event is handled
        _publish_event(stack, known, "user.registered")
        wait_until(lambda: scalar(stack.social_db, "SELECT count(*) FROM users "
                                                   "WHERE id = 9001") == 1,
                   10, what="the known event handled")
        assert _dead_lettered(stack) == 0


def test_what_an_older_peer_still_binds_is_set_aside_then_replayed(
        infra: Infra, tmp_path: Path) -> None:
    with running_stack(infra, tmp_path, gateway=False) as stack:
        event = envelope_for(UserRegistered(seq=1, user_id=9002, username="ninety"),
                             source="core").model_dump(mode="json")
        # an older manifest bound user.registered to the notifications queue too, which
        # this version handles only on the projections queue
        _bind(stack, NOTIFICATIONS, "user.registered")
        _publish_event(stack, event, "user.registered")
        wait_until(lambda: _depth(stack, UNROUTED) == 1, 20, what="the copy set aside")
        wait_until(lambda: scalar(stack.social_db, "SELECT count(*) FROM users "
                                                   "WHERE id = 9002") == 1,
                   10, what="projected from its own queue")
        assert _dead_lettered(stack) == 0

        # the older peer is gone (its binding with it): the replay puts the copy back
        _bind(stack, NOTIFICATIONS, "user.registered", bind=False)
        report = run_sync(replay_dlq(stack.amqp_url, UNROUTED))
        assert report.ok and len(report.moved) == 1, report.to_text()
        wait_until(lambda: scalar(stack.social_db, "SELECT count(*) FROM inbox WHERE "
                                  f"consumer = '{PROJECTIONS}' AND message_type = "
                                  "'user.registered'") >= 1, 10)
        wait_until(lambda: _depth(stack, PROJECTIONS) == 0, 30, what="the replay consumed")
        assert _depth(stack, UNROUTED) == 0 and _dead_lettered(stack) == 0
