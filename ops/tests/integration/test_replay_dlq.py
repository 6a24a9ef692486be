"""The dead-letter replayer against a real RabbitMQ: each test declares the
project's topology in a fresh vhost, gets messages dead-lettered the way it
happens in production (nacked with requeue until the delivery limit, or
rejected), replays them and checks where they are by consuming the queues."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from instasaga.queues import CORE_EVENTS, SOCIAL_COMMANDS, SOCIAL_NOTIFICATIONS, SOCIAL_PROJECTIONS
from instasaga.topology import system_topology
from ops_tools.replay_dlq import (
    KEPT,
    MOVED,
    REPLAYED_AT,
    REPLAYED_FROM,
    WOULD_KEEP,
    WOULD_MOVE,
    ReplayError,
    ReplayReport,
    main,
    read_death,
    replay_dlq,
)
from shared_lib.messaging.topology import declare_topology

DELIVERY_LIMIT = 2
PROJECTIONS = SOCIAL_PROJECTIONS
PROJECTIONS_DLQ = f"{PROJECTIONS}.dlq"
NOTIFICATIONS = SOCIAL_NOTIFICATIONS
COMMANDS = SOCIAL_COMMANDS
COMMANDS_DLQ = f"{COMMANDS}.dlq"


@dataclass
class Mq:
    url: str
    connection: AbstractConnection
    channel: AbstractChannel  # publisher confirms, mandatory returns raise


@pytest.fixture
async def mq(new_vhost: Callable[[], str]) -> AsyncIterator[Mq]:
    url = new_vhost()
    connection = await aio_pika.connect(url)
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    await declare_topology(channel, system_topology(), DELIVERY_LIMIT)
    yield Mq(url, connection, channel)
    await connection.close()


@dataclass(frozen=True)
class Sent:
    message_id: str
    type: str
    correlation_id: str
    body: bytes


async def _publish(mq: Mq, exchange: str, routing_key: str, message_type: str) -> Sent:
    """Publish as the services' broker does (confirmed, mandatory, same properties)."""
    sent = Sent(str(uuid.uuid4()), message_type, str(uuid.uuid4()),
                json.dumps({"type": message_type, "payload": {"post_id": 7}}).encode())
    message = aio_pika.Message(
        body=sent.body, content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT, message_id=sent.message_id,
        type=message_type, correlation_id=sent.correlation_id, app_id="core-service",
        headers={"x-correlation-id": sent.correlation_id})
    ex = (mq.channel.default_exchange if exchange == ""
          else await mq.channel.get_exchange(exchange, ensure=False))
    await ex.publish(message, routing_key=routing_key, mandatory=True, timeout=10)
    return sent


async def _get(mq: Mq, queue: str, timeout: float = 10.0) -> AbstractIncomingMessage:
    """The next message of a queue, waiting for it to arrive."""
    q = await mq.channel.get_queue(queue, ensure=False)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = await q.get(no_ack=False, fail=False)
        if message is not None:
            return message
        if loop.time() > deadline:
            raise AssertionError(f"nothing arrived in {queue} within {timeout} s")
        await asyncio.sleep(0.05)


async def _take_all(mq: Mq, queue: str, quiet: float = 1.0) -> list[AbstractIncomingMessage]:
    """Consume (and ack) everything in a queue until it has stayed empty for ``quiet`` s."""
    q = await mq.channel.get_queue(queue, ensure=False)
    loop = asyncio.get_running_loop()
    got: list[AbstractIncomingMessage] = []
    quiet_until = loop.time() + quiet
    while loop.time() < quiet_until:
        message = await q.get(no_ack=False, fail=False)
        if message is None:
            await asyncio.sleep(0.05)
            continue
        await message.ack()
        got.append(message)
        quiet_until = loop.time() + quiet
    return got


async def _wait_in_dlq(mq: Mq, dlq: str, message_id: str) -> None:
    """Wait until the broker has dead-lettered the message (at-least-once
    dead-lettering is asynchronous), then leave it there."""
    q = await mq.channel.get_queue(dlq, ensure=False)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        held = []
        while (message := await q.get(no_ack=False, fail=False)) is not None:
            held.append(message)
        for message in held:
            await message.nack(requeue=True)
        if message_id in [m.message_id for m in held]:
            return
        assert loop.time() < deadline, f"{message_id} never reached {dlq}"
        await asyncio.sleep(0.05)


async def _dead_letter_by_delivery_limit(mq: Mq, exchange: str, routing_key: str,
                                         message_type: str, queue: str) -> Sent:
    """A handler that keeps failing: nacked with requeue past the delivery limit."""
    sent = await _publish(mq, exchange, routing_key, message_type)
    for _ in range(DELIVERY_LIMIT + 1):
        message = await _get(mq, queue)
        assert message.message_id == sent.message_id
        await message.nack(requeue=True)
    await _wait_in_dlq(mq, f"{queue}.dlq", sent.message_id)
    return sent


async def _dead_letter_by_rejection(mq: Mq, exchange: str, routing_key: str,
                                   message_type: str, queue: str) -> Sent:
    """A poison message: rejected without requeue at once."""
    sent = await _publish(mq, exchange, routing_key, message_type)
    message = await _get(mq, queue)
    assert message.message_id == sent.message_id
    await message.reject(requeue=False)
    await _wait_in_dlq(mq, f"{queue}.dlq", sent.message_id)
    return sent


def _assert_same(message: AbstractIncomingMessage, sent: Sent) -> None:
    assert message.message_id == sent.message_id
    assert message.body == sent.body
    assert message.type == sent.type
    assert message.correlation_id == sent.correlation_id


def _assert_dead_lettered(message: AbstractIncomingMessage, sent: Sent, queue: str) -> None:
    """Still in the dead-letter queue, untouched: same message, same x-death."""
    _assert_same(message, sent)
    headers: dict[str, Any] = message.headers or {}
    assert headers["x-death"][0]["queue"] == queue
    assert REPLAYED_FROM not in headers


# ------------------------------------------------------------------ moving
async def test_a_message_dead_lettered_by_the_delivery_limit_goes_back(mq: Mq) -> None:
    sent = await _dead_letter_by_delivery_limit(
        mq, CORE_EVENTS, "user.deleted", "user.deleted", PROJECTIONS)
    lines: list[str] = []
    before = datetime.now(UTC)

    report = await replay_dlq(mq.url, PROJECTIONS_DLQ, out=lines.append)

    assert report.ok, report.to_text()
    assert [o.action for o in report.outcomes] == [MOVED]
    death = report.outcomes[0].death
    assert death is not None
    assert (death.exchange, death.routing_key, death.queue, death.reason, death.count) == (
        CORE_EVENTS, "user.deleted", PROJECTIONS, "delivery_limit", 1)
    assert len(lines) == 1
    for part in (MOVED, sent.message_id, "user.deleted", "core.events/user.deleted",
                 "delivery_limit x1"):
        assert part in lines[0], lines
    assert report.total() == f"{PROJECTIONS_DLQ}: 1 moved, 0 kept"

    back = await _get(mq, PROJECTIONS)
    _assert_same(back, sent)
    headers: dict[str, Any] = back.headers or {}
    assert "x-death" not in headers
    assert not [h for h in headers if h.startswith("x-first-death")]
    assert headers["x-correlation-id"] == sent.correlation_id
    assert headers[REPLAYED_FROM] == PROJECTIONS_DLQ
    assert before <= datetime.fromisoformat(headers[REPLAYED_AT]) <= datetime.now(UTC)
    assert headers.get("x-delivery-count", 0) == 0  # counted afresh by the queue
    assert back.content_type == "application/json" and back.app_id == "core-service"
    assert back.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert await _take_all(mq, PROJECTIONS_DLQ) == []

    # published to the exchange: the sibling queue bound to the same key gets it again
    # (its consumer's inbox skips it)
    copies = await _take_all(mq, NOTIFICATIONS)
    assert [m.message_id for m in copies] == [sent.message_id] * 2
    assert REPLAYED_FROM in (copies[1].headers or {})

    # a fresh delivery limit, and a new history when it dies again
    for _ in range(DELIVERY_LIMIT):
        await back.nack(requeue=True)
        back = await _get(mq, PROJECTIONS)
    await back.reject(requeue=False)
    again = await _get(mq, PROJECTIONS_DLQ)
    _assert_same(again, sent)
    deaths = (again.headers or {})["x-death"]
    assert [(d["reason"], d["count"]) for d in deaths] == [("rejected", 1)]
    assert (again.headers or {})[REPLAYED_FROM] == PROJECTIONS_DLQ


async def test_rejected_commands_go_back_one_each_and_limit_stops_early(mq: Mq) -> None:
    sent = [await _dead_letter_by_rejection(mq, COMMANDS, "index_post_hashtags",
                                            "index_post_hashtags", COMMANDS)
            for _ in range(3)]
    first = await replay_dlq(mq.url, COMMANDS_DLQ, limit=2)
    assert first.ok and len(first.moved) == 2, first.to_text()
    assert {o.death.reason for o in first.moved if o.death} == {"rejected"}
    rest = await replay_dlq(mq.url, COMMANDS_DLQ)
    assert rest.ok and len(rest.moved) == 1, rest.to_text()
    assert await replay_dlq(mq.url, COMMANDS_DLQ) == ReplayReport(COMMANDS_DLQ, dry_run=False)

    back = await _take_all(mq, COMMANDS)
    assert sorted(m.message_id or "" for m in back) == sorted(s.message_id for s in sent)
    assert len({m.message_id for m in back}) == 3  # one copy each
    assert await _take_all(mq, COMMANDS_DLQ) == []


async def test_dry_run_lists_and_moves_nothing(mq: Mq) -> None:
    sent = [await _dead_letter_by_rejection(mq, CORE_EVENTS, "user.registered",
                                            "user.registered", PROJECTIONS) for _ in range(2)]
    lines: list[str] = []
    report = await replay_dlq(mq.url, PROJECTIONS_DLQ, dry_run=True, out=lines.append)
    assert report.ok, report.to_text()
    assert [o.action for o in report.outcomes] == [WOULD_MOVE, WOULD_MOVE]
    assert all("core.events/user.registered" in line for line in lines)
    assert report.total().endswith("2 would be moved, 0 would be kept")

    assert await _take_all(mq, PROJECTIONS) == []
    left = await _take_all(mq, PROJECTIONS_DLQ)
    assert sorted(m.message_id or "" for m in left) == sorted(s.message_id for s in sent)
    for message in left:
        _assert_dead_lettered(message, next(s for s in sent if s.message_id ==
                                            message.message_id), PROJECTIONS)


# ----------------------------------------------------------------- keeping
async def test_a_message_older_than_the_replay_window_stays(mq: Mq) -> None:
    sent = await _dead_letter_by_rejection(mq, CORE_EVENTS, "post.liked", "post.liked",
                                           PROJECTIONS)
    four_days_later = datetime.now(UTC) + timedelta(days=4)
    report = await replay_dlq(mq.url, PROJECTIONS_DLQ, now=lambda: four_days_later)
    assert not report.ok
    assert [o.action for o in report.outcomes] == [KEPT]
    assert "beyond the replay window of 3.0 days" in report.outcomes[0].why
    assert report.total() == f"{PROJECTIONS_DLQ}: 0 moved, 1 kept"
    dry = await replay_dlq(mq.url, PROJECTIONS_DLQ, dry_run=True, now=lambda: four_days_later)
    assert [o.action for o in dry.outcomes] == [WOULD_KEEP] and not dry.ok
    assert await _take_all(mq, PROJECTIONS) == []
    # still there, and still movable within a wider window
    wider = await replay_dlq(mq.url, PROJECTIONS_DLQ, now=lambda: four_days_later,
                             max_age_seconds=5 * 86_400)
    assert wider.ok and len(wider.moved) == 1, wider.to_text()
    _assert_same(await _get(mq, PROJECTIONS), sent)


async def test_a_message_without_x_death_stays(mq: Mq) -> None:
    sent = await _publish(mq, "", PROJECTIONS_DLQ, "post.published")  # put there by hand
    report = await replay_dlq(mq.url, PROJECTIONS_DLQ)
    assert not report.ok
    assert [(o.action, o.why) for o in report.outcomes] == [(KEPT, "no x-death header")]
    left = await _take_all(mq, PROJECTIONS_DLQ)
    assert len(left) == 1
    _assert_same(left[0], sent)


async def test_a_returned_message_stays(mq: Mq) -> None:
    sent = await _dead_letter_by_rejection(mq, COMMANDS, "purge_post", "purge_post", COMMANDS)
    queue = await mq.channel.get_queue(COMMANDS, ensure=False)
    await queue.unbind(COMMANDS, "purge_post")  # nothing would receive it
    report = await replay_dlq(mq.url, COMMANDS_DLQ)
    assert not report.ok
    assert [o.action for o in report.outcomes] == [KEPT]
    assert "returned by the broker" in report.outcomes[0].why
    left = await _take_all(mq, COMMANDS_DLQ)
    assert len(left) == 1
    _assert_dead_lettered(left[0], sent, COMMANDS)


async def test_cli_keeps_a_message_whose_exchange_is_gone_and_moves_the_others(
        mq: Mq, capsys: pytest.CaptureFixture[str]) -> None:
    gone = await _dead_letter_by_delivery_limit(
        mq, CORE_EVENTS, "comment.added", "comment.added", PROJECTIONS)
    # published straight to the queue through the default exchange, then rejected
    direct = await _dead_letter_by_rejection(mq, "", PROJECTIONS, "user.updated", PROJECTIONS)
    await mq.channel.exchange_delete(CORE_EVENTS)

    code = await asyncio.to_thread(main, [PROJECTIONS_DLQ, "--amqp-url", mq.url])

    out = capsys.readouterr().out.splitlines()
    assert code == 1, out
    assert out[0].startswith(KEPT) and gone.message_id in out[0]
    assert "core.events/comment.added (delivery_limit x1)" in out[0]
    assert "the exchange is missing" in out[0]
    assert out[1].startswith(MOVED) and direct.message_id in out[1]
    assert "(default exchange)/social.events.projections (rejected x1)" in out[1]
    assert out[2] == f"{PROJECTIONS_DLQ}: 1 moved, 1 kept"
    back = await _take_all(mq, PROJECTIONS)
    assert [m.message_id for m in back] == [direct.message_id]
    left = await _take_all(mq, PROJECTIONS_DLQ)
    assert len(left) == 1
    _assert_dead_lettered(left[0], gone, PROJECTIONS)

    assert await asyncio.to_thread(main, [PROJECTIONS_DLQ, "--amqp-url", mq.url]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{PROJECTIONS_DLQ}: 0 moved, 0 kept"]


async def test_cli_window_from_the_environment_dry_run_and_limit(
        mq: Mq, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    sent = [await _dead_letter_by_rejection(mq, CORE_EVENTS, "post.deleted", "post.deleted",
                                            PROJECTIONS) for _ in range(2)]
    monkeypatch.setenv("AMQP_URL", mq.url)
    monkeypatch.setenv("DLQ_REPLAY_WINDOW_SECONDS", "1")
    await asyncio.sleep(2.1)  # x-death times have a resolution of one second

    assert await asyncio.to_thread(main, [PROJECTIONS_DLQ, "--dry-run"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in out[:2]] == [["would", "keep"]] * 2
    assert out[2].endswith("0 would be moved, 2 would be kept")

    assert await asyncio.to_thread(
        main, [PROJECTIONS_DLQ, "--max-age-seconds", "3600", "--limit", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[1] == f"{PROJECTIONS_DLQ}: 1 moved, 0 kept"
    moved = await _take_all(mq, PROJECTIONS)
    left = await _take_all(mq, PROJECTIONS_DLQ)
    assert len(moved) == 1 and len(left) == 1
    assert {moved[0].message_id, left[0].message_id} == {s.message_id for s in sent}


async def test_cli_refuses_what_is_not_a_dead_letter_queue(
        mq: Mq, capsys: pytest.CaptureFixture[str]) -> None:
    sent = await _publish(mq, CORE_EVENTS, "post.published", "post.published")
    assert await asyncio.to_thread(main, [PROJECTIONS, "--amqp-url", mq.url]) == 2
    assert "not a dead-letter queue" in capsys.readouterr().err
    assert await asyncio.to_thread(main, ["no.such.queue.dlq", "--amqp-url", mq.url]) == 2
    assert "no queue 'no.such.queue.dlq'" in capsys.readouterr().err
    _assert_same(await _get(mq, PROJECTIONS), sent)  # untouched
    with pytest.raises(ReplayError, match="cannot connect"):
        await replay_dlq("amqp://guest:secret@127.0.0.1:1/", PROJECTIONS_DLQ)


# ---------------------------------------------------------- x-death parsing
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(("headers", "problem"), [
    (None, "no x-death header"),
    ({"x-death": []}, "no x-death header"),
    ({"x-death": ["nope"]}, "x-death entry is not a table"),
    ({"x-death": [{"routing-keys": ["k"], "time": NOW}]}, "x-death has no exchange"),
    ({"x-death": [{"exchange": "e", "routing-keys": [], "time": NOW}]},
     "x-death has no routing key"),
    ({"x-death": [{"exchange": "e", "routing-keys": ["k"]}]}, "x-death has no time"),
])
def test_unusable_x_death(headers: dict[str, Any] | None, problem: str) -> None:
    assert read_death(headers) == (None, problem)


def test_x_death_first_entry_and_oldest_time() -> None:
    death, problem = read_death({"x-death": [
        {"exchange": CORE_EVENTS, "routing-keys": ["post.published", "cc"],
         "queue": PROJECTIONS, "reason": "delivery_limit", "count": 2, "time": NOW},
        {"exchange": "", "routing-keys": ["x"], "queue": "x", "reason": "expired", "count": 1,
         "time": NOW.replace(tzinfo=None) - timedelta(hours=1)},
    ]})
    assert problem == "" and death is not None
    assert (death.exchange, death.routing_key, death.queue, death.reason, death.count) == (
        CORE_EVENTS, "post.published", PROJECTIONS, "delivery_limit", 2)
    assert death.died_at == NOW - timedelta(hours=1)
