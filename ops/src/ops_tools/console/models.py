"""What the console's JSON API answers and takes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class SessionOut(BaseModel):
    operator: str
    csrf_token: str


class ServiceOverview(BaseModel):
    """One service's saga statistics, outbox and tasks (its /ops answers, as they are);
    ``error`` when the service could not be read."""

    service: str
    stats: dict[str, Any] | None = None
    outbox: dict[str, Any] | None = None
    tasks: dict[str, Any] | None = None
    error: str | None = None


class QueueOut(BaseModel):
    name: str
    messages: int = 0
    ready: int = 0
    unacked: int = 0
    consumers: int = 0
    publish_rate: float = 0.0
    deliver_rate: float = 0.0
    ack_rate: float = 0.0


class OverviewOut(BaseModel):
    services: list[ServiceOverview]
    queues: list[QueueOut]
    queues_error: str | None = None
    at: datetime


class SagaRef(BaseModel):
    """A saga as its service answers it, with the service it lives in."""

    service: str
    saga: dict[str, Any]


class SagaListOut(BaseModel):
    sagas: list[SagaRef]
    errors: dict[str, str] = {}


class TimelineEvent(BaseModel):
    """One entry of a saga's step log, placed between the lanes."""

    index: int
    step: str
    action: str
    compensation: bool
    #: ``local`` (a mark on one lane), ``command`` or ``reply`` (an arrow), ``timeout``
    #: (no reply before the step's deadline: a mark on the initiator's lane)
    kind: str
    #: the lane the mark is on, or the arrow starts from
    source: str
    #: the lane the arrow ends at (the source for a local mark)
    target: str
    #: the service that ran the step, or handled the command
    handled_by: str
    message: str | None = None
    detail: str | None = None
    at: datetime
    #: milliseconds since the saga started
    offset_ms: float
    #: milliseconds since the step's previous entry (a command's round trip, say)
    duration_ms: float | None = None
    #: a command's deadline: when its reply is due (ms since the saga started)
    reply_due_ms: float | None = None


class Timeline(BaseModel):
    lanes: list[str]
    initiator: str
    events: list[TimelineEvent]
    started_at: datetime
    #: milliseconds from the saga's start to its deadline (when it has one)
    deadline_ms: float | None = None
    total_ms: float


class SagaDetailOut(BaseModel):
    service: str
    saga: dict[str, Any]
    definition: dict[str, Any] | None
    timeline: Timeline


class DlqOut(BaseModel):
    name: str
    messages: int


class DeathOut(BaseModel):
    exchange: str | None = None
    routing_key: str | None = None
    queue: str | None = None
    reason: str | None = None
    count: int | None = None
    time: str | None = None


class PeekedMessage(BaseModel):
    message_id: str | None
    type: str | None
    routing_key: str | None
    exchange: str | None
    redelivered: bool = False
    headers: dict[str, Any]
    payload: Any
    death: DeathOut | None = None
    #: an error header a consumer set before the message was dead-lettered
    error: str | None = None


class PeekOut(BaseModel):
    queue: str
    messages: list[PeekedMessage]


class ReplayIn(BaseModel):
    dry_run: bool = True
    limit: int | None = Field(default=None, ge=1, le=10_000)


class ReplayOutcomeOut(BaseModel):
    action: str
    message_id: str | None
    message_type: str | None
    target: str | None
    why: str


class ReplayOut(BaseModel):
    queue: str
    dry_run: bool
    outcomes: list[ReplayOutcomeOut]
    moved: int
    kept: int
    error: str | None
    summary: str


class ActionResult(BaseModel):
    ok: bool
    message: str
    saga: dict[str, Any] | None = None
