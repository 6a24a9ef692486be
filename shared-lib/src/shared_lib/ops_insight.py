"""What the operator endpoints tell about sagas, the outbox and background tasks.

The models the ``/ops`` endpoints answer with (saga statistics, saga type
definitions, outbox health, supervised tasks) and the pure functions and queries
that build them; :mod:`shared_lib.ops` exposes them.
"""

from __future__ import annotations

import typing
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, and_, func, or_, select, text
from sqlalchemy.sql import Select

from shared_lib.saga.definition import LocalStep, RemoteStep, SagaDefinition, SagaStatus
from shared_lib.supervisor import TaskState
from shared_lib.tables import sagas

#: fields of a saga's data that name a user (the saga types' data models)
USER_FIELDS = ("user_id", "author_id", "sender_id", "receiver_id")
#: fields of a saga's data that name a post
POST_FIELDS = ("post_id",)
UNFINISHED = (SagaStatus.running.value, SagaStatus.compensating.value)


# ------------------------------------------------------------------ models
class SagaCount(BaseModel):
    type: str
    status: str
    count: int


class SagaRate(BaseModel):
    """Sagas of one type started recently."""

    type: str
    last_5_minutes: int
    last_60_minutes: int
    #: running or compensating past their deadline
    stuck: int


class SagaStatsOut(BaseModel):
    service: str
    counts: list[SagaCount]
    rates: list[SagaRate]
    stuck: int
    at: datetime


class StepDefinitionOut(BaseModel):
    """One step of a saga type, in order."""

    index: int
    name: str
    #: ``local`` (the initiator's own transaction) or ``remote`` (a command)
    kind: str
    #: the service that runs the step: the initiator for a local step, the command's
    #: handler for a remote one
    service: str
    command: str | None = None
    compensation: bool
    compensation_command: str | None = None
    #: seconds the initiator waits for the participant's reply (remote steps)
    timeout_seconds: float | None = None
    #: a pivot: on a timeout it is cancelled, never compensated
    cancel_on_timeout: bool = False


class SagaTypeOut(BaseModel):
    type: str
    #: the service that runs the saga
    initiator: str
    description: str
    steps: list[StepDefinitionOut]


class TaskOut(BaseModel):
    """A supervised background task, or a queue consumer."""

    name: str
    kind: str  # "task" or "consumer"
    running: bool
    restarts: int = 0
    last_error: str | None = None


class OutboxOut(BaseModel):
    service: str
    unsent: int
    oldest_unsent_seconds: float | None
    parked: int
    #: the relay (sweeps what the dispatcher could not publish) and the dispatcher
    relay: TaskOut | None
    dispatcher: TaskOut | None
    healthy: bool


class TasksOut(BaseModel):
    service: str
    tasks: list[TaskOut]
    down: list[str]


# ------------------------------------------------------------ saga types
def command_type(builder: Any) -> tuple[str | None, str | None]:
    """The message type and handler of the command a builder makes (from its return
    annotation), without calling it."""
    try:
        hints = typing.get_type_hints(builder)
    except Exception:
        hints = getattr(builder, "__annotations__", {})
    cls = hints.get("return")
    if not isinstance(cls, type):
        return None, None
    return getattr(cls, "TYPE", None), getattr(cls, "HANDLER", None)


def describe_definition(definition: SagaDefinition, initiator: str,
                        step_timeout: float) -> SagaTypeOut:
    steps: list[StepDefinitionOut] = []
    for index, step in enumerate(definition.steps):
        if isinstance(step, RemoteStep):
            command, handler = command_type(step.command)
            compensation = (command_type(step.compensation)[0]
                            if step.compensation is not None else None)
            steps.append(StepDefinitionOut(
                index=index, name=step.name, kind="remote", service=handler or "?",
                command=command, compensation=step.compensation is not None,
                compensation_command=compensation, timeout_seconds=step_timeout,
                cancel_on_timeout=step.cancel_on_timeout))
        else:
            assert isinstance(step, LocalStep)
            steps.append(StepDefinitionOut(
                index=index, name=step.name, kind="local", service=initiator,
                compensation=step.compensation is not None))
    return SagaTypeOut(type=definition.type, initiator=initiator,
                       description=definition.description, steps=steps)


def describe_definitions(definitions: Iterable[SagaDefinition], initiator: str,
                         step_timeout: float) -> list[SagaTypeOut]:
    return [describe_definition(d, initiator, step_timeout)
            for d in sorted(definitions, key=lambda d: d.type)]


# ------------------------------------------------------------- saga search
def _data_matches(fields: Sequence[str], value: int) -> ColumnElement[bool]:
    return or_(*(sagas.c.data[f].astext == str(value) for f in fields))


def stuck_clause() -> ColumnElement[bool]:
    return and_(sagas.c.status.in_(UNFINISHED), sagas.c.deadline < func.now())


def search_filters(q: Select[Any], *, saga_id: uuid.UUID | None = None,
                   user_id: int | None = None, post_id: int | None = None,
                   stuck: bool = False) -> Select[Any]:
    """Narrow a query of ``sagas`` to the ones an operator looks for."""
    if saga_id is not None:
        q = q.where(sagas.c.id == saga_id)
    if user_id is not None:
        q = q.where(_data_matches(USER_FIELDS, user_id))
    if post_id is not None:
        q = q.where(_data_matches(POST_FIELDS, post_id))
    if stuck:
        q = q.where(stuck_clause())
    return q


_COUNTS = select(sagas.c.type, sagas.c.status, func.count()).group_by(
    sagas.c.type, sagas.c.status).order_by(sagas.c.type, sagas.c.status)

_RATES = text("""
    SELECT type,
           count(*) FILTER (WHERE created_at > now() - interval '5 minutes'),
           count(*) FILTER (WHERE created_at > now() - interval '60 minutes'),
           count(*) FILTER (WHERE status IN ('running', 'compensating') AND deadline < now())
    FROM sagas
    WHERE created_at > now() - interval '60 minutes'
       OR (status IN ('running', 'compensating') AND deadline < now())
    GROUP BY type ORDER BY type
""")


async def saga_stats(conn: Any, service: str, types: Iterable[str]) -> SagaStatsOut:
    """Counts by type and status, and recent starts and stuck sagas by type."""
    counts = [SagaCount(type=t, status=s, count=int(n))
              for t, s, n in (await conn.execute(_COUNTS)).all()]
    found = {row[0]: row for row in (await conn.execute(_RATES)).all()}
    rates = []
    for saga_type in sorted({*types, *found}):
        row = found.get(saga_type)
        rates.append(SagaRate(type=saga_type, last_5_minutes=int(row[1]) if row else 0,
                              last_60_minutes=int(row[2]) if row else 0,
                              stuck=int(row[3]) if row else 0))
    now = (await conn.execute(select(func.now()))).scalar_one()
    return SagaStatsOut(service=service, counts=counts, rates=rates,
                        stuck=sum(r.stuck for r in rates), at=now)


# ------------------------------------------------------------------ tasks
def task_out(state: TaskState) -> TaskOut:
    return TaskOut(name=state.name, kind="task", running=state.running,
                   restarts=state.restarts, last_error=state.last_error)


def tasks_out(service: str, states: Sequence[TaskState], queues: Iterable[str],
              consumers_down: Iterable[str]) -> TasksOut:
    down_queues = set(consumers_down)
    tasks = [task_out(s) for s in states]
    tasks += [TaskOut(name=f"consumer:{q}", kind="consumer", running=q not in down_queues)
              for q in sorted(queues)]
    return TasksOut(service=service, tasks=tasks,
                    down=[t.name for t in tasks if not t.running])
