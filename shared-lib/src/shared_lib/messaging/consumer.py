"""Consuming messages: decode, dedupe (inbox), handle in one transaction, ack.

This is transport: it knows messages, queues, the inbox and acks, not sagas
or the outbox. A handler publishes events through ``ctx.publish`` (the
publisher the runtime gives the consumer), and the saga participant's side
(replies, preemption, the cancel probe) is a handler wrapper in
:mod:`shared_lib.saga.participant`.

* A message that cannot be decoded (not an envelope, or an invalid payload for a
  contract this version knows) is rejected without requeue: it goes to the
  queue's dead-letter queue and the consumer goes on.
* A well-formed message this version does not handle here (an unknown type or
  version, or no handler on this queue: a peer is newer or older, as during a
  rolling deploy) is not the message's fault and is not dead-lettered: it is set
  aside (the runtime writes it to the publisher's ``<service>.events.unrouted``
  through the outbox) and acked. Once a version that handles it runs, the replay
  tool publishes it again from there.
* A handler that raises is never acked: the message is nacked with requeue,
  and the quorum queue's delivery limit dead-letters it after a few tries.
* Transient database errors (the database restarting, unreachable, a
  deadlock) never count toward that limit: the message is retried in place,
  unacknowledged, with a growing pause (``max_backoff_seconds`` at most) for
  as long as the database is away. The consumer thereby pauses itself: its
  other prefetched messages wait the same way. Events are re-sent by nobody,
  so a long outage must not dead-letter them.
* A message the inbox has seen before changes nothing: its handler is not
  called, unless it asks to see duplicates (``handles_duplicates``), as a
  saga participant does to send its stored reply again.
* A handler marked :func:`direct` runs on the direct data path
  (:mod:`shared_lib.database`): the inbox claim, its statements and its events
  in one asyncpg transaction (``ctx.q``), on the consumers' own pool; any other
  handler gets an ORM session (``ctx.session``).
* A handler marked :func:`one_statement` is its inbox claim and its effect in
  one statement (:func:`shared_lib.messaging.inbox.claimed`), run in autocommit:
  one round trip for the message instead of four. For the hot event handlers
  whose effect is one statement (a counter, a notification); one whose message
  needs more this time takes ``ctx.claimed_transaction()`` instead.
* With tracing on, each message is handled in a consumer span named after its type,
  continuing the trace its ``traceparent`` header names (:mod:`shared_lib.tracing`).
* With ``max_batch`` above 1, messages for direct handlers that ignore duplicates
  (the event handlers) are handled in **batches**: what has arrived while the
  queue's previous batches were in their transactions is handled together, in
  one transaction with one inbox claim for all of them, and each is acked once
  it has committed. A message alone is a batch of one, so a quiet queue waits
  for nothing. When a batch fails, each of its messages is handled again alone,
  with the rules above (so one bad message costs the others a retry, never a
  dead letter). Off by default: batches of events about the same hot rows,
  handled on two queues at once, lock those rows in different orders and
  deadlock (see docs/messaging.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from aio_pika.abc import AbstractIncomingMessage
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_never,
    wait_exponential,
)

from shared_lib.contracts import Envelope, Payload, SagaReply, registry
from shared_lib.database import Database, Queries, Statement, Transaction
from shared_lib.db import is_transient_db_error
from shared_lib.failpoints import failpoint
from shared_lib.logs import bound
from shared_lib.metrics import Metrics
from shared_lib.tracing import SpanKind, active, extract

from . import inbox

log = logging.getLogger(__name__)


class PoisonMessage(Exception):
    """The message can never be handled here (dead-lettered at once)."""


class NotForThisVersion(Exception):
    """A well-formed message this version does not handle on this queue."""

    def __init__(self, envelope: Envelope, reason: str) -> None:
        super().__init__(reason)
        self.envelope = envelope
        self.reason = reason


#: keeps a message this version cannot handle, in the caller's transaction (the
#: envelope, its routing key)
SetAside = Callable[[AsyncSession, Envelope, str], Awaitable[None]]


#: writes an event to the outbox in the handler's transaction, caused by ``cause``
EventPublisher = Callable[[Transaction, Payload, Envelope, str], Awaitable[Envelope]]


@dataclass
class MessageContext:
    envelope: Envelope
    service: str
    queue: str
    #: the inbox has seen this message before (only handlers that ask see duplicates)
    duplicate: bool = False
    #: what the inbox stored with the message when it was first handled
    stored_reply: dict[str, Any] | None = None
    publisher: EventPublisher | None = None
    settings: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: the handler's transaction: an ORM session, or (a :func:`direct` handler's) the
    #: direct data path's statements
    transaction: Transaction | None = None
    #: a :func:`one_statement` handler's database (it has no transaction)
    database: Database | None = None
    metrics: Metrics | None = None

    @property
    def session(self) -> AsyncSession:
        if not isinstance(self.transaction, AsyncSession):
            raise RuntimeError("a direct handler has no session: use ctx.q")
        return self.transaction

    @property
    def q(self) -> Queries:
        if not isinstance(self.transaction, Queries):
            raise RuntimeError("only a direct handler has ctx.q: mark it @direct")
        return self.transaction

    async def claimed(self, stmt: Statement, *args: Any) -> bool | None:
        """Run a :func:`shared_lib.messaging.inbox.claimed` statement with ``args``
        and this message's claim, in autocommit: whether the message was new here,
        or None when the statement's ``claim_if`` declined it (nothing changed)."""
        if self.database is None:
            raise RuntimeError("only a one_statement handler claims its own message")
        env = self.envelope
        new: bool | None = await self.database.fetchval(stmt, *args, self.queue,
                                                        env.message_id, env.type)
        if new is False and self.metrics is not None:
            self.metrics.duplicates.labels(self.queue).inc()
        return new

    @asynccontextmanager
    async def claimed_transaction(self) -> AsyncIterator[bool]:
        """For a :func:`one_statement` handler whose message needs more than one
        statement this time: a direct transaction (``ctx.q``) that has claimed the
        message; whether it is new here (a duplicate must change nothing)."""
        if self.database is None:
            raise RuntimeError("only a one_statement handler claims its own message")
        env = self.envelope
        async with self.database.transaction() as q:
            record = await inbox.claim(q, self.queue, env.message_id, env.type)
            if not record.new and self.metrics is not None:
                self.metrics.duplicates.labels(self.queue).inc()
            self.transaction = q
            try:
                yield record.new
            finally:
                self.transaction = None

    async def publish(self, payload: Payload) -> Envelope:
        """Write an event to the outbox, caused by the message being handled."""
        if self.publisher is None or self.transaction is None:
            raise RuntimeError(f"no event publisher on the consumer of {self.queue}")
        return await self.publisher(self.transaction, payload, self.envelope, self.service)


class Handler(Protocol):
    async def __call__(self, ctx: MessageContext, payload: Any, /) -> Any: ...


H = TypeVar("H", bound=Handler)


def direct(handler: H) -> H:
    """Run ``handler`` on the direct data path: ``ctx.q`` instead of ``ctx.session``."""
    handler.direct = True  # type: ignore[attr-defined]
    return handler


def one_statement(handler: H) -> H:
    """Run ``handler`` with no transaction: it claims the message itself, with its
    effect in one statement through ``ctx.claimed`` (see the module's docstring), or
    in the first statement of a transaction of its own (the saga replies consumer)."""
    handler.one_statement = True  # type: ignore[attr-defined]
    return handler


def runs_one_statement(handler: Handler) -> bool:
    return bool(getattr(handler, "one_statement", False))


def runs_direct(handler: Handler) -> bool:
    return bool(getattr(handler, "direct", False))


def handles_duplicates(handler: Handler) -> bool:
    """Whether ``handler`` is also called for a message the inbox has seen."""
    return bool(getattr(handler, "handles_duplicates", False))


async def _settle(outcome: Awaitable[None]) -> None:
    """Ack, nack or reject; on a closed channel the broker redelivers anyway."""
    try:
        await outcome
    except Exception as exc:
        log.warning("could not settle a message (%r): it will be redelivered", exc)


def decode(body: bytes) -> tuple[Envelope, Payload]:
    try:
        env = Envelope.model_validate_json(body)
    except ValidationError as exc:
        raise PoisonMessage(f"not an envelope: {exc.errors()[:3]}") from exc
    contract = registry.get(env.type, env.version)
    if contract is None:
        raise NotForThisVersion(env, f"unknown message type {env.type} v{env.version}")
    try:
        payload = contract.model.model_validate(env.payload)
    except ValidationError as exc:
        raise PoisonMessage(f"invalid {env.type} payload: {exc.errors()[:3]}") from exc
    return env, payload


class MessageConsumer:
    """Consumes one queue with the handlers registered for its message types."""

    def __init__(
        self,
        *,
        queue: str,
        service: str,
        handlers: Mapping[str, Handler],
        session_factory: async_sessionmaker[AsyncSession],
        max_backoff_seconds: float = 5.0,
        metrics: Metrics | None = None,
        publisher: EventPublisher | None = None,
        settings: Any = None,
        set_aside: SetAside | None = None,
        database: Database | None = None,
        max_batch: int = 1,
    ) -> None:
        self.queue = queue
        self.service = service
        self.handlers = dict(handlers)
        self._sessions = session_factory
        self._max_backoff = max_backoff_seconds
        self._metrics = metrics
        self._publisher = publisher
        self._set_aside = set_aside
        self._settings = settings
        self._db = database
        self._batches = _Batcher(self, max_batch) if database is not None and max_batch > 1 \
            else None

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        m = self._metrics
        if m is not None and message.redelivered:
            m.redelivered.labels(self.queue).inc()
        try:
            env, payload = decode(message.body)
            handler = self.handlers.get(env.type)
            if handler is None:
                raise NotForThisVersion(env, f"no handler for {env.type} on {self.queue}")
        except NotForThisVersion as skew:
            if self._set_aside is not None:
                await self._keep_aside(message, skew)
            else:
                await self._dead_letter(message, skew)
            return
        except PoisonMessage as exc:
            await self._dead_letter(message, exc)
            return
        saga = env.correlation_id if env.step is not None or env.type == SagaReply.TYPE else None
        with bound(message_id=env.message_id, correlation_id=env.correlation_id, saga_id=saga):
            tracing = active()
            if tracing is None:
                await self._handle(message, env, payload, handler)
                return
            # a span of the trace the message carries (one of its own without one)
            with tracing.span(env.type, parent=extract(message.headers), kind=SpanKind.CONSUMER,
                              attributes={"messaging.system": "rabbitmq",
                                          "messaging.destination.name": self.queue,
                                          "messaging.message.id": str(env.message_id)}):
                await self._handle(message, env, payload, handler)

    async def _handle(self, message: AbstractIncomingMessage, env: Envelope, payload: Payload,
                      handler: Handler) -> None:
        m = self._metrics
        started = time.perf_counter()
        try:
            await self._process_retried_in_place(env, payload, handler)
        except asyncio.CancelledError:
            await _settle(message.nack(requeue=True))
            raise
        except Exception:
            log.exception("handling %s %s on %s failed; requeued (redelivered=%s)",
                          env.type, env.message_id, self.queue, message.redelivered)
            if m is not None:
                m.failed.labels(self.queue).inc()
            await _settle(message.nack(requeue=True))
            return
        failpoint(f"consumer.after_commit:{self.queue}")
        elapsed = time.perf_counter() - started
        if m is not None:
            m.consumed.labels(self.queue, env.type).inc()
            m.handling.labels(self.queue, env.type).observe(elapsed)
        log.info("handled %s from %s", env.type, self.queue,
                 extra={"fields": {"ms": round(elapsed * 1000, 2)}})
        # if the channel is gone the broker redelivers it; the inbox makes that harmless
        await _settle(message.ack())

    async def _keep_aside(self, message: AbstractIncomingMessage, skew: NotForThisVersion
                          ) -> None:
        assert self._set_aside is not None
        env = skew.envelope
        try:
            async for attempt in self._retried_in_place():
                with attempt:
                    async with self._sessions() as session, session.begin():
                        await self._set_aside(session, env, message.routing_key or env.type)
        except asyncio.CancelledError:
            await _settle(message.nack(requeue=True))
            raise
        except PoisonMessage as exc:
            await self._dead_letter(message, exc)
            return
        except Exception:
            log.exception("setting %s %s aside failed; requeued", env.type, env.message_id)
            await _settle(message.nack(requeue=True))
            return
        log.warning("set aside %s %s from %s: %s (a peer is newer or older); kept in "
                    "%s.events.unrouted until a version that handles it replays it",
                    env.type, env.message_id, self.queue, skew.reason, env.source)
        if self._metrics is not None:
            self._metrics.set_aside.labels(self.queue).inc()
        await _settle(message.ack())

    async def _process_retried_in_place(self, env: Envelope, payload: Payload,
                                        handler: Handler) -> None:
        """:meth:`process`; after a transient database error, again and again (the
        retry machinery is set up only then: most messages succeed the first time)."""
        try:
            await self.process(env, payload, handler)
            return
        except Exception as exc:
            if not is_transient_db_error(exc):
                raise
            log.warning("database unavailable while handling a message from %s (%r); "
                        "retrying in place", self.queue, exc)
        async for attempt in self._retried_in_place():
            with attempt:
                await self.process(env, payload, handler)

    def _retried_in_place(self) -> AsyncRetrying:
        """Transient database errors retried for as long as they last, unacked."""
        return AsyncRetrying(stop=stop_never,
                             wait=wait_exponential(multiplier=0.05, max=self._max_backoff),
                             retry=retry_if_exception(is_transient_db_error),
                             before_sleep=self._log_transient, reraise=True)

    async def _dead_letter(self, message: AbstractIncomingMessage, why: Exception) -> None:
        log.error("dead-lettering message %s from %s: %s", message.message_id, self.queue, why)
        if self._metrics is not None:
            self._metrics.dead_lettered.labels(self.queue).inc()
        await _settle(message.reject(requeue=False))

    def _log_transient(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        log.warning("database unavailable while handling a message from %s (%r); "
                    "retrying in place (attempt %d)", self.queue, exc, state.attempt_number)

    async def process(self, env: Envelope, payload: Payload, handler: Handler) -> None:
        """Handle one decoded message in one transaction (also used by tests); one a
        batch can take waits for its batch's commit."""
        if self._batches is not None and runs_direct(handler) \
                and not handles_duplicates(handler) and not runs_one_statement(handler):
            await self._batches.handle(env, payload, handler)
            return
        await self.process_alone(env, payload, handler)

    async def process_alone(self, env: Envelope, payload: Payload, handler: Handler) -> None:
        """Handle one decoded message in a transaction of its own."""
        if runs_one_statement(handler):
            if self._db is None:
                raise RuntimeError(f"a one-statement handler on {self.queue} without a "
                                   "database")
            await handler(MessageContext(envelope=env, service=self.service, queue=self.queue,
                                         settings=self._settings, database=self._db,
                                         metrics=self._metrics), payload)
            return
        if runs_direct(handler):
            if self._db is None:
                raise RuntimeError(f"a direct handler on {self.queue} without a database")
            async with self._db.transaction() as q:
                record = await inbox.claim(q, self.queue, env.message_id, env.type)
                await self._call(handler, env, payload, record, q)
            return
        async with self._sessions() as session, session.begin():
            record = await inbox.record_message(session, self.queue, env.message_id, env.type)
            await self._call(handler, env, payload, record, session)

    async def process_batch(self, batch: list[_Waiting]) -> None:
        """Handle messages in one transaction: one inbox claim for all, then each new
        one's handler, in arrival order. Raises when any of them does (nothing of the
        batch is committed then)."""
        assert self._db is not None
        async with self._db.transaction() as q:
            new = await inbox.claim_many(q, self.queue, [(w.env.message_id, w.env.type)
                                                          for w in batch])
            for w in batch:
                record = inbox.InboxRecord(new=w.env.message_id in new)
                await self._call(w.handler, w.env, w.payload, record, q)
                # a message delivered twice in one batch is new once
                new.discard(w.env.message_id)

    async def _call(self, handler: Handler, env: Envelope, payload: Payload,
                    record: inbox.InboxRecord, transaction: Transaction) -> None:
        if not record.new:
            if self._metrics is not None:
                self._metrics.duplicates.labels(self.queue).inc()
            if not handles_duplicates(handler):
                return
        ctx = MessageContext(envelope=env, service=self.service, queue=self.queue,
                             duplicate=not record.new, stored_reply=record.reply,
                             publisher=self._publisher, settings=self._settings,
                             transaction=transaction)
        await handler(ctx, payload)


@dataclass
class _Waiting:
    """A message waiting for its batch, and what its consumer task waits on."""

    env: Envelope
    payload: Payload
    handler: Handler
    done: asyncio.Future[None]


class _Batcher:
    """Gathers a queue's messages into batches (see the module's docstring): at most
    ``in_flight`` batches in their transactions at a time (so that one message
    waiting on a lock does not hold the queue up); what arrives meanwhile waits and
    is the next batch."""

    def __init__(self, consumer: MessageConsumer, max_batch: int, in_flight: int = 2) -> None:
        self._consumer = consumer
        self._max = max_batch
        self._in_flight_max = in_flight
        self._in_flight = 0
        self._waiting: list[_Waiting] = []
        self._scheduled = False

    async def handle(self, env: Envelope, payload: Payload, handler: Handler) -> None:
        waiting = _Waiting(env, payload, handler, asyncio.get_running_loop().create_future())
        self._waiting.append(waiting)
        self._schedule()
        await waiting.done

    def _schedule(self) -> None:
        if not self._scheduled and self._in_flight < self._in_flight_max:
            self._scheduled = True
            # after the deliveries already read (their tasks are ready to run): together
            asyncio.get_running_loop().call_soon(self._start)

    def _start(self) -> None:
        self._scheduled = False
        while self._waiting and self._in_flight < self._in_flight_max:
            batch, self._waiting = self._waiting[:self._max], self._waiting[self._max:]
            batch = [w for w in batch if not w.done.done()]  # its consumer stopped waiting
            if not batch:
                continue
            self._in_flight += 1
            task = asyncio.create_task(self._run(batch), name=f"batch-{self._consumer.queue}")
            task.add_done_callback(self._finished)

    def _finished(self, _task: asyncio.Task[None]) -> None:
        self._in_flight -= 1
        if self._waiting:
            self._schedule()

    async def _run(self, batch: list[_Waiting]) -> None:
        try:
            if len(batch) == 1:
                await self._alone(batch[0])
                return
            try:
                await self._consumer.process_batch(batch)
            except Exception as exc:
                log.warning("a batch of %d messages from %s failed (%r); handling each "
                            "alone", len(batch), self._consumer.queue, exc)
                await asyncio.gather(*(self._alone(w) for w in batch))
                return
            for w in batch:
                if not w.done.done():
                    w.done.set_result(None)
        except BaseException:  # stopping: nobody may wait for this batch any more
            for w in batch:
                if not w.done.done():
                    w.done.cancel()
            raise

    async def _alone(self, w: _Waiting) -> None:
        try:
            await self._consumer.process_alone(w.env, w.payload, w.handler)
        except Exception as exc:
            if not w.done.done():
                w.done.set_exception(exc)
            return
        if not w.done.done():
            w.done.set_result(None)
