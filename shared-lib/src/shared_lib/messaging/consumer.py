"""Consuming messages: decode, dedupe (inbox), handle in one transaction, ack.

* A message that cannot be decoded, has an unknown type or version, an
  invalid payload, or no handler here is rejected without requeue: it goes
  to the queue's dead-letter queue and the consumer goes on.
* A handler that raises is never acked: the message is nacked with requeue,
  and the quorum queue's delivery limit dead-letters it after a few tries.
  Transient database errors are retried in place first (with backoff), so a
  database restart does not burn the delivery limit.
* Commands are answered with a :class:`SagaReply` written to the outbox in
  the same transaction as the inbox record and the effects.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aio_pika.abc import AbstractIncomingMessage
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential

from shared_lib import inbox
from shared_lib.contracts import (
    Envelope,
    MessageKind,
    Payload,
    ReplyOutcome,
    SagaReply,
    registry,
)
from shared_lib.contracts.messages import ALREADY_APPLIED, SagaCancel
from shared_lib.db import is_transient_db_error
from shared_lib.failpoints import failpoint
from shared_lib.logs import bound
from shared_lib.metrics import Metrics
from shared_lib.outbox import add_to_outbox, envelope_for, publish_event

log = logging.getLogger(__name__)


class CommandRejected(Exception):
    """A participant refuses a command; the saga gets a ``rejected`` reply."""

    def __init__(self, reason: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.data = data or {}


class PoisonMessage(Exception):
    """The message can never be handled here (dead-lettered at once)."""


@dataclass
class MessageContext:
    session: AsyncSession
    envelope: Envelope
    service: str
    queue: str
    extra: dict[str, Any] = field(default_factory=dict)

    async def publish(self, payload: Payload) -> Envelope:
        """Write an event to the outbox, caused by the message being handled."""
        return await publish_event(
            self.session, payload, source=self.service,
            correlation_id=self.envelope.correlation_id,
            causation_id=self.envelope.message_id,
        )


Handler = Callable[[MessageContext, Any], Awaitable[Any]]


async def _settle(outcome: Awaitable[None]) -> None:
    """Ack, nack or reject; on a closed channel the broker redelivers anyway."""
    try:
        await outcome
    except Exception as exc:
        log.warning("could not settle a message (%r): it will be redelivered", exc)


def saga_message_id(saga_id: uuid.UUID, step: str, compensation: bool) -> uuid.UUID:
    """The id of a saga's command for a step: the same on every re-send."""
    return uuid.uuid5(saga_id, f"{step}:{'undo' if compensation else 'do'}")


def decode(body: bytes) -> tuple[Envelope, Payload]:
    try:
        env = Envelope.model_validate_json(body)
    except ValidationError as exc:
        raise PoisonMessage(f"not an envelope: {exc.errors()[:3]}") from exc
    contract = registry.get(env.type, env.version)
    if contract is None:
        raise PoisonMessage(f"unknown message type {env.type} v{env.version}")
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
        retry_seconds: float = 30.0,
        on_processed: Callable[[], None] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.queue = queue
        self.service = service
        self.handlers = dict(handlers)
        if any((c := registry.get(t, 1)) is not None and c.kind == MessageKind.command
               for t in self.handlers):
            # every queue of commands answers the saga engine's cancel probe
            self.handlers.setdefault(SagaCancel.TYPE, _handle_cancel)
        self._sessions = session_factory
        self._retry_seconds = retry_seconds
        self._on_processed = on_processed
        self._metrics = metrics
        self.stats = {"consumed": 0, "duplicates": 0, "dead_lettered": 0, "failed": 0}

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        m = self._metrics
        if m is not None and message.redelivered:
            m.redelivered.labels(self.queue).inc()
        try:
            env, payload = decode(message.body)
            handler = self.handlers.get(env.type)
            if handler is None:
                raise PoisonMessage(f"no handler for {env.type} on {self.queue}")
        except PoisonMessage as exc:
            log.error("dead-lettering message %s from %s: %s", message.message_id,
                      self.queue, exc)
            self.stats["dead_lettered"] += 1
            if m is not None:
                m.dead_lettered.labels(self.queue).inc()
            await _settle(message.reject(requeue=False))
            return
        saga = env.correlation_id if env.step is not None or env.type == SagaReply.TYPE else None
        with bound(message_id=env.message_id, correlation_id=env.correlation_id, saga_id=saga):
            await self._handle(message, env, payload, handler)

    async def _handle(self, message: AbstractIncomingMessage, env: Envelope, payload: Payload,
                      handler: Handler) -> None:
        m = self._metrics
        started = time.perf_counter()
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_delay(self._retry_seconds),
                wait=wait_exponential(multiplier=0.1, max=3),
                retry=retry_if_exception(is_transient_db_error),
                reraise=True,
            ):
                with attempt:
                    await self.process(env, payload, handler)
        except asyncio.CancelledError:
            await _settle(message.nack(requeue=True))
            raise
        except Exception:
            log.exception("handling %s %s on %s failed; requeued (redelivered=%s)",
                          env.type, env.message_id, self.queue, message.redelivered)
            self.stats["failed"] += 1
            if m is not None:
                m.failed.labels(self.queue).inc()
            await _settle(message.nack(requeue=True))
            return
        failpoint(f"consumer.after_commit:{self.queue}")
        self.stats["consumed"] += 1
        elapsed = time.perf_counter() - started
        if m is not None:
            m.consumed.labels(self.queue, env.type).inc()
            m.handling.labels(self.queue, env.type).observe(elapsed)
        log.info("handled %s from %s", env.type, self.queue,
                 extra={"fields": {"ms": round(elapsed * 1000, 2)}})
        # if the channel is gone the broker redelivers it; the inbox makes that harmless
        await _settle(message.ack())
        if self._on_processed is not None:
            self._on_processed()

    async def process(self, env: Envelope, payload: Payload, handler: Handler) -> None:
        """Handle one decoded message in one transaction (also used by tests)."""
        async with self._sessions() as session, session.begin():
            record = await inbox.record_message(session, self.queue, env.message_id, env.type)
            if not record.new:
                self.stats["duplicates"] += 1
                if self._metrics is not None:
                    self._metrics.duplicates.labels(self.queue).inc()
                if payload.KIND == MessageKind.command and record.reply is not None:
                    await self._send_reply(session, env, SagaReply.model_validate(record.reply))
                return
            ctx = MessageContext(session=session, envelope=env, service=self.service,
                                 queue=self.queue)
            if payload.KIND != MessageKind.command:
                await handler(ctx, payload)
                return
            if env.compensation and env.correlation_id and env.step:
                # a late copy of the command this compensates must change nothing
                do_id = saga_message_id(env.correlation_id, env.step, compensation=False)
                ctx.extra["command_id"] = do_id
                ctx.extra["preempted"] = await inbox.preempt(
                    session, self.queue, do_id, env.type,
                    SagaReply(outcome=ReplyOutcome.rejected,
                              reason="cancelled by compensation").model_dump(mode="json"),
                )
            try:
                async with session.begin_nested():
                    data = await handler(ctx, payload)
                reply = SagaReply(outcome=ReplyOutcome.accepted, data=data or {})
            except CommandRejected as rej:
                reply = SagaReply(outcome=ReplyOutcome.rejected, reason=rej.reason,
                                  data=rej.data)
            await inbox.store_reply(session, self.queue, env.message_id,
                                    reply.model_dump(mode="json"))
            await self._send_reply(session, env, reply)

    async def _send_reply(self, session: AsyncSession, env: Envelope, reply: SagaReply) -> None:
        if not env.reply_to:
            log.warning("command %s %s has no reply_to; no reply sent", env.type,
                        env.message_id)
            return
        out = envelope_for(reply, source=self.service, correlation_id=env.correlation_id,
                           causation_id=env.message_id, step=env.step,
                           compensation=env.compensation)
        await add_to_outbox(session, out, env.reply_to, routing_key=f"{env.type}.reply")


async def _handle_cancel(ctx: MessageContext, cancel: SagaCancel) -> dict[str, Any]:
    """The saga engine's probe for an unanswered command without compensation.

    The consumer has already tried to preempt the command (see ``process``):
    if that worked, the command will never run; otherwise it ran, and its
    stored reply says whether it took effect.
    """
    if ctx.extra.get("preempted", False):
        return {"cancelled": True}
    original = await inbox.stored_reply(ctx.session, ctx.queue, ctx.extra["command_id"])
    if original is not None and original.get("outcome") == ReplyOutcome.accepted:
        raise CommandRejected(ALREADY_APPLIED, data=original.get("data") or {})
    return {"cancelled": True}  # it ran and was refused: nothing to undo
