"""The saga engine on real PostgreSQL: row locks, savepoints, the deadline
scanner and operator retries, with the participant's side played by the real
consumer code (inbox, preemption, cancel probe) on the same database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import Column, Integer, MetaData, String, Table, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from instasaga.messages import PurgeUser
from instasaga.queues import CORE_REPLIES, SOCIAL_COMMANDS
from shared_lib import tracing
from shared_lib.contracts import Envelope, SagaReply
from shared_lib.database import Database, Statement
from shared_lib.db import make_engine
from shared_lib.messaging.consumer import MessageConsumer, MessageContext, decode
from shared_lib.messaging.subscriptions import Subscriptions
from shared_lib.saga import (
    LocalStep,
    RemoteStep,
    SagaContext,
    SagaData,
    SagaDefinition,
    SagaOrchestrator,
    SagaStatus,
    SqlSagaStore,
    StepRejected,
)
from shared_lib.saga.deadlines import DeadlineScanner
from shared_lib.saga.participant import handles_saga_command
from shared_lib.tables import messaging_metadata, outbox, saga_steps, sagas

test_metadata = MetaData()
journal = Table("journal", test_metadata, Column("id", Integer, primary_key=True),
                Column("saga_id", String(40), nullable=False),
                Column("what", String(40), nullable=False))


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


_NOTE = Statement("journal.note", "INSERT INTO journal (saga_id, what) VALUES ($1, $2)")


async def _note(ctx: SagaContext, what: str) -> None:
    await ctx.tx.execute(_NOTE, str(ctx.saga_id), what)


@dataclass
class Env:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    db: Database
    clock: Clock
    orchestrator: SagaOrchestrator
    flaky: dict[str, int]

    async def journal(self, saga_id: uuid.UUID) -> list[str]:
        async with self.engine.connect() as conn:
            return list((await conn.execute(
                select(journal.c.what).where(journal.c.saga_id == str(saga_id))
                .order_by(journal.c.id))).scalars())

    async def saga(self, saga_id: uuid.UUID) -> tuple[str, str | None]:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(sagas.c.status, sagas.c.reason)
                                      .where(sagas.c.id == saga_id))).one()
        return row.status, row.reason

    async def start(self, saga_type: str) -> uuid.UUID:
        async with self.db.transaction() as q:
            st = await self.orchestrator.start(SqlSagaStore(q), saga_type, UserSaga(user_id=7))
        return st.id

    async def sent(self, exchange: str) -> list[Envelope]:
        async with self.engine.connect() as conn:
            bodies = (await conn.execute(select(outbox.c.body).where(
                outbox.c.exchange == exchange).order_by(outbox.c.id))).scalars().all()
        return [Envelope.model_validate_json(b) for b in bodies]


class UserSaga(SagaData):
    user_id: int


_DEADLOCK = Statement("deadlock", "DO $$ BEGIN RAISE EXCEPTION 'deadlock detected' "
                                  "USING ERRCODE = '40P01'; END $$")


def _definitions(flaky: dict[str, int]) -> list[SagaDefinition]:
    async def deactivate(ctx: SagaContext) -> None:
        await _note(ctx, "deactivate")

    async def reactivate(ctx: SagaContext) -> None:
        await _note(ctx, "reactivate")

    async def finish(ctx: SagaContext) -> None:
        await _note(ctx, "finish")

    async def refuse(ctx: SagaContext) -> None:
        await _note(ctx, "written by a refusing step")
        raise StepRejected("refused")

    async def flaky_undo(ctx: SagaContext) -> None:
        if flaky["deadlocks"] > 0:
            flaky["deadlocks"] -= 1
            await ctx.tx.execute(_DEADLOCK)
        await _note(ctx, "undo")

    purge = RemoteStep("purge_user", lambda d: PurgeUser(user_id=d.user_id, seq=1),
                       cancel_on_timeout=True)
    return [
        SagaDefinition("pivot", UserSaga, (
            LocalStep("deactivate", deactivate, compensation=reactivate),
            purge,
            LocalStep("finish", finish))),
        SagaDefinition("refusing", UserSaga, (
            LocalStep("deactivate", deactivate, compensation=reactivate),
            LocalStep("refuse", refuse))),
        SagaDefinition("flaky", UserSaga, (
            LocalStep("a", deactivate, compensation=flaky_undo),
            RemoteStep("b", lambda d: PurgeUser(user_id=1, seq=1)))),
    ]


@pytest.fixture
async def env(new_database) -> AsyncIterator[Env]:  # type: ignore[no-untyped-def]
    url = new_database()
    engine = make_engine(url, pool_size=10)
    async with engine.begin() as conn:
        await conn.run_sync(messaging_metadata.create_all)
        await conn.run_sync(test_metadata.create_all)
    db = Database(url, size=4)
    await db.open()
    clock = Clock()
    flaky = {"deadlocks": 0}
    orchestrator = SagaOrchestrator(service="core", definitions=_definitions(flaky),
                                    step_timeout=10, max_attempts=2,
                                    compensation_max_attempts=2, clock=clock)
    yield Env(engine, async_sessionmaker(engine, expire_on_commit=False), db, clock,
              orchestrator, flaky)
    await db.close()
    await engine.dispose()


async def _participant_handles(env: Env, envelope: Envelope) -> None:
    """social's consumer handling one command: inbox, preemption, cancel probe."""
    purged: list[int] = []

    async def purge_user(ctx: MessageContext, cmd: PurgeUser) -> dict[str, int]:
        purged.append(cmd.user_id)
        return {"messages": 3}

    subscriptions = Subscriptions("social")
    handles_saga_command(subscriptions, PurgeUser)(purge_user)
    consumer = MessageConsumer(queue=SOCIAL_COMMANDS, service="social",
                               handlers=subscriptions.handlers()[SOCIAL_COMMANDS],
                               session_factory=env.sessions)
    env_, payload = decode(envelope.model_dump_json().encode())
    await consumer.process(env_, payload, consumer.handlers[env_.type])


async def _deliver_replies(env: Env, after: int = 0) -> int:
    """Hand every reply in the outbox (from index ``after``) to the orchestrator."""
    replies = await env.sent(CORE_REPLIES)
    for envelope in replies[after:]:
        async with env.db.transaction() as q:
            await env.orchestrator.handle_reply(
                SqlSagaStore(q), envelope, SagaReply.model_validate(envelope.payload))
    return len(replies)


async def _time_out(env: Env, scanner: DeadlineScanner, rounds: int) -> None:
    for _ in range(rounds):
        env.clock.advance(10_000)
        await scanner.scan_once()


async def test_operator_retry_of_a_failed_pivot_asks_again_and_goes_forward(env: Env) -> None:
    """The participant was away past every deadline: the saga failed with the
    user deactivated while the purge waited in the participant's queue. The
    operator's retry must not reactivate the user blindly: it asks again, and
    since the purge ran meanwhile, the saga goes forward."""
    scanner = DeadlineScanner(env.db, env.orchestrator, clock=env.clock)
    saga_id = await env.start("pivot")
    await _time_out(env, scanner, 4)  # re-send, cancel probe, its re-send, failed
    assert (await env.saga(saga_id))[0] == SagaStatus.failed
    commands = await env.sent(SOCIAL_COMMANDS)
    assert [c.type for c in commands] == ["purge_user", "purge_user", "saga.cancel",
                                          "saga.cancel"]

    # the participant comes back and works through its queue: the purge first
    await _participant_handles(env, commands[0])
    async with env.db.transaction() as q:
        await env.orchestrator.retry(SqlSagaStore(q), saga_id)
    probes = (await env.sent(SOCIAL_COMMANDS))[4:]
    assert [p.type for p in probes] == ["saga.cancel"]
    assert probes[0].message_id != commands[2].message_id  # a new probe, not deduplicated
    for late in commands[1:]:
        await _participant_handles(env, late)  # the old re-sends, now duplicates
    await _participant_handles(env, probes[0])
    await _deliver_replies(env)

    assert (await env.saga(saga_id))[0] == SagaStatus.completed
    assert await env.journal(saga_id) == ["deactivate", "finish"]


async def test_operator_retry_compensates_when_the_pivot_never_ran(env: Env) -> None:
    scanner = DeadlineScanner(env.db, env.orchestrator, clock=env.clock)
    saga_id = await env.start("pivot")
    await _time_out(env, scanner, 4)
    async with env.db.transaction() as q:
        await env.orchestrator.retry(SqlSagaStore(q), saga_id)
    probe = (await env.sent(SOCIAL_COMMANDS))[-1]
    await _participant_handles(env, probe)  # the probe overtakes the purge
    await _participant_handles(env, (await env.sent(SOCIAL_COMMANDS))[0])
    await _deliver_replies(env)
    assert (await env.saga(saga_id))[0] == SagaStatus.compensated
    assert await env.journal(saga_id) == ["deactivate", "reactivate"]


async def test_scanner_parks_a_saga_it_cannot_handle_and_goes_on(env: Env) -> None:
    scanner = DeadlineScanner(env.db, env.orchestrator, clock=env.clock)
    good = await env.start("pivot")
    retired = uuid.uuid4()
    async with env.engine.begin() as conn:
        # a saga whose type a deploy retired, due before the good one
        await conn.execute(sagas.insert().values(
            id=retired, type="retired", status="running", step_index=1, data={},
            deadline=env.clock.now - timedelta(hours=1), attempts=1, version=1))
    env.clock.advance(10_000)
    assert await scanner.scan_once() == 2
    status, reason = await env.saga(retired)
    assert status == SagaStatus.failed and "retired" in (reason or "")
    assert [c.type for c in await env.sent(SOCIAL_COMMANDS)] == ["purge_user", "purge_user"]
    async with env.engine.connect() as conn:
        assert await conn.scalar(select(sagas.c.attempts).where(sagas.c.id == good)) == 2
    assert await scanner.scan_once() == 0  # nothing is claimed again
    async with env.engine.connect() as conn:
        assert await conn.scalar(select(text("count(*)")).select_from(saga_steps).where(
            saga_steps.c.saga_id == retired, saga_steps.c.action == "failed")) == 1


async def test_a_transient_error_in_a_deadline_never_fails_the_saga(env: Env) -> None:
    scanner = DeadlineScanner(env.db, env.orchestrator, clock=env.clock)
    saga_id = await env.start("flaky")
    env.flaky["deadlocks"] = 1
    env.clock.advance(10_000)
    await scanner.scan_once()  # re-send of b
    env.clock.advance(10_000)
    with pytest.raises(Exception, match="deadlock"):
        await scanner.scan_once()  # b times out; a's compensation hits a deadlock
    assert (await env.saga(saga_id))[0] == SagaStatus.running  # rolled back, still due
    assert await scanner.scan_once() == 1
    assert await env.saga(saga_id) == (SagaStatus.compensated,
                                       "no reply from b after 2 attempts")
    assert await env.journal(saga_id) == ["deactivate", "undo"]


async def test_a_refusing_local_step_leaves_no_writes(env: Env) -> None:
    saga_id = await env.start("refusing")
    assert await env.saga(saga_id) == (SagaStatus.compensated, "refused")
    assert await env.journal(saga_id) == ["deactivate", "reactivate"]


async def test_claim_due_skips_finished_and_locked_sagas(env: Env) -> None:
    first = await env.start("pivot")
    second = await env.start("pivot")
    async with env.engine.begin() as conn:
        await conn.execute(sagas.update().where(sagas.c.id == first).values(status="completed"))
    later = env.clock.now + timedelta(hours=1)
    async with env.db.transaction() as a:
        claimed = await SqlSagaStore(a).claim_due(later, 10)
        assert [st.id for st in claimed] == [second]
        async with env.db.transaction() as b:
            assert await SqlSagaStore(b).claim_due(later, 10) == []  # locked by a


_BACKEND_PID = Statement("pid", "SELECT pg_backend_pid()")


async def test_two_copies_of_one_reply_advance_the_saga_once(env: Env) -> None:
    saga_id = await env.start("pivot")
    await _participant_handles(env, (await env.sent(SOCIAL_COMMANDS))[0])
    reply = (await env.sent(CORE_REPLIES))[0]
    payload = SagaReply.model_validate(reply.payload)
    async with env.db.transaction() as first:
        await env.orchestrator.handle_reply(SqlSagaStore(first), reply, payload)
        holder = await first.fetchval(_BACKEND_PID)

        async def second_copy() -> None:
            async with env.db.transaction() as q:
                await env.orchestrator.handle_reply(SqlSagaStore(q), reply, payload)

        other = asyncio.create_task(second_copy())
        async with env.engine.connect() as conn:  # the copy waits for the saga's row lock
            loop = asyncio.get_running_loop()
            end = loop.time() + 30
            while not (waiting := await conn.scalar(text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE :holder = ANY(pg_blocking_pids(pid))"), {"holder": holder})):
                assert loop.time() < end and not other.done(), "the copy did not wait"
                await conn.rollback()  # pg_stat_activity is read once per transaction
                await asyncio.sleep(0.01)
        assert waiting == 1 and not other.done()
    await other
    assert (await env.saga(saga_id))[0] == SagaStatus.completed
    assert await env.journal(saga_id) == ["deactivate", "finish"]
    async with env.engine.connect() as conn:
        actions = (await conn.execute(select(saga_steps.c.action).where(
            saga_steps.c.saga_id == saga_id, saga_steps.c.step == "purge_user")
            .order_by(saga_steps.c.id))).scalars().all()
    assert list(actions) == ["started", "completed", "ignored"]


async def test_a_reply_claimed_with_its_saga_advances_it_once(env: Env) -> None:
    """The replies consumer's path: the reply is claimed in its inbox by the statement
    that loads and locks the saga. A second copy (redelivered, or the relay's) finds
    the claim and changes nothing, not even the saga's log."""
    saga_id = await env.start("pivot")
    await _participant_handles(env, (await env.sent(SOCIAL_COMMANDS))[0])
    reply = (await env.sent(CORE_REPLIES))[0]
    payload = SagaReply.model_validate(reply.payload)
    outcomes = []
    for _ in range(2):
        async with env.db.transaction() as q:
            outcomes.append(await env.orchestrator.handle_reply(
                SqlSagaStore(q), reply, payload, claim_for=CORE_REPLIES))
    assert outcomes == [True, False]
    assert (await env.saga(saga_id))[0] == SagaStatus.completed
    async with env.engine.connect() as conn:
        actions = (await conn.execute(select(saga_steps.c.action).where(
            saga_steps.c.saga_id == saga_id, saga_steps.c.step == "purge_user")
            .order_by(saga_steps.c.id))).scalars().all()
        claims = await conn.scalar(text(
            "SELECT count(*) FROM inbox WHERE consumer = :c AND message_id = :m"),
            {"c": CORE_REPLIES, "m": reply.message_id})
    assert list(actions) == ["started", "completed"] and claims == 1

    # a reply for a saga this service does not have is claimed too, and ignored
    async with env.db.transaction() as q:
        stray = reply.model_copy(update={"message_id": uuid.uuid4(),
                                         "correlation_id": uuid.uuid4()})
        assert await env.orchestrator.handle_reply(SqlSagaStore(q), stray, payload,
                                                   claim_for=CORE_REPLIES)


async def test_a_saga_keeps_its_trace_and_its_deadline_handling_continues_it(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """With tracing on, the saga row keeps the trace it started in; a command the
    deadline scanner re-sends is written under a span of that trace (its outbox row
    says so), child of the span that started the saga."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_active", tracing.Tracing(provider, "core-service"))
    on = tracing.active()
    assert on is not None
    with on.span("POST /start") as request:
        saga_id = await env.start("pivot")
    trace_id = f"{request.get_span_context().trace_id:032x}"
    async with env.engine.connect() as conn:
        row = (await conn.execute(select(sagas.c.trace_id, sagas.c.trace_span_id)
                                  .where(sagas.c.id == saga_id))).one()
    started = next(s for s in exporter.get_finished_spans() if s.name == "transaction")
    assert row.trace_id == trace_id
    assert row.trace_span_id == f"{started.context.span_id:016x}"  # the start's transaction

    scanner = DeadlineScanner(env.db, env.orchestrator, clock=env.clock)
    await _time_out(env, scanner, 1)  # the command is re-sent
    deadline = next(s for s in exporter.get_finished_spans()
                    if s.name == "saga pivot deadline")
    assert deadline.parent is not None
    assert (deadline.context.trace_id, deadline.parent.span_id) == (
        int(trace_id, 16), started.context.span_id)
    async with env.engine.connect() as conn:
        carried = (await conn.execute(select(outbox.c.traceparent).where(
            outbox.c.exchange == "social.commands").order_by(outbox.c.id))).scalars().all()
    parents = [tracing.parse_traceparent(t) for t in carried]
    assert [p.trace_id if p else None for p in parents] == [int(trace_id, 16)] * 2
    assert parents[1] is not None and parents[1].span_id == deadline.context.span_id
