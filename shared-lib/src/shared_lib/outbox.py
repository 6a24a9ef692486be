"""Transactional outbox: a message is a row written in the same transaction
as the change it reports; :class:`OutboxRelay` publishes committed rows.

The relay publishes in id order, marks a row sent only after the broker has
confirmed it, and takes a transaction-scoped advisory lock for each batch so
that with several replicas exactly one relay publishes at a time (the others
retry shortly after): this keeps the commit order of each aggregate's
messages, which ``FOR UPDATE SKIP LOCKED`` across replicas would not.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import event, func, insert, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from shared_lib.contracts import Envelope, MessageKind, Payload
from shared_lib.failpoints import failpoint
from shared_lib.logs import current_correlation_id
from shared_lib.messaging.broker import Broker, OutgoingMessage, Unroutable
from shared_lib.messaging.topology import commands_exchange, events_exchange
from shared_lib.metrics import Metrics
from shared_lib.tables import outbox

log = logging.getLogger(__name__)

#: advisory lock key of the relay (any constant; one relay per database at a time)
RELAY_LOCK_KEY = 0x6F7574626F78  # "outbox"


#: key in ``Session.info`` of the callable that wakes the relay after a commit
OUTBOX_NOTIFIER = "outbox_notifier"


@event.listens_for(Session, "after_commit")
def _wake_relay_after_commit(session: Session) -> None:
    """Rows added to the outbox are published right after the commit."""
    if session.info.pop("outbox_pending", False):
        notifier = session.info.get(OUTBOX_NOTIFIER)
        if notifier is not None:
            notifier()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop("outbox_pending", None)


def envelope_for(
    payload: Payload,
    *,
    source: str,
    correlation_id: uuid.UUID | None = None,
    causation_id: uuid.UUID | None = None,
    message_id: uuid.UUID | None = None,
    step: str | None = None,
    reply_to: str | None = None,
    compensation: bool = False,
) -> Envelope:
    return Envelope(
        message_id=message_id or uuid.uuid4(),
        type=payload.TYPE,
        version=payload.VERSION,
        correlation_id=correlation_id,
        causation_id=causation_id,
        source=source,
        step=step,
        reply_to=reply_to,
        compensation=compensation,
        payload=payload.model_dump(mode="json"),
    )


def default_exchange(payload: Payload) -> str:
    if payload.KIND == MessageKind.command:
        return commands_exchange(payload.HANDLER)  # type: ignore[attr-defined]
    if payload.KIND == MessageKind.event:
        return events_exchange(payload.PUBLISHER)  # type: ignore[attr-defined]
    raise ValueError("replies go to the exchange named by the command's reply_to")


async def add_to_outbox(
    session: AsyncSession, envelope: Envelope, exchange: str, routing_key: str | None = None
) -> None:
    """Queue a message in the caller's transaction; it is sent after commit."""
    await session.execute(
        insert(outbox).values(
            message_id=envelope.message_id,
            exchange=exchange,
            routing_key=routing_key or envelope.type,
            message_type=envelope.type,
            body=envelope.model_dump_json(),
            correlation_id=str(envelope.correlation_id) if envelope.correlation_id else None,
        )
    )
    session.info["outbox_pending"] = True


async def publish_event(
    session: AsyncSession, payload: Payload, *, source: str,
    correlation_id: uuid.UUID | None = None, causation_id: uuid.UUID | None = None,
) -> Envelope:
    env = envelope_for(payload, source=source,
                       correlation_id=correlation_id or current_correlation_id(),
                       causation_id=causation_id)
    await add_to_outbox(session, env, default_exchange(payload))
    return env


_BATCH_SQL = text("""
    WITH lock AS MATERIALIZED (SELECT pg_try_advisory_xact_lock(:key) AS got)
    SELECT lock.got, o.id, o.message_id, o.exchange, o.routing_key, o.message_type, o.body,
           o.correlation_id
    FROM lock LEFT JOIN LATERAL (
        SELECT * FROM outbox
        WHERE sent_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= now())
        ORDER BY id LIMIT :limit
    ) o ON lock.got
    ORDER BY o.id
""")


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        broker: Broker,
        *,
        batch_size: int = 200,
        poll_seconds: float = 0.5,
        lock_key: int = RELAY_LOCK_KEY,
        metrics: Metrics | None = None,
    ) -> None:
        self._engine = engine
        self._broker = broker
        self._batch_size = batch_size
        self._poll = poll_seconds
        self._lock_key = lock_key
        self._wake = asyncio.Event()
        self._metrics = metrics

    def wake(self) -> None:
        """Called after a commit that added rows: publish now, not at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        backoff = 0.05
        while True:
            try:
                n = await self.publish_batch()
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay cycle failed; retrying in %.2fs", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if n is None:  # another replica holds the relay lock
                await asyncio.sleep(0.02)
                continue
            if n >= self._batch_size:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
            except TimeoutError:
                pass
            self._wake.clear()

    async def publish_batch(self) -> int | None:
        """Publish one batch; None when another relay holds the lock."""
        async with self._engine.begin() as conn:
            # the lock and the batch in one round trip: always one row at least, whose
            # "got" says whether this relay holds the lock
            result = (await conn.execute(_BATCH_SQL, {"key": self._lock_key,
                                                       "limit": self._batch_size})).all()
            if not result[0].got:
                return None
            rows = [r for r in result if r.id is not None]
            if not rows:
                return 0
            results = await asyncio.gather(
                *(
                    self._broker.publish(
                        OutgoingMessage(
                            exchange=r.exchange,
                            routing_key=r.routing_key,
                            body=r.body.encode(),
                            message_id=str(r.message_id),
                            message_type=r.message_type,
                            correlation_id=r.correlation_id,
                        )
                    )
                    for r in rows
                ),
                return_exceptions=True,
            )
            sent = [r.id for r, res in zip(rows, results, strict=True)
                    if not isinstance(res, BaseException)]
            for r in rows:
                failpoint(f"relay.after_publish:{r.message_type}")
            failed = [(r, res) for r, res in zip(rows, results, strict=True)
                      if isinstance(res, Unroutable)]
            broken = [res for res in results
                      if isinstance(res, BaseException) and not isinstance(res, Unroutable)]
            if sent:
                await conn.execute(
                    update(outbox).where(outbox.c.id.in_(sent)).values(sent_at=func.now())
                )
            for r, exc in failed:
                log.error("outbox message %s (%s to %s) not published: %r",
                          r.message_id, r.message_type, r.exchange, exc)
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.id == r.id)
                    .values(
                        attempts=outbox.c.attempts + 1,
                        last_error=repr(exc)[:2000],
                        next_attempt_at=func.now()
                        + func.least(outbox.c.attempts + 1, 30) * timedelta(seconds=1),
                    )
                )
            if self._metrics is not None:
                self._metrics.outbox_published.inc(len(sent))
        if broken:
            # the broker or the connection failed: rows stay due, the relay backs off
            raise broken[0]
        return len(rows)


async def outbox_backlog(conn: Any) -> tuple[int, float | None]:
    """Unsent rows and the age in seconds of the oldest one."""
    row = (
        await conn.execute(
            text(
                "SELECT count(*), EXTRACT(EPOCH FROM now() - min(created_at))"
                " FROM outbox WHERE sent_at IS NULL"
            )
        )
    ).one()
    return int(row[0]), (float(row[1]) if row[1] is not None else None)
