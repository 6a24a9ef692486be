"""How a saga is described: an ordered list of local and remote steps.

A saga definition is plain data; :mod:`shared_lib.saga.engine` runs it. A
local step runs in the initiator's own transaction; a remote step sends a
command to a participant and waits for its reply. Compensations run in
reverse order when a step is rejected or times out.

Each saga's data is a :class:`SagaData` model of its own, validated when the
saga starts and each time it is loaded. What belongs in it is one rule for
every saga: **the saga keeps what its commands and events carry, and the ids
its steps make; input that only its first step stores (a message's text, a
story's image) is** :func:`start_only`: the first step writes it into its own
row, and the saga's stored data (shown to operators) never holds it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from shared_lib.contracts import Command, Envelope, Payload, SagaReply, envelope_for
from shared_lib.contracts.routing import default_exchange
from shared_lib.database import Queries, Transaction
from shared_lib.outbox import publish_event, publish_events


class SagaStatus(StrEnum):
    running = "running"
    compensating = "compensating"
    completed = "completed"
    compensated = "compensated"
    failed = "failed"


FINAL_STATUSES = frozenset({SagaStatus.completed, SagaStatus.compensated, SagaStatus.failed})


class StepAction(StrEnum):
    started = "started"
    completed = "completed"
    rejected = "rejected"
    retried = "retried"
    compensating = "compensating"
    compensated = "compensated"
    failed = "failed"
    ignored = "ignored"


class StepRejected(Exception):
    """A local step refuses to go on: the saga compensates what was done."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SagaData(BaseModel):
    """The data of one saga type: built by its endpoint, filled in by its steps
    (the ids they make), stored with the saga as JSON after every transition."""

    model_config = ConfigDict(validate_assignment=True, extra="forbid")


def start_only() -> Any:
    """A field of the saga's start only: its first step stores it in its own row;
    it is never written into the saga's stored data (None once loaded)."""
    return Field(default=None, exclude=True)


D = TypeVar("D", bound=SagaData)
T = TypeVar("T")


def made_by(value: T | None, step: str) -> T:
    """A field of a saga's data that step ``step`` fills in, once it has run."""
    if value is None:
        raise RuntimeError(f"{step} has not run yet")
    return value


@dataclass
class SagaContext(Generic[D]):
    #: the transaction the step runs in: the saga's own
    tx: Transaction
    saga_id: uuid.UUID
    saga_type: str
    data: D
    service: str
    #: why the saga is compensating (set before compensations run)
    reason: str | None = None
    causation_id: uuid.UUID | None = None
    #: where the events the step publishes go to be written with the saga's transition,
    #: in its statement (the store's ``outgoing``); None: written at once
    outgoing: list[tuple[Envelope, str, str]] | None = None

    @property
    def q(self) -> Queries:
        """The step's transaction on the direct data path (every saga here runs on it)."""
        if not isinstance(self.tx, Queries):
            raise RuntimeError("this saga step has no direct transaction")
        return self.tx

    @property
    def session(self) -> AsyncSession:
        """The step's transaction as an ORM session (a saga run on the session path)."""
        if not isinstance(self.tx, AsyncSession):
            raise RuntimeError("this saga runs on the direct data path: use ctx.tx")
        return self.tx

    async def publish(self, payload: Payload) -> Envelope:
        """Write an event to the outbox, correlated with this saga: with the saga's
        transition, in the statement that records it (no round trip of its own)."""
        if self.outgoing is None:
            return await publish_event(self.tx, payload, source=self.service,
                                       correlation_id=self.saga_id,
                                       causation_id=self.causation_id)
        env = envelope_for(payload, source=self.service, correlation_id=self.saga_id,
                           causation_id=self.causation_id)
        self.outgoing.append((env, default_exchange(payload), env.type))
        return env

    async def publish_all(self, payloads: Sequence[Payload]) -> None:
        """Write many events to the outbox, correlated with this saga (with the saga's
        transition, as :meth:`publish`)."""
        if self.outgoing is None:
            await publish_events(self.tx, payloads, source=self.service,
                                 correlation_id=self.saga_id,
                                 causation_id=self.causation_id)
            return
        for payload in payloads:
            await self.publish(payload)


LocalAction = Callable[[SagaContext[Any]], Awaitable[None]]
CommandBuilder = Callable[[Any], Command]
ReplyHandler = Callable[[SagaContext[Any], SagaReply], Awaitable[None]]


@dataclass(frozen=True)
class LocalStep:
    """A step in the initiator's own transaction. One that may raise
    :class:`StepRejected` runs inside a SAVEPOINT so that its writes go when it
    refuses; ``can_reject=False`` (it never refuses) or ``rejects_before_writing``
    (it refuses only before its first write: only reads and row locks can be
    left, and they are harmless) save those two round trips."""

    name: str
    action: LocalAction
    compensation: LocalAction | None = None
    can_reject: bool = True
    rejects_before_writing: bool = False

    @property
    def needs_savepoint(self) -> bool:
        return self.can_reject and not self.rejects_before_writing


@dataclass(frozen=True)
class RemoteStep:
    """A command to a participant. ``cancel_on_timeout`` is for a step that has
    no compensation and must not run late (a pivot): when it gets no reply in
    time, the engine sends ``saga.cancel`` and compensates only once the
    participant confirms the command will never run; if the command did run,
    the saga goes forward instead."""

    name: str
    command: CommandBuilder
    compensation: CommandBuilder | None = None
    on_reply: ReplyHandler | None = None
    cancel_on_timeout: bool = False


Step = LocalStep | RemoteStep


@dataclass(frozen=True)
class SagaDefinition:
    type: str
    #: the model of this saga's data
    data: type[SagaData]
    steps: tuple[Step, ...]
    description: str = ""

    def __post_init__(self) -> None:
        names = tuple(s.name for s in self.steps)
        if len(set(names)) != len(names):
            raise ValueError(f"saga {self.type}: step names must be unique")
        if not self.steps:
            raise ValueError(f"saga {self.type}: no steps")
