"""Persistence of saga state for the engine: SQL, and the interface fakes implement."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared_lib.contracts import Envelope
from shared_lib.database import Queries, Statement
from shared_lib.outbox import insert_rows_sql, row_arrays

from .definition import FINAL_STATUSES, SagaStatus, StepAction

#: PostgreSQL NOTIFY channel on which a saga's id is announced when it ends
SAGA_FINISHED_CHANNEL = "saga_finished"


@dataclass
class SagaState:
    id: uuid.UUID
    type: str
    status: SagaStatus
    step_index: int
    data: dict[str, Any]
    deadline: datetime | None = None
    attempts: int = 0
    reason: str | None = None
    version: int = 1
    created_at: datetime | None = None
    #: operator retries so far (each re-sends the compensations under new ids)
    retry_round: int = 0
    #: the trace the saga started in and the span that started it (hex; tracing on)
    trace_id: str | None = None
    trace_span_id: str | None = None


@dataclass(frozen=True)
class LogEntry:
    saga_id: uuid.UUID
    step: str
    action: StepAction
    detail: str | None = None
    compensation: bool = False


class SagaStore(Protocol):
    #: the transaction a saga's transition runs in (its local steps' too)
    tx: Any
    #: the messages written with the transition by :meth:`record`: the commands
    #: :meth:`send` was given and the events its local steps published
    #: (``(envelope, exchange, routing key)``)
    outgoing: list[tuple[Envelope, str, str]]

    async def load_for_update(self, saga_id: uuid.UUID) -> SagaState | None: ...
    async def claim_and_load_for_update(self, saga_id: uuid.UUID | None, consumer: str,
                                        message_id: uuid.UUID, message_type: str
                                        ) -> tuple[bool, SagaState | None]: ...
    async def claim_due(self, now: datetime, limit: int) -> list[SagaState]: ...
    async def record(self, state: SagaState, entries: list[LogEntry], *, new: bool
                     ) -> None: ...
    async def add_log(self, entries: list[LogEntry]) -> None: ...
    async def send(self, envelope: Envelope, exchange: str) -> None: ...
    async def notify_finished(self, saga_id: uuid.UUID, status: SagaStatus) -> None: ...


# The statements of a saga transition, defined once, run by asyncpg in the caller's
# transaction (shared_lib.database).
_COLUMNS = ("id, type, status, step_index, data, deadline, attempts, reason, version, "
            "created_at, retry_round, trace_id, trace_span_id")
_LOAD = Statement("sagas.load", f"SELECT {_COLUMNS} FROM sagas WHERE id = $1")
_LOAD_FOR_UPDATE = Statement(
    "sagas.load_for_update", f"SELECT {_COLUMNS} FROM sagas WHERE id = $1 FOR UPDATE")
#: a reply claimed in the replies consumer's inbox and, when new there, its saga
#: loaded and locked: one round trip ($1 saga, $2-$4 the claim: consumer, message
#: id, message type)
_CLAIM_AND_LOAD_FOR_UPDATE = Statement("sagas.claim_and_load_for_update", f"""
    WITH claim AS (
        INSERT INTO inbox (consumer, message_id, message_type) VALUES ($2, $3, $4)
        ON CONFLICT DO NOTHING RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM claim) AS new, s.*
    FROM (SELECT 1) AS one LEFT JOIN LATERAL (
        SELECT {_COLUMNS} FROM sagas WHERE id = $1 AND EXISTS (SELECT 1 FROM claim)
        FOR UPDATE) AS s ON true""")
_CLAIM_DUE = Statement("sagas.claim_due", f"""
    SELECT {_COLUMNS} FROM sagas
    WHERE status IN ('{SagaStatus.running.value}', '{SagaStatus.compensating.value}')
      AND deadline <= $1
    ORDER BY deadline LIMIT $2 FOR UPDATE SKIP LOCKED""")
_LOG_SEND_AND_NOTIFY = f"""
    logged AS (
        INSERT INTO saga_steps (saga_id, step, action, detail, compensation)
        SELECT $1, step, action, detail, compensation
        FROM unnest($10::varchar[], $11::varchar[], $12::text[], $13::boolean[])
             AS entry(step, action, detail, compensation)
    ),
    sent AS ({insert_rows_sql(17)})
    SELECT pg_notify($14, $15) WHERE $16::boolean"""
#: a transition in one round trip: the saga's row (inserted, or updated), its step log,
#: the commands it sends (outbox rows, $17-$23) and, when it ends, the NOTIFY ($24-$26:
#: a new saga's type and trace)
_RECORD_NEW = Statement("sagas.record_new", """
    WITH saved AS (
        INSERT INTO sagas (id, status, step_index, data, deadline, attempts, reason,
                           version, retry_round, type, trace_id, trace_span_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $24, $25, $26)
    ),""" + _LOG_SEND_AND_NOTIFY)
_RECORD = Statement("sagas.record", """
    WITH saved AS (
        UPDATE sagas SET status = $2, step_index = $3, data = $4, deadline = $5,
                         attempts = $6, reason = $7, version = $8, retry_round = $9,
                         updated_at = now()
        WHERE id = $1
    ),""" + _LOG_SEND_AND_NOTIFY)
_ADD_LOG = Statement("sagas.add_log", """
    INSERT INTO saga_steps (saga_id, step, action, detail, compensation)
    SELECT * FROM unnest($1::uuid[], $2::varchar[], $3::varchar[], $4::text[],
                         $5::boolean[])""")
_PARK = Statement("sagas.park", f"""
    UPDATE sagas SET status = '{SagaStatus.failed.value}', deadline = NULL, reason = $2,
                     version = version + 1, updated_at = now()
    WHERE id = $1
      AND status IN ('{SagaStatus.running.value}', '{SagaStatus.compensating.value}')
    RETURNING id""")
_NOTIFY = Statement("sagas.notify", "SELECT pg_notify($1, $2)")


def _record_to_state(row: Any) -> SagaState:
    return SagaState(
        id=row["id"], type=row["type"], status=SagaStatus(row["status"]),
        step_index=row["step_index"], data=dict(row["data"]), deadline=row["deadline"],
        attempts=row["attempts"], reason=row["reason"], version=row["version"],
        created_at=row["created_at"], retry_round=row["retry_round"],
        trace_id=row["trace_id"], trace_span_id=row["trace_span_id"])


class SqlSagaStore:
    """Saga state in the service's own database, inside the caller's transaction
    (:class:`shared_lib.database.Queries`)."""

    def __init__(self, q: Queries) -> None:
        self.tx: Queries = q
        #: commands sent and events published during this transition, written with it
        #: by :meth:`record`, in its statement
        self.outgoing: list[tuple[Envelope, str, str]] = []

    async def load_for_update(self, saga_id: uuid.UUID) -> SagaState | None:
        row = await self.tx.fetchrow(_LOAD_FOR_UPDATE, saga_id)
        return _record_to_state(row) if row else None

    async def claim_and_load_for_update(self, saga_id: uuid.UUID | None, consumer: str,
                                        message_id: uuid.UUID, message_type: str
                                        ) -> tuple[bool, SagaState | None]:
        """Claim a reply in ``consumer``'s inbox and, when it is new there, load and
        lock its saga (none without ``saga_id``), in one statement: whether it was
        new, and the saga."""
        row = await self.tx.fetchrow(_CLAIM_AND_LOAD_FOR_UPDATE, saga_id, consumer,
                                     message_id, message_type)
        assert row is not None  # one row always
        if not row["new"]:
            return False, None
        return True, _record_to_state(row) if row["id"] is not None else None

    async def load(self, saga_id: uuid.UUID) -> SagaState | None:
        """The saga as it stands, without locking it (to answer a client)."""
        row = await self.tx.fetchrow(_LOAD, saga_id)
        return _record_to_state(row) if row else None

    async def claim_due(self, now: datetime, limit: int) -> list[SagaState]:
        return [_record_to_state(r) for r in await self.tx.fetch(_CLAIM_DUE, now, limit)]

    async def record(self, state: SagaState, entries: list[LogEntry], *, new: bool) -> None:
        """Write a transition in one round trip: the saga's row (``new``: inserted,
        else updated with the next version), its log entries, the commands
        :meth:`send` was given and the events its steps published (``outgoing``)
        and, once the saga has ended, the NOTIFY that wakes whoever waits for it."""
        if not new:
            state.version += 1
        if any(e.saga_id != state.id for e in entries):
            raise ValueError("a transition logs entries of its own saga only")
        args: list[Any] = [
            state.id, state.status.value, state.step_index, state.data, state.deadline,
            state.attempts, state.reason, state.version, state.retry_round,
            [e.step for e in entries], [e.action.value for e in entries],
            [e.detail for e in entries], [e.compensation for e in entries],
            SAGA_FINISHED_CHANNEL, f"{state.id}:{state.status.value}",
            state.status in FINAL_STATUSES]
        arrays = row_arrays(self.outgoing)
        args += arrays
        if new:
            await self.tx.execute(_RECORD_NEW, *args, state.type, state.trace_id,
                                  state.trace_span_id)
        else:
            await self.tx.execute(_RECORD, *args)
        if self.outgoing:
            self.outgoing.clear()
            self.tx.wrote_outbox(arrays)

    async def add_log(self, entries: list[LogEntry]) -> None:
        if not entries:
            return
        await self.tx.execute(_ADD_LOG, [e.saga_id for e in entries],
                              [e.step for e in entries], [e.action.value for e in entries],
                              [e.detail for e in entries], [e.compensation for e in entries])

    async def send(self, envelope: Envelope, exchange: str) -> None:
        """A command of this transition: written to the outbox by :meth:`record`, in
        the transition's own statement (every transition that sends one records)."""
        self.outgoing.append((envelope, exchange, envelope.type))

    async def park(self, saga_id: uuid.UUID, reason: str) -> None:
        """Fail a saga without its definition: the last resort for one whose
        transitions cannot even be failed normally."""
        if await self.tx.fetchval(_PARK, saga_id, reason[:2000]) is not None:
            await self.add_log([LogEntry(saga_id, "?", StepAction.failed, reason[:2000])])
            await self.notify_finished(saga_id, SagaStatus.failed)

    async def notify_finished(self, saga_id: uuid.UUID, status: SagaStatus) -> None:
        await self.tx.execute(_NOTIFY, SAGA_FINISHED_CHANNEL,
                              f"{saga_id}:{status.value}")
