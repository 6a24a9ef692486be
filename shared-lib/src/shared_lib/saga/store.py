"""Persistence of saga state for the engine: SQL, and the interface fakes implement."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import (
    ARRAY,
    Boolean,
    DateTime,
    String,
    Text,
    bindparam,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from shared_lib.contracts import Envelope
from shared_lib.outbox import add_to_outbox
from shared_lib.tables import saga_steps, sagas

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


@dataclass(frozen=True)
class LogEntry:
    saga_id: uuid.UUID
    step: str
    action: StepAction
    detail: str | None = None
    compensation: bool = False


class SagaStore(Protocol):
    session: Any

    async def load_for_update(self, saga_id: uuid.UUID) -> SagaState | None: ...
    async def claim_due(self, now: datetime, limit: int) -> list[SagaState]: ...
    async def record(self, state: SagaState, entries: list[LogEntry], *, new: bool
                     ) -> None: ...
    async def add_log(self, entries: list[LogEntry]) -> None: ...
    async def send(self, envelope: Envelope, exchange: str) -> None: ...
    async def notify_finished(self, saga_id: uuid.UUID, status: SagaStatus) -> None: ...


def _row_to_state(row: Any) -> SagaState:
    return SagaState(
        id=row.id, type=row.type, status=SagaStatus(row.status), step_index=row.step_index,
        data=dict(row.data), deadline=row.deadline, attempts=row.attempts, reason=row.reason,
        version=row.version, created_at=row.created_at, retry_round=row.retry_round,
    )


# The statements of a saga transition, built once (a transition costs no statement
# building; see messaging.inbox).
_LOAD = select(sagas).where(sagas.c.id == bindparam("id"))
_LOAD_FOR_UPDATE = _LOAD.with_for_update()
_ADD_LOG = insert(saga_steps)
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")

# A transition in one round trip: the saga's row (inserted or updated), its step log
# and, when it ends, the NOTIFY; every transition of every saga runs one of these.
_LOG_AND_NOTIFY = """
    logged AS (
        INSERT INTO saga_steps (saga_id, step, action, detail, compensation)
        SELECT :id, step, action, detail, compensation
        FROM unnest(CAST(:steps AS varchar[]), CAST(:actions AS varchar[]),
                    CAST(:details AS text[]), CAST(:compensations AS boolean[]))
             AS entry(step, action, detail, compensation)
    )
    SELECT pg_notify(:channel, :payload) WHERE :notify
"""
_TRANSITION_PARAMS = (
    bindparam("id", type_=UUID(as_uuid=True)), bindparam("data", type_=JSONB),
    bindparam("deadline", type_=DateTime(timezone=True)), bindparam("notify", type_=Boolean),
    bindparam("steps", type_=ARRAY(String)), bindparam("actions", type_=ARRAY(String)),
    bindparam("details", type_=ARRAY(Text)), bindparam("compensations", type_=ARRAY(Boolean)))
_RECORD_NEW = text("""
    WITH saved AS (
        INSERT INTO sagas (id, type, status, step_index, data, deadline, attempts, reason,
                           version, retry_round)
        VALUES (:id, :type, :status, :step_index, :data, :deadline, :attempts, :reason,
                :version, :retry_round)
    ),""" + _LOG_AND_NOTIFY).bindparams(*_TRANSITION_PARAMS)
_RECORD = text("""
    WITH saved AS (
        UPDATE sagas SET status = :status, step_index = :step_index, data = :data,
                         deadline = :deadline, attempts = :attempts, reason = :reason,
                         version = :version, retry_round = :retry_round,
                         updated_at = now()
        WHERE id = :id
    ),""" + _LOG_AND_NOTIFY).bindparams(*_TRANSITION_PARAMS)


def _state_params(state: SagaState) -> dict[str, Any]:
    return {"status": state.status.value, "step_index": state.step_index, "data": state.data,
            "deadline": state.deadline, "attempts": state.attempts, "reason": state.reason,
            "version": state.version, "retry_round": state.retry_round}


class SqlSagaStore:
    """Saga state in the service's own database, inside the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def load_for_update(self, saga_id: uuid.UUID) -> SagaState | None:
        row = (await self.session.execute(_LOAD_FOR_UPDATE, {"id": saga_id})).first()
        return _row_to_state(row) if row else None

    async def load(self, saga_id: uuid.UUID) -> SagaState | None:
        """The saga as it stands, without locking it (to answer a client)."""
        row = (await self.session.execute(_LOAD, {"id": saga_id})).first()
        return _row_to_state(row) if row else None

    async def claim_due(self, now: datetime, limit: int) -> list[SagaState]:
        rows = (
            await self.session.execute(
                select(sagas)
                .where(sagas.c.status.in_([SagaStatus.running.value,
                                           SagaStatus.compensating.value]))
                .where(sagas.c.deadline <= now)
                .order_by(sagas.c.deadline)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        return [_row_to_state(r) for r in rows]

    async def record(self, state: SagaState, entries: list[LogEntry], *, new: bool) -> None:
        """Write a transition in one round trip: the saga's row (``new``: inserted,
        else updated with the next version), its log entries and, once the saga has
        ended, the NOTIFY that wakes whoever waits for it."""
        if not new:
            state.version += 1
        if any(e.saga_id != state.id for e in entries):
            raise ValueError("a transition logs entries of its own saga only")
        final = state.status in FINAL_STATUSES
        await self.session.execute(_RECORD_NEW if new else _RECORD, {
            "id": state.id, "type": state.type, **_state_params(state),
            "steps": [e.step for e in entries], "actions": [e.action.value for e in entries],
            "details": [e.detail for e in entries],
            "compensations": [e.compensation for e in entries],
            "notify": final, "channel": SAGA_FINISHED_CHANNEL,
            "payload": f"{state.id}:{state.status.value}"})

    async def add_log(self, entries: list[LogEntry]) -> None:
        if not entries:
            return
        await self.session.execute(
            _ADD_LOG,
            [
                {"saga_id": e.saga_id, "step": e.step, "action": e.action.value,
                 "detail": e.detail, "compensation": e.compensation}
                for e in entries
            ],
        )

    async def send(self, envelope: Envelope, exchange: str) -> None:
        await add_to_outbox(self.session, envelope, exchange)

    async def park(self, saga_id: uuid.UUID, reason: str) -> None:
        """Fail a saga without its definition: the last resort for one whose
        transitions cannot even be failed normally."""
        parked = await self.session.scalar(
            update(sagas)
            .where(sagas.c.id == saga_id,
                   sagas.c.status.in_([SagaStatus.running.value, SagaStatus.compensating.value]))
            .values(status=SagaStatus.failed.value, deadline=None, reason=reason[:2000],
                    version=sagas.c.version + 1, updated_at=text("now()"))
            .returning(sagas.c.id))
        if parked is not None:
            await self.add_log([LogEntry(saga_id, "?", StepAction.failed, reason[:2000])])
            await self.notify_finished(saga_id, SagaStatus.failed)

    async def notify_finished(self, saga_id: uuid.UUID, status: SagaStatus) -> None:
        await self.session.execute(
            _NOTIFY,
            {"channel": SAGA_FINISHED_CHANNEL, "payload": f"{saga_id}:{status.value}"},
        )
