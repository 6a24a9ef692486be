"""The saga orchestrator: runs :class:`SagaDefinition` s on persisted state.

Every transition happens inside one database transaction of the initiator
that also holds the saga row lock (``SELECT ... FOR UPDATE``), the step log
and the outgoing commands (outbox). So:

* two replies for one saga never both advance it (the second waits for the
  lock, then finds the saga moved on and is ignored);
* a crash at any point leaves either the old state or the new one, and the
  outbox relay and the deadline scanner carry on from there on any replica.

Commands for a step keep one message id on every re-send
(:func:`saga_message_id`), so the participant's inbox recognises them, and a
reply is matched to the command it answers by its ``causation_id``: a late
or duplicate reply is recorded in the step log and ignored.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from shared_lib.contracts import (
    ALREADY_APPLIED,
    Command,
    Envelope,
    Payload,
    ReplyOutcome,
    SagaCancel,
    SagaReply,
    envelope_for,
)
from shared_lib.contracts.routing import default_exchange, replies_exchange
from shared_lib.database import savepoint
from shared_lib.tracing import current_ids

from .definition import (
    FINAL_STATUSES,
    LocalStep,
    RemoteStep,
    SagaContext,
    SagaData,
    SagaDefinition,
    SagaStatus,
    StepAction,
    StepRejected,
)
from .participant import saga_message_id
from .store import LogEntry, SagaState, SagaStore

log = logging.getLogger(__name__)

_TIMEOUT_REASON = "no reply from {step} after {attempts} attempts"


def is_timeout(reason: str | None) -> bool:
    """Whether a saga was rejected because a participant did not answer in time."""
    return bool(reason) and reason.startswith("no reply from ")  # type: ignore[union-attr]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class UnknownSaga(KeyError):
    pass


class RetryRefused(ValueError):
    """An operator's retry that cannot be done safely (the message says why)."""


class SagaOrchestrator:
    def __init__(
        self,
        *,
        service: str,
        definitions: Sequence[SagaDefinition],
        step_timeout: float,
        max_attempts: int,
        compensation_max_attempts: int,
        retry_window: timedelta | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.service = service
        self.definitions = {d.type: d for d in definitions}
        self.step_timeout = timedelta(seconds=step_timeout)
        self.max_attempts = max_attempts
        self.compensation_max_attempts = compensation_max_attempts
        #: how long participants remember the commands they handled (their inbox
        #: retention): a saga older than that cannot be asked whether its pivot ran
        self.retry_window = retry_window
        self.clock = clock
        #: called with (saga type, started) and (saga type, final status, seconds)
        self.on_started: Callable[[str], None] | None = None
        self.on_ended: Callable[[str, str, float], None] | None = None

    # ------------------------------------------------------------------ api
    async def start(
        self, store: SagaStore, saga_type: str, data: SagaData,
        saga_id: uuid.UUID | None = None,
    ) -> SagaState:
        """Start a saga in the caller's transaction: run its first local steps
        and send its first command. Returns the state after that; the steps fill
        in ``data`` (the ids they make)."""
        definition = self._definition(saga_type)
        if type(data) is not definition.data:
            raise TypeError(f"saga {saga_type} takes {definition.data.__name__}, "
                            f"not {type(data).__name__}")
        st = SagaState(id=saga_id or uuid.uuid4(), type=definition.type,
                       status=SagaStatus.running, step_index=0, data={},
                       created_at=self.clock())
        ids = current_ids()
        if ids is not None:  # its later transitions continue this trace
            st.trace_id, st.trace_span_id = ids
        if self.on_started is not None:
            self.on_started(st.type)
        entries: list[LogEntry] = []
        await self._advance(store, st, data, 0, entries, causation=None)
        st.data = data.model_dump(mode="json")
        await store.record(st, entries, new=True)
        if st.status in FINAL_STATUSES:
            self._ended(st)
        return st

    async def handle_reply(self, store: SagaStore, envelope: Envelope, reply: SagaReply, *,
                           claim_for: str | None = None) -> bool:
        """Apply a participant's reply (called by the replies consumer). With
        ``claim_for`` (a consumer's name), the reply is claimed for it in its inbox in
        the statement that loads the saga; a reply it has seen changes nothing.
        Whether the reply was new (True when not claimed here)."""
        saga_id = envelope.correlation_id
        if claim_for is None:
            st = await store.load_for_update(saga_id) if saga_id is not None else None
        else:
            new, st = await store.claim_and_load_for_update(
                saga_id, claim_for, envelope.message_id, envelope.type)
            if not new:
                return False
        if saga_id is None:
            log.warning("reply %s without correlation id ignored", envelope.message_id)
            return True
        if st is None:
            log.warning("reply %s for unknown saga %s ignored", envelope.message_id, saga_id)
            return True
        entries: list[LogEntry] = []
        definition = self._definition(st.type)
        step_name = envelope.step or "?"
        if st.status in FINAL_STATUSES:
            entries.append(LogEntry(st.id, step_name, StepAction.ignored,
                                    f"late {reply.outcome} reply: saga already {st.status}",
                                    envelope.compensation))
            await store.add_log(entries)
            return True
        compensating = st.status == SagaStatus.compensating
        step = definition.steps[st.step_index]
        expected = self._command_id(st, step.name, compensating)
        if envelope.causation_id != expected:
            entries.append(LogEntry(st.id, step_name, StepAction.ignored,
                                    f"stale {reply.outcome} reply (saga at {step.name}, "
                                    f"{st.status})", envelope.compensation))
            await store.add_log(entries)
            return True
        if not isinstance(step, RemoteStep):
            raise RuntimeError(f"saga {st.id} waits at local step {step.name}")
        data = self.data_of(st)
        causation = envelope.message_id
        if not compensating:
            if reply.outcome == ReplyOutcome.accepted:
                if step.on_reply is not None:
                    await step.on_reply(self._ctx(store, st, data, causation), reply)
                entries.append(LogEntry(st.id, step.name, StepAction.completed))
                await self._advance(store, st, data, st.step_index + 1, entries, causation)
            else:
                st.reason = reply.reason or "rejected"
                entries.append(LogEntry(st.id, step.name, StepAction.rejected, st.reason))
                await self._compensate(store, st, data, st.step_index - 1, entries,
                                       causation)
        elif step.compensation is None and reply.reason == ALREADY_APPLIED:
            # the cancel probe found that the unanswered command did run: go forward
            entries.append(LogEntry(st.id, step.name, StepAction.completed,
                                    "the command had run before the cancel", True))
            st.status = SagaStatus.running
            st.reason = None
            if step.on_reply is not None:
                await step.on_reply(self._ctx(store, st, data, causation),
                                    SagaReply(outcome=ReplyOutcome.accepted, data=reply.data))
            await self._advance(store, st, data, st.step_index + 1, entries, causation)
        elif reply.outcome == ReplyOutcome.accepted:
            entries.append(LogEntry(st.id, step.name, StepAction.compensated, None, True))
            await self._compensate(store, st, data, st.step_index - 1, entries, causation)
        else:
            st.status = SagaStatus.failed
            st.deadline = None
            entries.append(LogEntry(st.id, step.name, StepAction.failed,
                                    f"compensation rejected: {reply.reason}", True))
        await self._persist(store, st, entries, data)
        return True

    async def handle_due(self, store: SagaStore, st: SagaState) -> None:
        """A remote step passed its deadline: re-send, give up or fail."""
        entries: list[LogEntry] = []
        definition = self._definition(st.type)
        data = self.data_of(st)
        step = definition.steps[st.step_index]
        if not isinstance(step, RemoteStep):
            raise RuntimeError(f"saga {st.id} has a deadline at local step {step.name}")
        compensating = st.status == SagaStatus.compensating
        limit = self.compensation_max_attempts if compensating else self.max_attempts
        if st.attempts < limit:
            st.attempts += 1
            st.deadline = self.clock() + self._backoff(st.attempts, compensating)
            await self._send(store, st, data, step, compensating, causation=None)
            entries.append(LogEntry(st.id, step.name, StepAction.retried,
                                    f"no reply; attempt {st.attempts} of {limit}", compensating))
        elif not compensating:
            st.reason = _TIMEOUT_REASON.format(step=step.name, attempts=st.attempts)
            entries.append(LogEntry(st.id, step.name, StepAction.rejected, st.reason))
            if step.compensation is None and step.cancel_on_timeout:
                # no way to undo it: ask the participant to cancel it, or say it ran
                st.status = SagaStatus.compensating
                st.attempts = 1
                st.deadline = self.clock() + self.step_timeout
                await self._send(store, st, data, step, compensation=True, causation=None)
                entries.append(LogEntry(st.id, step.name, StepAction.compensating,
                                        "cancel requested", True))
            else:
                # the command may still have run: compensate this step too
                await self._compensate(store, st, data, st.step_index, entries,
                                       causation=None)
        else:
            st.status = SagaStatus.failed
            st.deadline = None
            entries.append(LogEntry(st.id, step.name, StepAction.failed,
                                    f"compensation unanswered after {st.attempts} attempts",
                                    True))
        await self._persist(store, st, entries, data)

    async def fail(self, store: SagaStore, saga_id: uuid.UUID, error: str) -> None:
        """Mark a saga failed after an error its transitions could not get past.

        Works without the saga's definition too (a type retired by a deploy, a
        step index out of range), so that such a saga is parked, not retried
        for ever."""
        st = await store.load_for_update(saga_id)
        if st is None or st.status in FINAL_STATUSES:
            return
        definition = self.definitions.get(st.type)
        step = (definition.steps[st.step_index].name
                if definition is not None and 0 <= st.step_index < len(definition.steps)
                else f"#{st.step_index}")
        st.status = SagaStatus.failed
        st.deadline = None
        st.reason = error[:2000]
        await self._persist(store, st, [LogEntry(st.id, step, StepAction.failed, st.reason)])

    async def retry(self, store: SagaStore, saga_id: uuid.UUID) -> SagaState:
        """Retry a failed saga from where it stopped (operator action).

        Normally that is its compensation. A saga that failed waiting to learn
        whether its pivot ran (a step with ``cancel_on_timeout``) asks the
        participant again with a new cancel probe: it compensates only if the
        participant confirms the command never ran, and goes forward if it did;
        compensating blindly could undo the steps before a pivot that ran.
        """
        st = await store.load_for_update(saga_id)
        if st is None:
            raise UnknownSaga(saga_id)
        if st.status != SagaStatus.failed:
            raise RetryRefused(f"saga {saga_id} is {st.status}, only failed sagas can be "
                               "retried")
        step = self._definition(st.type).steps[st.step_index]
        probes_pivot = (isinstance(step, RemoteStep) and step.compensation is None
                        and step.cancel_on_timeout)
        if probes_pivot and self.retry_window is not None and st.created_at is not None \
                and self.clock() - st.created_at >= self.retry_window:
            raise RetryRefused(
                f"saga {saga_id} started more than {self.retry_window} ago (the inbox "
                f"retention): the participant of {step.name} may no longer remember "
                "whether it ran, so it cannot be asked safely: settle it by hand "
                "(docs/sagas.md, \"Failed sagas and operator retry\")")
        data = self.data_of(st)
        st.retry_round += 1
        if probes_pivot:
            assert isinstance(step, RemoteStep)
            st.status = SagaStatus.compensating
            st.attempts = 1
            st.deadline = self.clock() + self.step_timeout
            await self._send(store, st, data, step, compensation=True, causation=None)
            entries = [LogEntry(st.id, step.name, StepAction.retried,
                                "cancel requested again by operator", True)]
        else:
            entries = [LogEntry(st.id, step.name, StepAction.retried,
                                "compensation retried by operator", True)]
            await self._compensate(store, st, data, st.step_index, entries, causation=None)
        await self._persist(store, st, entries, data)
        return st

    def longest_lifetime(self) -> timedelta:
        """How long the longest saga here can take in the worst case: every remote
        step re-sent until its last attempt, then every compensation (or cancel
        probe) re-sent with back-off until its last attempt. A participant's
        inbox must remember a command at least that long (plus how late a
        dead-lettered copy may be replayed), or a late copy would run twice."""
        longest = timedelta(0)
        compensation = sum((self._backoff(a, True)
                            for a in range(1, self.compensation_max_attempts + 1)),
                           timedelta(0))
        for definition in self.definitions.values():
            remote = [s for s in definition.steps if isinstance(s, RemoteStep)]
            undone = [s for s in remote if s.compensation is not None or s.cancel_on_timeout]
            total = (len(remote) * self.step_timeout * self.max_attempts
                     + len(undone) * compensation)
            longest = max(longest, total)
        return longest

    # ------------------------------------------------------------ internals
    def _definition(self, saga_type: str) -> SagaDefinition:
        try:
            return self.definitions[saga_type]
        except KeyError:
            raise UnknownSaga(saga_type) from None

    def data_of(self, st: SagaState) -> SagaData:
        """The saga's data as its model (validated: a saga whose stored data no
        longer fits its model fails rather than running on it)."""
        return self._definition(st.type).data.model_validate(st.data)

    def _ctx(self, store: SagaStore, st: SagaState, data: SagaData,
             causation: uuid.UUID | None) -> SagaContext[Any]:
        return SagaContext(tx=store.tx, saga_id=st.id, saga_type=st.type,
                           data=data, service=self.service, reason=st.reason,
                           causation_id=causation, outgoing=store.outgoing)

    def _backoff(self, attempt: int, compensating: bool) -> timedelta:
        """Time to wait for a reply: the step timeout, doubling for each re-sent
        compensation (they are retried for long before the saga is failed)."""
        if not compensating:
            return self.step_timeout
        return self.step_timeout * min(2 ** (attempt - 1), 64)

    def _command_id(self, st: SagaState, step: str, compensation: bool) -> uuid.UUID:
        rnd = st.retry_round if compensation else 0
        return saga_message_id(st.id, step if rnd == 0 else f"{step}#{rnd}", compensation)

    async def _send(self, store: SagaStore, st: SagaState, data: SagaData, step: RemoteStep,
                    compensation: bool, causation: uuid.UUID | None) -> None:
        command = step.command(data)
        message: Payload = command
        if compensation:
            message = (step.compensation(data) if step.compensation is not None
                       else SagaCancel(command_type=command.TYPE,
                                       command=command.model_dump(mode="json")))
        # a cancel probe goes to the participant that handles the command
        exchange = default_exchange(message if isinstance(message, Command) else command)
        env = envelope_for(
            message, source=self.service, correlation_id=st.id, causation_id=causation,
            message_id=self._command_id(st, step.name, compensation), step=step.name,
            reply_to=replies_exchange(self.service), compensation=compensation,
        )
        await store.send(env, exchange)

    async def _advance(self, store: SagaStore, st: SagaState, data: SagaData, index: int,
                       entries: list[LogEntry], causation: uuid.UUID | None) -> None:
        steps = self._definition(st.type).steps
        i = index
        while i < len(steps):
            step = steps[i]
            st.step_index = i
            if isinstance(step, LocalStep):
                published = len(store.outgoing)
                try:
                    if step.needs_savepoint:
                        async with _savepoint(store):
                            await step.action(self._ctx(store, st, data, causation))
                    else:
                        await step.action(self._ctx(store, st, data, causation))
                except StepRejected as rej:
                    del store.outgoing[published:]  # a refused step publishes nothing
                    st.reason = rej.reason
                    entries.append(LogEntry(st.id, step.name, StepAction.rejected, rej.reason))
                    await self._compensate(store, st, data, i - 1, entries, causation)
                    return
                entries.append(LogEntry(st.id, step.name, StepAction.completed))
                i += 1
                continue
            st.attempts = 1
            st.deadline = self.clock() + self.step_timeout
            await self._send(store, st, data, step, compensation=False, causation=causation)
            entries.append(LogEntry(st.id, step.name, StepAction.started))
            return
        st.status = SagaStatus.completed
        st.deadline = None
        st.attempts = 0

    async def _compensate(self, store: SagaStore, st: SagaState, data: SagaData, index: int,
                          entries: list[LogEntry], causation: uuid.UUID | None) -> None:
        steps = self._definition(st.type).steps
        st.status = SagaStatus.compensating
        j = index
        while j >= 0:
            step = steps[j]
            st.step_index = j
            if isinstance(step, LocalStep):
                if step.compensation is not None:
                    await step.compensation(self._ctx(store, st, data, causation))
                    entries.append(LogEntry(st.id, step.name, StepAction.compensated, None,
                                            True))
            elif step.compensation is not None:
                st.attempts = 1
                st.deadline = self.clock() + self.step_timeout
                await self._send(store, st, data, step, compensation=True, causation=causation)
                entries.append(LogEntry(st.id, step.name, StepAction.compensating, None, True))
                return
            j -= 1
        st.status = SagaStatus.compensated
        st.step_index = 0
        st.deadline = None
        st.attempts = 0

    async def _persist(self, store: SagaStore, st: SagaState, entries: list[LogEntry],
                       data: SagaData | None = None) -> None:
        if data is not None:
            st.data = data.model_dump(mode="json")
        await store.record(st, entries, new=False)
        if st.status in FINAL_STATUSES:
            self._ended(st)

    def _ended(self, st: SagaState) -> None:
        log.info("saga %s %s %s", st.type, st.id, st.status.value,
                 extra={"fields": {"saga_type": st.type, "saga_status": st.status.value,
                                   "reason": st.reason}})
        if self.on_ended is not None:
            started = st.created_at or self.clock()
            self.on_ended(st.type, st.status.value,
                          max(0.0, (self.clock() - started).total_seconds()))


class _savepoint:
    """A SAVEPOINT around a local step, so a rejecting step leaves no writes (none
    for a store without a transaction: the unit tests' fakes)."""

    def __init__(self, store: SagaStore) -> None:
        tx = getattr(store, "tx", None)
        self._nested: Any = savepoint(tx) if tx is not None else None

    async def __aenter__(self) -> None:
        if self._nested is not None:
            await self._nested.__aenter__()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._nested is not None:
            await self._nested.__aexit__(exc_type, exc, tb)
