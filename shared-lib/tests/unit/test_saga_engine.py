"""The saga engine's paths on an in-memory store (locking, savepoints and the
deadline scanner are tested on PostgreSQL in ``integration/test_saga_engine_sql``)."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from instasaga.messages import PurgePost, UnindexPostHashtags
from instasaga.queues import CORE_REPLIES
from shared_lib.contracts import Envelope, ReplyOutcome, SagaReply
from shared_lib.saga import (
    LocalStep,
    RemoteStep,
    SagaContext,
    SagaData,
    SagaDefinition,
    SagaOrchestrator,
    SagaState,
    SagaStatus,
    StepAction,
    StepRejected,
    start_only,
)
from shared_lib.saga.definition import FINAL_STATUSES
from shared_lib.saga.engine import RetryRefused
from shared_lib.saga.participant import saga_message_id


class FakeStore:
    def __init__(self) -> None:
        self.tx = None
        self.outgoing: list[tuple[Envelope, str, str]] = []
        self.sagas: dict[uuid.UUID, SagaState] = {}
        self.log: list[tuple[str, StepAction, bool]] = []
        self.sent: list[Envelope] = []
        self.notified: list[uuid.UUID] = []

    async def load_for_update(self, saga_id: uuid.UUID) -> SagaState | None:
        st = self.sagas.get(saga_id)
        return copy.deepcopy(st) if st else None

    async def claim_due(self, now: datetime, limit: int) -> list[SagaState]:
        return [copy.deepcopy(s) for s in self.sagas.values()
                if s.status in (SagaStatus.running, SagaStatus.compensating)
                and s.deadline and s.deadline <= now][:limit]

    async def add_log(self, entries) -> None:
        self.log.extend((e.step, e.action, e.compensation) for e in entries)

    async def send(self, envelope: Envelope, exchange: str) -> None:
        self.sent.append(envelope)

    async def notify_finished(self, saga_id: uuid.UUID, status: SagaStatus) -> None:
        self.notified.append(saga_id)

    async def record(self, state: SagaState, entries, *, new: bool) -> None:  # type: ignore[no-untyped-def]
        self.sagas[state.id] = copy.deepcopy(state)
        await self.add_log(entries)
        if state.status in FINAL_STATUSES:
            await self.notify_finished(state.id, state.status)


class Demo(SagaData):
    x: int = 1
    #: set by step a
    a_done: bool = False
    #: only the start has it
    note: str | None = start_only()


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Recorder:
    """Local actions that record what ran; ``reject`` makes step d refuse."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.reject_d = False

    async def a(self, ctx: SagaContext) -> None:
        self.calls.append("a")
        ctx.data.a_done = True

    async def undo_a(self, ctx: SagaContext) -> None:
        self.calls.append(f"undo_a:{ctx.reason}")

    async def d(self, ctx: SagaContext) -> None:
        if self.reject_d:
            raise StepRejected("d refuses")
        self.calls.append("d")


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def engine(rec: Recorder, clock: Clock) -> SagaOrchestrator:
    definition = SagaDefinition(
        type="demo",
        data=Demo,
        steps=(
            LocalStep("a", rec.a, compensation=rec.undo_a),
            RemoteStep("b", lambda d: UnindexPostHashtags(post_id=1),
                       compensation=lambda d: PurgePost(post_id=1)),
            RemoteStep("c", lambda d: UnindexPostHashtags(post_id=2),
                       compensation=lambda d: PurgePost(post_id=2)),
            LocalStep("d", rec.d),
        ),
    )
    return SagaOrchestrator(service="core", definitions=[definition], step_timeout=10,
                            max_attempts=3, compensation_max_attempts=2, clock=clock)


def reply(st_id: uuid.UUID, step: str, outcome: ReplyOutcome, *, compensation: bool = False,
          causation: uuid.UUID | None = None, reason: str | None = None
          ) -> tuple[Envelope, SagaReply]:
    payload = SagaReply(outcome=outcome, reason=reason)
    env = Envelope(type=payload.TYPE, version=1, correlation_id=st_id,
                   causation_id=causation or saga_message_id(st_id, step, compensation),
                   source="social", step=step, compensation=compensation,
                   payload=payload.model_dump(mode="json"))
    return env, payload


OK = ReplyOutcome.accepted
NO = ReplyOutcome.rejected


async def start(engine: SagaOrchestrator, store: FakeStore) -> uuid.UUID:
    st = await engine.start(store, "demo", Demo(x=1, note="start only"))
    return st.id


async def test_success_runs_every_step_in_order(engine, rec) -> None:
    store = FakeStore()
    sid = await start(engine, store)
    assert store.sagas[sid].status == SagaStatus.running
    assert [e.step for e in store.sent] == ["b"]
    assert store.sent[0].message_id == saga_message_id(sid, "b", False)
    assert store.sent[0].reply_to == CORE_REPLIES
    await engine.handle_reply(store, *reply(sid, "b", OK))
    assert [e.step for e in store.sent] == ["b", "c"]
    await engine.handle_reply(store, *reply(sid, "c", OK))
    st = store.sagas[sid]
    assert st.status == SagaStatus.completed and st.deadline is None
    assert rec.calls == ["a", "d"]
    assert st.data == {"x": 1, "a_done": True}  # the start-only note is not kept
    assert store.notified == [sid]
    assert [(s, a) for s, a, _ in store.log] == [
        ("a", StepAction.completed), ("b", StepAction.started), ("b", StepAction.completed),
        ("c", StepAction.started), ("c", StepAction.completed), ("d", StepAction.completed)]


async def test_rejection_at_first_remote_step_compensates_only_local(engine, rec) -> None:
    store = FakeStore()
    sid = await start(engine, store)
    await engine.handle_reply(store, *reply(sid, "b", NO, reason="nope"))
    st = store.sagas[sid]
    assert st.status == SagaStatus.compensated
    assert st.reason == "nope"
    assert rec.calls == ["a", "undo_a:nope"]
    assert [e.step for e in store.sent] == ["b"]  # b was rejected: nothing to undo there
    assert store.notified == [sid]


async def test_rejection_at_second_remote_step_undoes_first_then_local(engine, rec) -> None:
    store = FakeStore()
    sid = await start(engine, store)
    await engine.handle_reply(store, *reply(sid, "b", OK))
    await engine.handle_reply(store, *reply(sid, "c", NO, reason="c says no"))
    assert store.sagas[sid].status == SagaStatus.compensating
    undo = store.sent[-1]
    assert (undo.step, undo.compensation, undo.type) == ("b", True, "purge_post")
    assert undo.message_id == saga_message_id(sid, "b", True)
    assert rec.calls == ["a"]
    await engine.handle_reply(store, *reply(sid, "b", OK, compensation=True))
    assert store.sagas[sid].status == SagaStatus.compensated
    assert rec.calls == ["a", "undo_a:c says no"]


async def test_local_last_step_rejection_compensates_in_reverse_order(engine, rec) -> None:
    rec.reject_d = True
    store = FakeStore()
    sid = await start(engine, store)
    await engine.handle_reply(store, *reply(sid, "b", OK))
    await engine.handle_reply(store, *reply(sid, "c", OK))
    assert store.sent[-1].step == "c" and store.sent[-1].compensation
    await engine.handle_reply(store, *reply(sid, "c", OK, compensation=True))
    assert store.sent[-1].step == "b" and store.sent[-1].compensation
    await engine.handle_reply(store, *reply(sid, "b", OK, compensation=True))
    assert store.sagas[sid].status == SagaStatus.compensated
    assert store.sagas[sid].reason == "d refuses"
    comp = [(s, a) for s, a, c in store.log if c]
    assert comp == [("c", StepAction.compensating), ("c", StepAction.compensated),
                    ("b", StepAction.compensating), ("b", StepAction.compensated),
                    ("a", StepAction.compensated)]


async def test_timeout_resends_same_command_then_compensates_the_step(engine, rec, clock) -> None:
    store = FakeStore()
    sid = await start(engine, store)
    for attempt in (2, 3):
        clock.now += timedelta(seconds=11)
        (due,) = await store.claim_due(clock.now, 10)
        await engine.handle_due(store, due)
        assert store.sagas[sid].attempts == attempt
        assert store.sent[-1].message_id == saga_message_id(sid, "b", False)
    clock.now += timedelta(seconds=11)
    (due,) = await store.claim_due(clock.now, 10)
    await engine.handle_due(store, due)
    st = store.sagas[sid]
    # the command may have run late: its compensation is sent
    assert st.status == SagaStatus.compensating
    assert store.sent[-1].step == "b" and store.sent[-1].compensation
    assert "no reply from b" in (st.reason or "")
    await engine.handle_reply(store, *reply(sid, "b", OK, compensation=True))
    assert store.sagas[sid].status == SagaStatus.compensated
    assert rec.calls[-1].startswith("undo_a:no reply from b")


async def test_duplicate_and_late_replies_are_ignored(engine, rec) -> None:
    store = FakeStore()
    sid = await start(engine, store)
    env, payload = reply(sid, "b", OK)
    await engine.handle_reply(store, env, payload)
    await engine.handle_reply(store, env, payload)  # duplicate: saga already at c
    assert [e.step for e in store.sent] == ["b", "c"]
    await engine.handle_reply(store, *reply(sid, "c", OK))
    await engine.handle_reply(store, *reply(sid, "c", NO))  # late, saga completed
    assert store.sagas[sid].status == SagaStatus.completed
    assert rec.calls == ["a", "d"]
    ignored = [a for _, a, _ in store.log if a == StepAction.ignored]
    assert len(ignored) == 2


async def test_reply_to_the_command_of_another_phase_is_ignored(engine) -> None:
    store = FakeStore()
    sid = await start(engine, store)
    await engine.handle_reply(store, *reply(sid, "b", OK))
    await engine.handle_reply(store, *reply(sid, "c", NO))
    # a late "accepted" for the do-command of b must not count as b's compensation
    await engine.handle_reply(store, *reply(sid, "b", OK, compensation=True,
                                            causation=saga_message_id(sid, "b", False)))
    assert store.sagas[sid].status == SagaStatus.compensating


async def test_compensation_rejected_fails_and_operator_retry_resumes(engine, rec) -> None:
    store = FakeStore()
    sid = await start(engine, store)
    await engine.handle_reply(store, *reply(sid, "b", OK))
    await engine.handle_reply(store, *reply(sid, "c", NO))
    await engine.handle_reply(store, *reply(sid, "b", NO, compensation=True, reason="db down"))
    assert store.sagas[sid].status == SagaStatus.failed
    assert store.notified == [sid]
    st = await engine.retry(store, sid)
    assert st.status == SagaStatus.compensating and st.retry_round == 1
    retry_cmd = store.sent[-1]
    assert retry_cmd.compensation and retry_cmd.message_id != saga_message_id(sid, "b", True)
    await engine.handle_reply(store, *reply(sid, "b", OK, compensation=True,
                                            causation=retry_cmd.message_id))
    assert store.sagas[sid].status == SagaStatus.compensated
    with pytest.raises(ValueError):
        await engine.retry(store, sid)


async def test_unanswered_compensation_ends_failed(engine, clock) -> None:
    store = FakeStore()
    sid = await start(engine, store)
    await engine.handle_reply(store, *reply(sid, "b", OK))
    await engine.handle_reply(store, *reply(sid, "c", NO))
    clock.now += timedelta(seconds=11)
    (due,) = await store.claim_due(clock.now, 10)
    await engine.handle_due(store, due)
    assert store.sent[-1].compensation and store.sagas[sid].attempts == 2
    # re-sent compensations wait longer and longer (step timeout doubled)
    clock.now += timedelta(seconds=11)
    assert await store.claim_due(clock.now, 10) == []
    clock.now += timedelta(seconds=10)
    (due,) = await store.claim_due(clock.now, 10)
    await engine.handle_due(store, due)
    assert store.sagas[sid].status == SagaStatus.failed
    assert store.sagas[sid].deadline is None


async def test_reply_for_unknown_saga_is_ignored(engine) -> None:
    store = FakeStore()
    await engine.handle_reply(store, *reply(uuid.uuid4(), "b", OK))
    assert store.sent == [] and store.log == []


async def test_a_saga_starts_only_with_its_own_data_model(engine) -> None:
    class Other(SagaData):
        x: int = 1

    with pytest.raises(TypeError):
        await engine.start(FakeStore(), "demo", Other())


async def test_stored_data_is_validated_when_loaded(engine) -> None:
    store = FakeStore()
    sid = await start(engine, store)
    store.sagas[sid].data["x"] = "not a number"
    with pytest.raises(ValueError):
        await engine.handle_reply(store, *reply(sid, "b", OK))


def test_definition_rejects_duplicate_step_names(rec) -> None:
    with pytest.raises(ValueError):
        SagaDefinition(type="x", data=Demo, steps=(LocalStep("a", rec.a), LocalStep("a", rec.a)))


@pytest.fixture
def pivot_engine(rec: Recorder, clock: Clock) -> SagaOrchestrator:
    """a (local, compensable) -> p (remote, no compensation: a pivot) -> d (local)."""
    definition = SagaDefinition(type="pivot", data=Demo, steps=(
        LocalStep("a", rec.a, compensation=rec.undo_a),
        RemoteStep("p", lambda d: PurgePost(post_id=1), cancel_on_timeout=True),
        LocalStep("d", rec.d),
    ))
    return SagaOrchestrator(service="core", definitions=[definition], step_timeout=10,
                            max_attempts=1, compensation_max_attempts=2, clock=clock)


async def _timed_out_pivot(engine: SagaOrchestrator, store: FakeStore, clock: Clock
                           ) -> uuid.UUID:
    sid = (await engine.start(store, "pivot", Demo())).id
    clock.now += timedelta(seconds=11)
    (due,) = await store.claim_due(clock.now, 10)
    await engine.handle_due(store, due)
    probe = store.sent[-1]
    assert (probe.type, probe.step, probe.compensation) == ("saga.cancel", "p", True)
    assert probe.payload == {"command_type": "purge_post",
                             "command": {"post_id": 1, "seq": probe.payload["command"]["seq"]}}
    assert store.sagas[sid].status == SagaStatus.compensating
    return sid


async def test_unanswered_pivot_is_cancelled_then_compensated(pivot_engine, rec, clock) -> None:
    store = FakeStore()
    sid = await _timed_out_pivot(pivot_engine, store, clock)
    await pivot_engine.handle_reply(store, *reply(sid, "p", OK, compensation=True))
    assert store.sagas[sid].status == SagaStatus.compensated
    assert rec.calls == ["a", "undo_a:no reply from p after 1 attempts"]


async def test_unanswered_pivot_that_had_run_goes_forward(pivot_engine, rec, clock) -> None:
    store = FakeStore()
    sid = await _timed_out_pivot(pivot_engine, store, clock)
    await pivot_engine.handle_reply(store, *reply(sid, "p", NO, compensation=True,
                                                  reason="already applied"))
    st = store.sagas[sid]
    assert st.status == SagaStatus.completed and st.reason is None
    assert rec.calls == ["a", "d"]  # nothing undone, the last step ran


def test_only_a_step_that_may_refuse_after_writing_needs_a_savepoint() -> None:
    async def act(ctx: SagaContext) -> None:
        return None

    assert LocalStep("a", act).needs_savepoint
    assert not LocalStep("a", act, can_reject=False).needs_savepoint
    assert not LocalStep("a", act, rejects_before_writing=True).needs_savepoint


async def _failed_at_pivot(engine: SagaOrchestrator, store: FakeStore, clock: Clock
                           ) -> uuid.UUID:
    sid = await _timed_out_pivot(engine, store, clock)
    while store.sagas[sid].status == SagaStatus.compensating:
        clock.now += timedelta(minutes=5)
        for due in await store.claim_due(clock.now, 10):
            await engine.handle_due(store, due)
    assert store.sagas[sid].status == SagaStatus.failed
    return sid


async def test_a_retry_at_a_pivot_past_the_inbox_window_is_refused(rec, clock) -> None:
    definition = SagaDefinition(type="pivot", data=Demo, steps=(
        LocalStep("a", rec.a, compensation=rec.undo_a),
        RemoteStep("p", lambda d: PurgePost(post_id=1), cancel_on_timeout=True),
    ))
    engine = SagaOrchestrator(service="core", definitions=[definition], step_timeout=10,
                              max_attempts=1, compensation_max_attempts=2, clock=clock,
                              retry_window=timedelta(hours=1))
    store = FakeStore()
    sid = await _failed_at_pivot(engine, store, clock)
    sent = len(store.sent)
    clock.now = store.sagas[sid].created_at + timedelta(minutes=59)  # type: ignore[operator]
    await engine.retry(store, sid)  # within the window: a new probe
    assert store.sagas[sid].status == SagaStatus.compensating and len(store.sent) == sent + 1

    store = FakeStore()
    sid = await _failed_at_pivot(engine, store, clock)
    clock.now = store.sagas[sid].created_at + timedelta(hours=1)  # type: ignore[operator]
    with pytest.raises(RetryRefused, match="may no longer remember"):
        await engine.retry(store, sid)
    assert store.sagas[sid].status == SagaStatus.failed
    assert rec.calls.count("undo_a:no reply from p after 1 attempts") == 0
