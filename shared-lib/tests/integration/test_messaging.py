"""Outbox relay, inbox and consumer against real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aio_pika
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from instasaga.messages import PurgePost, UserDeleted
from instasaga.queues import CORE_EVENTS, CORE_REPLIES, SOCIAL_COMMANDS, SOCIAL_PROJECTIONS, dlq_of
from instasaga.topology import system_topology
from shared_lib.contracts import Envelope, SagaReply, envelope_for
from shared_lib.database import Database, Queries, Statement
from shared_lib.db import make_engine
from shared_lib.messaging import Broker
from shared_lib.messaging.consumer import (
    MessageConsumer,
    MessageContext,
    direct,
    one_statement,
)
from shared_lib.messaging.inbox import claimed
from shared_lib.messaging.subscriptions import Subscriptions
from shared_lib.metrics import Metrics
from shared_lib.outbox import (
    OUTBOX_DISPATCH,
    OutboxDispatcher,
    OutboxMessage,
    OutboxRelay,
    add_to_outbox,
    publish_caused_by,
    publish_event,
    write_events,
)
from shared_lib.saga.participant import CommandRejected, handles_saga_command, saga_message_id
from shared_lib.tables import messaging_metadata, outbox

test_metadata = MetaData()
effects = Table("effects", test_metadata, Column("post_id", Integer, primary_key=True),
                Column("times", Integer, nullable=False))


@dataclass
class Env:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    broker: Broker
    amqp_url: str
    db: Database


@pytest.fixture
async def env(new_database, new_vhost) -> AsyncIterator[Env]:  # type: ignore[no-untyped-def]
    url = new_database()
    engine = make_engine(url, pool_size=10)
    async with engine.begin() as conn:
        await conn.run_sync(messaging_metadata.create_all)
        await conn.run_sync(test_metadata.create_all)
    amqp_url = new_vhost()
    broker = Broker(amqp_url, "social", system_topology(), delivery_limit=3)
    await broker.connect(10)
    db = Database(url, size=4)
    await db.open()
    yield Env(engine, async_sessionmaker(engine, expire_on_commit=False), broker, amqp_url,
              db)
    await db.close()
    await broker.close()
    await engine.dispose()


async def _tap(env: Env, exchange: str, key: str = "#") -> aio_pika.abc.AbstractQueue:
    """A private queue that sees what is published to an exchange."""
    channel = await env.broker.connection.channel()
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, key)
    return queue


async def _drain(queue: aio_pika.abc.AbstractQueue, n: int, timeout: float = 10
                 ) -> list[Envelope]:
    got: list[Envelope] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while len(got) < n and loop.time() < end:
        msg = await queue.get(fail=False)
        if msg is None:
            await asyncio.sleep(0.02)
            continue
        await msg.ack()
        got.append(Envelope.model_validate_json(msg.body))
    return got


async def test_relay_publishes_committed_messages_in_order_and_nothing_rolled_back(env: Env
                                                                                   ) -> None:
    tap = await _tap(env, CORE_EVENTS)
    committed = []
    async with env.sessions() as s, s.begin():
        for uid in (1, 2, 3):
            committed.append(await publish_event(s, UserDeleted(seq=1, user_id=uid),
                                                 source="core"))
    async with env.sessions() as s:
        await s.begin()
        await publish_event(s, UserDeleted(seq=1, user_id=99), source="core")
        await s.rollback()
    relay = OutboxRelay(env.db, env.broker)
    assert await relay.publish_batch() == 3
    assert await relay.publish_batch() == 0
    got = await _drain(tap, 3)
    assert [e.message_id for e in got] == [e.message_id for e in committed]
    assert await tap.get(fail=False) is None  # nothing from the rolled-back transaction
    async with env.engine.connect() as conn:
        unsent = await conn.scalar(select(text("count(*)")).select_from(outbox)
                                   .where(outbox.c.sent_at.is_(None)))
    assert unsent == 0


async def test_undeliverable_message_stays_in_outbox_and_others_flow(env: Env) -> None:
    tap = await _tap(env, CORE_EVENTS)
    async with env.sessions() as s, s.begin():
        await add_to_outbox(s, envelope_for(PurgePost(post_id=2), source="core"),
                            "no.such.exchange")
    relay = OutboxRelay(env.db, env.broker)
    assert await relay.publish_batch() == 1
    async with env.sessions() as s, s.begin():
        ok = await publish_event(s, UserDeleted(seq=1, user_id=5), source="core")

    async def delivered() -> bool:
        try:
            await relay.publish_batch()  # the channel may still be reopening
        except Exception:
            return False
        return True

    await _wait(delivered)
    assert [e.message_id for e in await _drain(tap, 1)] == [ok.message_id]
    async with env.engine.connect() as conn:
        bad = (await conn.execute(select(outbox).where(
            outbox.c.exchange == "no.such.exchange"))).one()
    assert bad.sent_at is None and bad.attempts == 1 and bad.next_attempt_at is not None
    assert "no.such.exchange" in bad.last_error


async def _unsent(env: Env) -> int:
    async with env.engine.connect() as conn:
        return int(await conn.scalar(select(text("count(*)")).select_from(outbox)
                                     .where(outbox.c.sent_at.is_(None))))


@asynccontextmanager
async def _dispatching(env: Env) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A running dispatcher both data paths hand their commits to: ``env.db``, and the
    sessions this yields."""
    dispatcher = OutboxDispatcher(env.db, env.broker)
    env.db.outbox_dispatch = dispatcher.submit_arrays
    task = asyncio.create_task(dispatcher.run())
    try:
        yield async_sessionmaker(env.engine, expire_on_commit=False,
                                 info={OUTBOX_DISPATCH: dispatcher.submit})
    finally:
        task.cancel()
        env.db.outbox_dispatch = None


@pytest.mark.parametrize("path", ["direct", "session"])
async def test_the_dispatcher_publishes_what_a_commit_wrote_and_marks_it_sent(
        env: Env, path: str) -> None:
    """Both data paths hand their committed rows over; a rolled-back transaction's
    never reach the dispatcher; the relay, within its grace, leaves the rows alone."""
    tap = await _tap(env, CORE_EVENTS)
    async with _dispatching(env) as sessions:
        payloads = [UserDeleted(seq=1, user_id=uid) for uid in (1, 2, 3)]
        if path == "direct":
            async with env.db.transaction() as q:
                committed = await write_events(q, payloads, source="core")
            with pytest.raises(RuntimeError):
                async with env.db.transaction() as q:
                    await write_events(q, [UserDeleted(seq=1, user_id=99)], source="core")
                    raise RuntimeError("rolled back")
        else:
            async with sessions() as s, s.begin():
                committed = [await publish_event(s, p, source="core") for p in payloads]
            async with sessions() as s:
                await s.begin()
                await publish_event(s, UserDeleted(seq=1, user_id=99), source="core")
                await s.rollback()
        got = await _drain(tap, 3)
        assert [e.message_id for e in got] == [e.message_id for e in committed]

        async def all_sent() -> bool:
            return await _unsent(env) == 0

        await _wait(all_sent)
        assert await OutboxRelay(env.db, env.broker, grace_seconds=60).publish_batch() == 0
        assert await tap.get(fail=False) is None


async def test_what_the_dispatcher_could_not_publish_the_relay_sweeps_after_its_grace(
        env: Env) -> None:
    tap = await _tap(env, CORE_EVENTS)
    broken = Broker(env.amqp_url, "core", system_topology(), delivery_limit=3)  # never connected
    dispatcher = OutboxDispatcher(env.db, broken)
    async with env.db.transaction() as q:
        committed = await write_events(q, [UserDeleted(seq=1, user_id=7)], source="core")
        arrays = q._outbox[0] if q._outbox else None
    assert arrays is None  # no dispatch set on this database: nothing was kept
    async with env.sessions() as s:
        rows = (await s.execute(select(outbox.c.message_id, outbox.c.exchange,
                                       outbox.c.routing_key, outbox.c.message_type,
                                       outbox.c.body, outbox.c.correlation_id))).all()
    assert await dispatcher.dispatch([OutboxMessage(*r) for r in rows]) == 0
    assert await _unsent(env) == 1
    assert await OutboxRelay(env.db, env.broker, grace_seconds=60).publish_batch() == 0
    assert await OutboxRelay(env.db, env.broker).publish_batch() == 1
    assert [e.message_id for e in await _drain(tap, 1)] == [committed[0].message_id]
    assert await _unsent(env) == 0


async def test_relay_competes_safely_with_another_replica(env: Env) -> None:
    tap = await _tap(env, CORE_EVENTS)
    async with env.sessions() as s, s.begin():
        for uid in range(50):
            await publish_event(s, UserDeleted(seq=1, user_id=uid), source="core")
    relays = [OutboxRelay(env.db, env.broker, batch_size=7) for _ in range(2)]

    async def drain(relay: OutboxRelay) -> None:
        while True:
            n = await relay.publish_batch()
            if n == 0:
                return
            if n is None:
                await asyncio.sleep(0.005)

    await asyncio.gather(*(drain(r) for r in relays))
    got = await _drain(tap, 50)
    assert [e.payload["user_id"] for e in got] == list(range(50))  # one copy each, in order
    assert await tap.get(fail=False) is None


async def test_a_row_for_a_missing_exchange_is_charged_alone(env: Env) -> None:
    """One bad row in the middle of a batch: the others are published and marked
    sent in the same batch, only the bad one is charged, the connection stays."""
    tap = await _tap(env, CORE_EVENTS)
    connection = env.broker.connection
    async with env.sessions() as s, s.begin():
        good = [await publish_event(s, UserDeleted(seq=1, user_id=uid), source="core")
                for uid in range(20)]
        await add_to_outbox(s, envelope_for(PurgePost(post_id=2), source="core"),
                            "no.such.exchange")
        good += [await publish_event(s, UserDeleted(seq=1, user_id=uid), source="core")
                 for uid in range(20, 40)]
    relay = OutboxRelay(env.db, env.broker)
    assert await relay.publish_batch() == 41
    assert [e.message_id for e in await _drain(tap, 40)] == [e.message_id for e in good]
    async with env.engine.connect() as conn:
        rows = (await conn.execute(select(outbox).order_by(outbox.c.id))).all()
    assert [(r.sent_at is not None, r.attempts) for r in rows] == (
        [(True, 0)] * 20 + [(False, 1)] + [(True, 0)] * 20)
    assert env.broker.connection is connection and not connection.is_closed
    # the bad row waits for its next attempt; rows written meanwhile flow at once
    async with env.sessions() as s, s.begin():
        late = await publish_event(s, UserDeleted(seq=1, user_id=99), source="core")
    assert await relay.publish_batch() == 1
    assert [e.message_id for e in await _drain(tap, 1)] == [late.message_id]


async def test_a_row_that_keeps_failing_is_parked_and_can_be_republished(env: Env) -> None:
    """After ``max_attempts`` failed deliveries a row is parked: the relay leaves it,
    it is listed, and once its cause is fixed an operator makes it due again."""
    from shared_lib.outbox import parked_count, parked_rows, republish

    async with env.sessions() as s, s.begin():
        await add_to_outbox(s, envelope_for(PurgePost(post_id=3), source="core"),
                            "exchange.made.later")
    relay = OutboxRelay(env.db, env.broker, max_attempts=2)
    for _ in range(2):
        assert await relay.publish_batch() == 1
        async with env.engine.begin() as conn:  # its next attempt is due now
            await conn.execute(update(outbox).values(next_attempt_at=None))
    assert await relay.publish_batch() == 0  # parked: not picked any more
    async with env.engine.connect() as conn:
        (row,) = await parked_rows(conn)
        assert await parked_count(conn) == 1
    assert (row.attempts, row.exchange) == (2, "exchange.made.later")
    assert "exchange.made.later" in row.last_error

    channel = await env.broker.connection.channel()
    await channel.declare_exchange("exchange.made.later", aio_pika.ExchangeType.FANOUT)
    tap = await channel.declare_queue(exclusive=True)
    await tap.bind("exchange.made.later")
    async with env.engine.begin() as conn:
        assert await republish(conn, row.id)
        assert not await republish(conn, row.id)  # not parked any more
    assert await relay.publish_batch() == 1
    assert (await tap.get(timeout=5)).message_id is not None
    async with env.engine.connect() as conn:
        assert await parked_count(conn) == 0
        assert await conn.scalar(select(outbox.c.sent_at).where(outbox.c.id == row.id))
    await channel.close()


async def test_two_relays_never_publish_a_row_twice_while_rows_are_written(env: Env) -> None:
    """The batch query's snapshot predates the relay lock: rows the other relay
    marked sent in between must not be published again."""
    tap = await _tap(env, CORE_EVENTS)
    relays = [OutboxRelay(env.db, env.broker, batch_size=3) for _ in range(2)]
    written = 300
    done = asyncio.Event()

    async def write() -> None:
        for uid in range(written):
            async with env.sessions() as s, s.begin():
                await publish_event(s, UserDeleted(seq=1, user_id=uid), source="core")
        done.set()

    async def relay_loop(relay: OutboxRelay) -> None:
        while True:
            n = await relay.publish_batch()
            if n == 0 and done.is_set():
                return

    await asyncio.gather(write(), *(relay_loop(r) for r in relays))
    got = await _drain(tap, written, timeout=30)
    got += await _drain(tap, written, timeout=1)  # any duplicates
    ids = [e.payload["user_id"] for e in got]
    assert sorted(ids) == list(range(written)), "a row was published twice or never"


_EFFECT = Statement("effect", "INSERT INTO effects VALUES ($1, 1) ON CONFLICT (post_id)"
                               " DO UPDATE SET times = effects.times + 1")


def _purge_handler(calls: list[int]):  # type: ignore[no-untyped-def]
    async def handle(ctx: MessageContext, cmd: PurgePost) -> dict[str, int]:
        calls.append(cmd.post_id)
        if cmd.post_id < 0:
            raise CommandRejected("negative")
        if cmd.post_id == 666:
            raise RuntimeError("handler bug")
        if isinstance(ctx.transaction, Queries):  # a direct handler
            await ctx.q.execute(_EFFECT, cmd.post_id)
        else:
            await ctx.session.execute(text(
                "INSERT INTO effects VALUES (:p, 1) ON CONFLICT (post_id)"
                " DO UPDATE SET times = effects.times + 1"), {"p": cmd.post_id})
        return {"purged": cmd.post_id}
    return handle


async def _start_consumer(env: Env, calls: list[int], direct: bool = False
                          ) -> MessageConsumer:
    subscriptions = Subscriptions("social")
    handles_saga_command(subscriptions, PurgePost, direct=direct)(_purge_handler(calls))
    consumer = MessageConsumer(queue=SOCIAL_COMMANDS, service="social",
                               handlers=subscriptions.handlers()[SOCIAL_COMMANDS],
                               session_factory=env.sessions, metrics=Metrics("social"),
                               publisher=publish_caused_by, database=env.db)
    await env.broker.consume(SOCIAL_COMMANDS, consumer.on_message, prefetch=8)
    return consumer


def _command(post_id: int, saga_id: uuid.UUID, compensation: bool = False) -> Envelope:
    return envelope_for(PurgePost(post_id=post_id), source="core", correlation_id=saga_id,
                        message_id=saga_message_id(saga_id, "purge", compensation),
                        step="purge", reply_to=CORE_REPLIES, compensation=compensation)


def _count(consumer: MessageConsumer, counter: str) -> int:
    metrics = consumer._metrics
    assert metrics is not None
    return int(metrics.registry.get_sample_value(counter, {"queue": consumer.queue}) or 0)


async def _publish_raw(env: Env, exchange: str, body: bytes, key: str = "purge_post") -> None:
    channel = await env.broker.connection.channel()
    ex = await channel.get_exchange(exchange)
    await ex.publish(aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                     routing_key=key)
    await channel.close()


async def _wait(predicate, timeout: float = 10) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not await predicate():
        assert loop.time() < end, "condition not reached in time"
        await asyncio.sleep(0.02)


async def _replies(env: Env) -> list[SagaReply]:
    async with env.engine.connect() as conn:
        bodies = (await conn.execute(select(outbox.c.body).where(
            outbox.c.exchange == CORE_REPLIES).order_by(outbox.c.id))).scalars().all()
    return [SagaReply.model_validate(Envelope.model_validate_json(b).payload) for b in bodies]


@pytest.mark.parametrize("direct", [False, True], ids=["session", "direct"])
async def test_redelivered_command_changes_nothing_twice_and_gets_same_reply(
        env: Env, direct: bool) -> None:
    calls: list[int] = []
    consumer = await _start_consumer(env, calls, direct)
    saga = uuid.uuid4()
    body = _command(7, saga).model_dump_json().encode()
    for _ in range(3):
        await _publish_raw(env, SOCIAL_COMMANDS, body)

    async def three_replies() -> bool:
        return len(await _replies(env)) == 3

    await _wait(three_replies)
    replies = await _replies(env)
    assert {r.model_dump_json() for r in replies} == {
        SagaReply(outcome="accepted", data={"purged": 7}).model_dump_json()}
    assert calls == [7]
    async with env.engine.connect() as conn:
        assert await conn.scalar(text("SELECT times FROM effects WHERE post_id = 7")) == 1
    assert _count(consumer, "messages_duplicate_total") == 2


@pytest.mark.parametrize("direct", [False, True], ids=["session", "direct"])
async def test_compensation_overtaking_its_command_makes_the_command_a_no_op(
        env: Env, direct: bool) -> None:
    calls: list[int] = []
    await _start_consumer(env, calls, direct)
    saga = uuid.uuid4()
    await _publish_raw(env, SOCIAL_COMMANDS, _command(8, saga, True).model_dump_json().encode())

    async def one_reply() -> bool:
        return len(await _replies(env)) == 1

    await _wait(one_reply)
    await _publish_raw(env, SOCIAL_COMMANDS, _command(8, saga).model_dump_json().encode())

    async def two_replies() -> bool:
        return len(await _replies(env)) == 2

    await _wait(two_replies)
    late = (await _replies(env))[1]
    assert late.outcome == "rejected" and late.reason == "cancelled by compensation"
    assert calls == [8]  # only the compensation ran


@pytest.mark.parametrize("direct", [False, True], ids=["session", "direct"])
async def test_poison_messages_are_dead_lettered_and_the_queue_keeps_flowing(
        env: Env, direct: bool) -> None:
    calls: list[int] = []
    consumer = await _start_consumer(env, calls, direct)
    saga = uuid.uuid4()
    bad_type = _command(1, saga).model_copy(update={"type": "no_such_command"})
    bad_payload = _command(1, saga).model_copy(update={"payload": {"post_id": "x"}})
    poison = [b"not json at all", b'{"message_id": 1}',
              bad_type.model_dump_json().encode(), bad_payload.model_dump_json().encode(),
              _command(666, uuid.uuid4()).model_dump_json().encode()]
    for body in poison:
        await _publish_raw(env, SOCIAL_COMMANDS, body)
    await _publish_raw(env, SOCIAL_COMMANDS, _command(5, saga).model_dump_json().encode())

    async def processed() -> bool:
        return len(await _replies(env)) == 1

    await _wait(processed)
    channel = await env.broker.connection.channel()
    dlq = await channel.get_queue(dlq_of(SOCIAL_COMMANDS))
    dead: list[bytes] = []

    async def all_dead() -> bool:
        msg = await dlq.get(fail=False)
        if msg is not None:
            dead.append(msg.body)
            await msg.ack()
        return len(dead) == len(poison)

    await _wait(all_dead, timeout=20)
    assert sorted(dead) == sorted(poison)
    # the fifth failed until the delivery limit
    assert _count(consumer, "messages_dead_lettered_total") == 4
    assert calls.count(666) == 1 + 3  # first delivery plus x-delivery-limit redeliveries


def _cancel(saga_id: uuid.UUID) -> Envelope:
    from shared_lib.contracts import SagaCancel

    return envelope_for(SagaCancel(command_type="purge_post"), source="core",
                        correlation_id=saga_id,
                        message_id=saga_message_id(saga_id, "purge", True), step="purge",
                        reply_to=CORE_REPLIES, compensation=True)


@pytest.mark.parametrize("direct", [False, True], ids=["session", "direct"])
async def test_cancel_probe_before_and_after_the_command(env: Env, direct: bool) -> None:
    calls: list[int] = []
    await _start_consumer(env, calls, direct)
    before, after = uuid.uuid4(), uuid.uuid4()
    # the probe overtakes its command: the command will never run
    await _publish_raw(env, SOCIAL_COMMANDS, _cancel(before).model_dump_json().encode())

    async def n_replies(n: int):  # type: ignore[no-untyped-def]
        async def check() -> bool:
            return len(await _replies(env)) == n
        return check

    await _wait(await n_replies(1))
    await _publish_raw(env, SOCIAL_COMMANDS, _command(1, before).model_dump_json().encode())
    await _wait(await n_replies(2))
    # the command ran before the probe: the probe says so, with the command's reply data
    await _publish_raw(env, SOCIAL_COMMANDS, _command(2, after).model_dump_json().encode())
    await _wait(await n_replies(3))
    await _publish_raw(env, SOCIAL_COMMANDS, _cancel(after).model_dump_json().encode())
    await _wait(await n_replies(4))
    cancelled, late_command, ran, probe = await _replies(env)
    assert cancelled.outcome == "accepted" and cancelled.data == {"cancelled": True}
    assert late_command.outcome == "rejected" and calls == [2]
    assert ran.outcome == "accepted"
    assert (probe.outcome, probe.reason, probe.data) == ("rejected", "already applied",
                                                         {"purged": 2})


async def test_retention_removes_old_sent_rows_in_batches_and_keeps_the_rest(env: Env) -> None:
    from datetime import timedelta

    from shared_lib.retention import RetentionPolicy, purge_once

    async with env.engine.begin() as conn:
        await conn.execute(text("""
            INSERT INTO outbox (message_id, exchange, routing_key, message_type, body,
                                created_at, sent_at)
            SELECT gen_random_uuid(), 'x', 'k', 't', '{}', now() - interval '9 days',
                   CASE WHEN g <= 2500 THEN now() - interval '8 days'   -- old, sent
                        WHEN g <= 2510 THEN NULL                        -- old, never sent
                        ELSE now() - interval '1 day' END               -- recent, sent
            FROM generate_series(1, 2520) g"""))
        await conn.execute(text("""
            INSERT INTO inbox (consumer, message_id, message_type, processed_at)
            SELECT 'q', gen_random_uuid(), 't',
                   now() - CASE WHEN g <= 1500 THEN interval '8 days' ELSE interval '1 hour' END
            FROM generate_series(1, 1600) g"""))
        await conn.execute(text("""
            INSERT INTO idempotency_keys (scope, key, fingerprint, created_at)
            SELECT 'user:1', 'k' || g, 'f',
                   now() - CASE WHEN g <= 30 THEN interval '25 hours' ELSE interval '1 hour' END
            FROM generate_series(1, 40) g"""))
    policy = RetentionPolicy(outbox_window=timedelta(days=7), inbox_window=timedelta(days=7),
                             idempotency_window=timedelta(days=1), batch=1000)
    assert await purge_once(env.engine, policy) == {"outbox": 2500, "inbox": 1500,
                                                    "idempotency_keys": 30}
    async with env.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM outbox WHERE sent_at IS NULL")) == 10
        assert await conn.scalar(text("SELECT count(*) FROM outbox")) == 20
        assert await conn.scalar(text("SELECT count(*) FROM inbox")) == 100
        assert await conn.scalar(text("SELECT count(*) FROM idempotency_keys")) == 10
    assert await purge_once(env.engine, policy) == {"outbox": 0, "inbox": 0,
                                                    "idempotency_keys": 0}


async def test_a_database_outage_never_dead_letters_events(env: Env) -> None:
    """Events are re-sent by nobody: while the database is away they wait in
    place, however long that takes, and are handled once it is back."""
    from testkit.proxy import TcpProxy

    url = env.engine.url
    proxy = await TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    engine = make_engine(url.set(host="127.0.0.1", port=proxy.port)
                         .render_as_string(hide_password=False), pool_size=4)
    handled: list[int] = []

    async def on_deleted(ctx: MessageContext, event: UserDeleted) -> None:
        await ctx.session.execute(text("INSERT INTO effects VALUES (:p, 1)"),
                                  {"p": event.user_id})
        handled.append(event.user_id)

    consumer = MessageConsumer(queue=SOCIAL_PROJECTIONS, service="social",
                               handlers={"user.deleted": on_deleted},
                               session_factory=async_sessionmaker(engine),
                               max_backoff_seconds=0.5, metrics=Metrics("social"))
    try:
        proxy.cut()
        await env.broker.consume(SOCIAL_PROJECTIONS, consumer.on_message, prefetch=8)
        for uid in (1, 2, 3):
            body = envelope_for(UserDeleted(seq=1, user_id=uid), source="core")
            await _publish_raw(env, CORE_EVENTS, body.model_dump_json().encode(),
                               key="user.deleted")
        # an outage far longer than a few redeliveries (the delivery limit is 3 here)
        await asyncio.sleep(8)
        assert handled == []
        proxy.restore()

        async def all_handled() -> bool:
            return sorted(handled) == [1, 2, 3]

        await _wait(all_handled, timeout=20)
        channel = await env.broker.connection.channel()
        dlq = await channel.get_queue(dlq_of(SOCIAL_PROJECTIONS))
        assert await dlq.get(fail=False) is None
        assert _count(consumer, "messages_failed_total") == 0
    finally:
        await proxy.stop()
        await engine.dispose()


async def test_a_consumer_channel_closed_by_the_broker_reopens_on_the_same_connection(
        env: Env, infra) -> None:  # type: ignore[no-untyped-def]
    calls: list[int] = []
    await _start_consumer(env, calls)
    connection = env.broker.connection
    channel = env.broker.consumer_channel(SOCIAL_COMMANDS)
    # a channel error: the broker closes this channel alone
    await (await channel.get_underlay_channel()).basic_ack(delivery_tag=424242)

    async def reopened() -> bool:
        now = env.broker.consumer_channel(SOCIAL_COMMANDS)
        return now is not channel and not now.is_closed

    await _wait(reopened)
    await _publish_raw(env, SOCIAL_COMMANDS,
                       _command(3, uuid.uuid4()).model_dump_json().encode())

    async def handled() -> bool:
        return calls == [3]

    await _wait(handled)
    assert env.broker.connection is connection and not connection.is_closed
    vhost = urllib.parse.quote(urllib.parse.urlsplit(env.amqp_url).path[1:], safe="")

    async def one_connection_one_consumer() -> bool:
        with infra._api() as api:
            conns = api.get(f"/api/vhosts/{vhost}/connections").json()
            queue = api.get(f"/api/queues/{vhost}/social.commands").json()
        return len(conns) == 1 and queue.get("consumers") == 1

    await _wait(one_connection_one_consumer, timeout=20)


async def test_what_counts_toward_the_delivery_limit(env: Env) -> None:
    """Measured on the broker itself (RabbitMQ 3.x quorum queues): every return of an
    unacked message counts toward ``x-delivery-limit``, whether a channel closed under
    it (a consumer that died or a connection lost) or it was nacked with requeue (a
    consumer shutting down); it is dead-lettered at the return that exceeds the
    limit. So a message in flight survives ``limit`` restarts of its consumer; waiting
    out a database outage in place costs nothing."""
    queue_name = SOCIAL_PROJECTIONS
    body = envelope_for(UserDeleted(seq=1, user_id=7), source="core")
    await _publish_raw(env, CORE_EVENTS, body.model_dump_json().encode(), key="user.deleted")

    async def take(channel: aio_pika.abc.AbstractChannel) -> aio_pika.abc.AbstractIncomingMessage:
        queue = await channel.get_queue(queue_name)
        message = await queue.get(timeout=5)
        assert message is not None
        return message

    first = await env.broker.connection.channel()
    got = await take(first)
    assert not got.redelivered and (got.headers or {}).get("x-delivery-count", 0) == 0
    await first.close()  # the consumer died: returned to the queue, unacked
    second = await env.broker.connection.channel()
    got = await take(second)
    assert got.redelivered and got.headers["x-delivery-count"] == 1
    await got.nack(requeue=True)  # a consumer shutting down
    got = await take(second)
    assert got.headers["x-delivery-count"] == 2
    await got.nack(requeue=True)
    got = await take(second)
    assert got.headers["x-delivery-count"] == 3  # returned 3 times: the limit here
    await got.nack(requeue=True)  # a fourth return exceeds it: dead-lettered
    dlq = await second.get_queue(f"{queue_name}.dlq")
    for _ in range(50):
        if (dead := await dlq.get(fail=False)) is not None:
            break
        await asyncio.sleep(0.1)
    assert dead is not None and json.loads(dead.body)["payload"]["user_id"] == 7
    await dead.ack()
    await second.close()


async def _events_consumer(env: Env, db: Database, seen: list[int]) -> MessageConsumer:
    """A consumer of user.deleted on the projections queue whose direct handler records
    an effect per user, fails for user 666, and counts its calls."""

    @direct
    async def on_deleted(ctx: MessageContext, event: UserDeleted) -> None:
        seen.append(event.user_id)
        if event.user_id == 666:
            raise RuntimeError("handler bug")
        await ctx.q.execute(_EFFECT, event.user_id)

    consumer = MessageConsumer(queue=SOCIAL_PROJECTIONS, service="social",
                               handlers={"user.deleted": on_deleted},
                               session_factory=env.sessions, metrics=Metrics("social"),
                               database=db, max_batch=32)
    return consumer


async def _publish_deleted(env: Env, user_ids: list[int]) -> list[Envelope]:
    channel = await env.broker.connection.channel()
    ex = await channel.get_exchange(CORE_EVENTS)
    sent = []
    for uid in user_ids:
        body = envelope_for(UserDeleted(seq=1, user_id=uid), source="core")
        sent.append(body)
        await ex.publish(aio_pika.Message(body.model_dump_json().encode(),
                                          delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                         routing_key="user.deleted")
    await channel.close()
    return sent


async def _effects(env: Env) -> dict[int, int]:
    async with env.engine.connect() as conn:
        return dict((await conn.execute(text("SELECT post_id, times FROM effects"))).all())


async def test_waiting_events_are_handled_in_batches_each_once(env: Env) -> None:
    """Events that wait in the queue (published before the consumer starts) are
    handled a batch to a transaction: one claim for all, every effect once, every
    message acked; a copy of a message in the same batch changes nothing."""
    metrics = Metrics("social")
    db = Database(env.db.dsn, size=4, statements=metrics.sql_statements,
                  round_trips=metrics.db_round_trips)
    await db.open()
    try:
        seen: list[int] = []
        consumer = await _events_consumer(env, db, seen)
        sent = await _publish_deleted(env, list(range(1, 61)))
        await _publish_raw(env, CORE_EVENTS, sent[0].model_dump_json().encode(),
                           key="user.deleted")  # a copy of the first
        await env.broker.consume(SOCIAL_PROJECTIONS, consumer.on_message, prefetch=32)

        async def all_done() -> bool:
            return len(await _effects(env)) == 60 and _count(
                consumer, "messages_duplicate_total") == 1

        await _wait(all_done)
        assert await _effects(env) == {uid: 1 for uid in range(1, 61)}
        assert sorted(seen) == list(range(1, 61))
        transactions = metrics.registry.get_sample_value(
            "db_round_trips_total", {"path": "direct"})
        # one at a time would be 4 round trips a message (BEGIN, claim, effect, COMMIT)
        assert transactions is not None and transactions < 3 * 61, transactions
        channel = await env.broker.connection.channel()
        queue = await channel.declare_queue(SOCIAL_PROJECTIONS, passive=True)
        assert queue.declaration_result.message_count == 0
    finally:
        await db.close()


_CLAIMED_EFFECT = claimed("claimed_effect", """
    INSERT INTO effects SELECT $1, 1 FROM claim
    ON CONFLICT (post_id) DO UPDATE SET times = effects.times + 1""")


async def test_a_one_statement_handler_claims_and_takes_effect_in_one_round_trip(
        env: Env) -> None:
    """A handler whose claim and effect are one statement: every message takes effect
    once, a redelivered copy changes nothing (and is counted as a duplicate), and
    each message costs one round trip, with no transaction around it."""
    metrics = Metrics("social")
    db = Database(env.db.dsn, size=4, statements=metrics.sql_statements,
                  round_trips=metrics.db_round_trips)
    await db.open()
    new: list[bool] = []

    @one_statement
    async def on_deleted(ctx: MessageContext, event: UserDeleted) -> None:
        new.append(await ctx.claimed(_CLAIMED_EFFECT, event.user_id))

    try:
        consumer = MessageConsumer(queue=SOCIAL_PROJECTIONS, service="social",
                                   handlers={"user.deleted": on_deleted},
                                   session_factory=env.sessions, metrics=metrics, database=db)
        sent = await _publish_deleted(env, list(range(1, 21)))
        await _publish_raw(env, CORE_EVENTS, sent[3].model_dump_json().encode(),
                           key="user.deleted")  # a copy of the fourth
        await env.broker.consume(SOCIAL_PROJECTIONS, consumer.on_message, prefetch=8)

        async def all_done() -> bool:
            return len(new) == 21

        await _wait(all_done)
        assert await _effects(env) == {uid: 1 for uid in range(1, 21)}
        assert new.count(False) == 1 and _count(consumer, "messages_duplicate_total") == 1
        assert metrics.registry.get_sample_value(
            "db_round_trips_total", {"path": "direct"}) == 21
        async with env.engine.connect() as conn:
            claims = await conn.scalar(text(
                "SELECT count(*) FROM inbox WHERE consumer = :q"), {"q": SOCIAL_PROJECTIONS})
        assert claims == 20
    finally:
        await db.close()


async def test_a_batch_that_fails_is_handled_again_one_message_at_a_time(env: Env) -> None:
    """One bad message in a batch rolls the batch back; then each message is handled
    alone: the others take effect once, the bad one is retried and dead-lettered."""
    seen: list[int] = []
    consumer = await _events_consumer(env, env.db, seen)
    await _publish_deleted(env, [1, 2, 666, 3, 4])
    await env.broker.consume(SOCIAL_PROJECTIONS, consumer.on_message, prefetch=32)
    channel = await env.broker.connection.channel()
    dlq = await channel.get_queue(dlq_of(SOCIAL_PROJECTIONS))

    async def dead_lettered() -> bool:
        msg = await dlq.get(fail=False)
        if msg is None:
            return False
        await msg.ack()
        return Envelope.model_validate_json(msg.body).payload["user_id"] == 666

    await _wait(dead_lettered, timeout=20)
    assert await _effects(env) == {1: 1, 2: 1, 3: 1, 4: 1}
    assert _count(consumer, "messages_dead_lettered_total") == 0  # the broker's limit did it
    assert seen.count(666) >= 2  # in the batch, then alone (and redelivered)


async def test_a_nacked_publish_gets_the_next_publish_a_new_channel(env: Env) -> None:
    """The broker refuses a publish (here a full queue that rejects publishes; after a
    failover, a channel with a stale view of a quorum queue does the same): that
    publish raises BrokerUnavailable, and the next one goes out on a new channel."""
    from shared_lib.messaging import BrokerUnavailable, OutgoingMessage

    channel = await env.broker.connection.channel()
    exchange = await channel.declare_exchange("nack.test", aio_pika.ExchangeType.FANOUT,
                                              auto_delete=True)
    queue = await channel.declare_queue("nack.test.q", arguments={
        "x-max-length": 1, "x-overflow": "reject-publish"})
    await queue.bind(exchange)

    def message(n: int) -> OutgoingMessage:
        return OutgoingMessage(exchange="nack.test", routing_key="", body=b"{}",
                               message_id=str(n), message_type="test")

    await env.broker.publish(message(1))
    first = env.broker._publish_channel
    with pytest.raises(BrokerUnavailable, match="nacked"):
        await env.broker.publish(message(2))
    assert (await queue.get(timeout=5)).message_id == "1"
    await env.broker.publish(message(3))
    assert env.broker._publish_channel is not first
    assert (await queue.get(timeout=5)).message_id == "3"
    await queue.delete(if_unused=False, if_empty=False)
    await channel.close()


@pytest.mark.parametrize("path", ["direct", "session"])
async def test_the_dispatcher_never_publishes_what_a_rolled_back_savepoint_wrote(
        env: Env, path: str) -> None:
    """A handler's savepoint rolled back (a participant refusing after writing) takes
    its outbox rows with it; the dispatcher must not publish them from memory."""
    from shared_lib.database import savepoint

    tap = await _tap(env, CORE_EVENTS)
    async with _dispatching(env) as sessions:
        if path == "direct":
            async with env.db.transaction() as q:
                (kept,) = await write_events(q, [UserDeleted(seq=1, user_id=1)], source="core")
                with pytest.raises(RuntimeError):
                    async with savepoint(q):
                        await write_events(q, [UserDeleted(seq=1, user_id=2)], source="core")
                        raise RuntimeError("refused after writing")
        else:
            async with sessions() as s, s.begin():
                kept = await publish_event(s, UserDeleted(seq=1, user_id=1), source="core")
                with pytest.raises(RuntimeError):
                    async with savepoint(s):
                        await publish_event(s, UserDeleted(seq=1, user_id=2), source="core")
                        raise RuntimeError("refused after writing")
        assert [e.message_id for e in await _drain(tap, 1)] == [kept.message_id]
        await asyncio.sleep(0.3)
        assert await tap.get(fail=False) is None
        async with env.engine.connect() as conn:
            assert await conn.scalar(select(text("count(*)")).select_from(outbox)) == 1
