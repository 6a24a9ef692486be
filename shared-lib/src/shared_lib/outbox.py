"""Transactional outbox: a message is a row written in the same transaction
as the change it reports, published once that transaction has committed.

Two parts publish rows, and a row is marked sent only after the broker has
confirmed it:

* :class:`OutboxDispatcher` publishes a transaction's rows from memory right
  after its commit (the code that committed hands them over; no query finds
  them), and marks them sent. It is the fast path: no polling, no lock, no
  SELECT.
* :class:`OutboxRelay` is the sweeper: it publishes what the dispatcher did not
  get confirmed within a grace period (the broker was away, the process died
  between commit and confirm, a dispatch queue overflowed), in id order. It
  takes a transaction-scoped advisory lock for each batch, so that with several
  replicas one relay sweeps at a time.

A row may therefore be published twice (the dispatcher's confirm came after the
sweeper took the row, or the process died before marking it): every consumer's
inbox makes that harmless. Consumers never rely on publish order for
correctness: projections keep the ``seq`` of what they hold and ignore older
records.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, event, insert, text
from sqlalchemy.orm import Session

from shared_lib.contracts import Envelope, Payload, envelope_for
from shared_lib.contracts.routing import default_exchange
from shared_lib.database import (
    SESSION_OUTBOX,
    Database,
    Queries,
    Statement,
    Transaction,
    session_outbox,
)
from shared_lib.db import is_transient_db_error
from shared_lib.failpoints import failpoint
from shared_lib.logs import current_correlation_id
from shared_lib.messaging.broker import Broker, BrokerUnavailable, OutgoingMessage, Unroutable
from shared_lib.metrics import Metrics
from shared_lib.supervisor import cancelled_by_us
from shared_lib.tables import outbox
from shared_lib.tracing import SpanKind, active, current_traceparent, traceparent_of

log = logging.getLogger(__name__)

#: advisory lock key of the relay (any constant; one relay per database at a time)
RELAY_LOCK_KEY = 0x6F7574626F78  # "outbox"


@dataclass(frozen=True)
class OutboxMessage:
    """A row's message, as it is published."""

    message_id: uuid.UUID
    exchange: str
    routing_key: str
    message_type: str
    body: str
    correlation_id: str | None
    #: the trace context of the span that wrote the row (None with tracing off)
    traceparent: str | None = None


def messages_from_arrays(arrays: Sequence[Sequence[Any]]) -> list[OutboxMessage]:
    """The messages of one INSERT's seven arrays (:func:`row_arrays`)."""
    return [OutboxMessage(*row) for row in zip(*arrays, strict=True)]


#: key in ``Session.info`` of the callable given a committed session's outbox messages
OUTBOX_DISPATCH = "outbox_dispatch"


@event.listens_for(Session, "after_commit")
def _dispatch_after_commit(session: Session) -> None:
    """Rows added to the outbox are published right after the commit."""
    pending = session.info.pop(SESSION_OUTBOX, None)
    dispatch = session.info.get(OUTBOX_DISPATCH)
    if pending and dispatch is not None:
        dispatch(pending)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    """The transaction's messages go with it (a SAVEPOINT rolled back fires this too,
    with the transaction still open: :func:`shared_lib.database.savepoint` forgets
    what was written inside it)."""
    if not session.in_transaction():
        session.info.pop(SESSION_OUTBOX, None)


#: built once: every message sent costs this one statement (see messaging.inbox)
_ADD = insert(outbox).values(
    message_id=bindparam("message_id"), exchange=bindparam("exchange"),
    routing_key=bindparam("routing_key"), message_type=bindparam("message_type"),
    body=bindparam("body"), correlation_id=bindparam("correlation_id"),
    traceparent=bindparam("traceparent"))


async def add_to_outbox(
    tx: Transaction, envelope: Envelope, exchange: str, routing_key: str | None = None
) -> None:
    """Queue a message in the caller's transaction; it is sent after commit."""
    if isinstance(tx, Queries):
        await write_envelopes(tx, [(envelope, exchange, routing_key or envelope.type)])
        return
    message = OutboxMessage(
        envelope.message_id, exchange, routing_key or envelope.type, envelope.type,
        envelope.model_dump_json(),
        str(envelope.correlation_id) if envelope.correlation_id else None,
        current_traceparent())
    await tx.execute(_ADD, _params(message))
    session_outbox(tx).append(message)


def _params(m: OutboxMessage) -> dict[str, Any]:
    return {"message_id": m.message_id, "exchange": m.exchange, "routing_key": m.routing_key,
            "message_type": m.message_type, "body": m.body,
            "correlation_id": m.correlation_id, "traceparent": m.traceparent}


async def publish_event(
    tx: Transaction, payload: Payload, *, source: str,
    correlation_id: uuid.UUID | None = None, causation_id: uuid.UUID | None = None,
) -> Envelope:
    """Write an event to the outbox in the caller's transaction."""
    env = envelope_for(payload, source=source,
                       correlation_id=correlation_id or current_correlation_id(),
                       causation_id=causation_id)
    await add_to_outbox(tx, env, default_exchange(payload))
    return env


async def publish_events(
    tx: Transaction, payloads: Sequence[Payload], *, source: str,
    correlation_id: uuid.UUID | None = None, causation_id: uuid.UUID | None = None,
) -> None:
    """Write many events to the outbox in one round trip (an account deletion can
    announce thousands of changes)."""
    if not payloads:
        return
    if isinstance(tx, Queries):
        await write_events(tx, payloads, source=source, correlation_id=correlation_id,
                           causation_id=causation_id)
        return
    correlation_id = correlation_id or current_correlation_id()
    traceparent = current_traceparent()
    messages = []
    for payload in payloads:
        env = envelope_for(payload, source=source, correlation_id=correlation_id,
                           causation_id=causation_id)
        messages.append(OutboxMessage(
            env.message_id, default_exchange(payload), env.type, env.type,
            env.model_dump_json(), str(correlation_id) if correlation_id else None,
            traceparent))
    await tx.execute(_ADD, [_params(m) for m in messages])
    session_outbox(tx).extend(messages)


async def publish_caused_by(tx: Transaction, payload: Payload, cause: Envelope,
                            source: str) -> Envelope:
    """Write an event caused by a message being handled (the consumers' publisher)."""
    return await publish_event(tx, payload, source=source,
                               correlation_id=cause.correlation_id,
                               causation_id=cause.message_id)


def insert_rows_sql(first: int) -> str:
    """The INSERT of any number of outbox rows, its seven arrays the parameters
    ``$first`` to ``$first+6`` (:func:`row_arrays`): a statement of its own, or a CTE
    of another statement that writes its messages with its change."""
    arrays = ", ".join(f"${first + i}::{t}[]" for i, t in enumerate(
        ("uuid", "text", "text", "text", "text", "text", "text")))
    return ("INSERT INTO outbox (message_id, exchange, routing_key, message_type, body, "
            f"correlation_id, traceparent) SELECT * FROM unnest({arrays})")


def row_arrays(rows: Sequence[tuple[Envelope, str, str]]) -> list[list[Any]]:
    """``(envelope, exchange, routing key)`` rows as the seven arrays of
    :func:`insert_rows_sql` (the last: the current span's trace context, the same for
    every row, None with tracing off)."""
    traceparent = current_traceparent()
    return [[env.message_id for env, _, _ in rows], [exchange for _, exchange, _ in rows],
            [key for _, _, key in rows], [env.type for env, _, _ in rows],
            [env.model_dump_json() for env, _, _ in rows],
            [str(env.correlation_id) if env.correlation_id else None for env, _, _ in rows],
            [traceparent] * len(rows)]


#: the direct data path's way in: any number of rows in one statement
_ADD_ROWS = Statement("outbox.add", insert_rows_sql(1))


async def write_events(
    q: Queries, payloads: Sequence[Payload], *, source: str,
    correlation_id: uuid.UUID | None = None, causation_id: uuid.UUID | None = None,
) -> list[Envelope]:
    """Write events to the outbox in the caller's transaction (the direct data path,
    :mod:`shared_lib.database`), one statement however many; the relay is woken
    once the transaction commits."""
    correlation_id = correlation_id or current_correlation_id()
    envelopes = [envelope_for(p, source=source, correlation_id=correlation_id,
                              causation_id=causation_id) for p in payloads]
    await write_envelopes(q, [(env, default_exchange(p), env.type)
                              for env, p in zip(envelopes, payloads, strict=True)])
    return envelopes


async def write_envelopes(q: Queries, rows: Sequence[tuple[Envelope, str, str]]) -> None:
    """Write ``(envelope, exchange, routing key)`` rows to the outbox in the caller's
    transaction, in one statement."""
    if not rows:
        return
    arrays = row_arrays(rows)
    await q.execute(_ADD_ROWS, *arrays)
    q.wrote_outbox(arrays)


#: The inner SELECT locks its rows: its snapshot is taken when the statement
#: starts, before the advisory lock is won, so a row another relay marked sent
#: meanwhile would still look unsent; FOR UPDATE re-reads each row's latest
#: version (and skips it once sent). ($1 the lock's key, $2 the batch size, $3 the
#: grace in seconds: a younger row is the dispatcher's)
_BATCH = Statement("outbox.batch", """
    WITH lock AS MATERIALIZED (SELECT pg_try_advisory_xact_lock($1) AS got)
    SELECT lock.got, o.id, o.message_id, o.exchange, o.routing_key, o.message_type, o.body,
           o.correlation_id, o.traceparent
    FROM lock LEFT JOIN LATERAL (
        SELECT * FROM outbox
        WHERE sent_at IS NULL AND parked_at IS NULL
          AND (next_attempt_at IS NULL OR next_attempt_at <= now())
          AND created_at <= now() - $3 * interval '1 second'
        ORDER BY id LIMIT $2
        FOR UPDATE
    ) o ON lock.got
    ORDER BY o.id""")


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        broker: Broker,
        *,
        batch_size: int = 200,
        poll_seconds: float = 0.5,
        lock_key: int = RELAY_LOCK_KEY,
        metrics: Metrics | None = None,
        max_attempts: int = 30,
        grace_seconds: float = 0.0,
    ) -> None:
        self._db = db
        #: rows younger than this are left to the dispatcher
        self._grace = grace_seconds
        self._broker = broker
        self._batch_size = batch_size
        self._poll = poll_seconds
        self._lock_key = lock_key
        self._wake = asyncio.Event()
        self._metrics = metrics
        self._max_attempts = max_attempts

    def wake(self) -> None:
        """Sweep now, not at the next poll (an operator made a parked row due again)."""
        self._wake.set()

    async def run(self) -> None:
        backoff = 0.05
        while True:
            try:
                n = await self.publish_batch()
                backoff = 0.05
            except asyncio.CancelledError:
                if cancelled_by_us():
                    raise
                # not this task's cancellation: a library's (see publish_batch)
                log.warning("outbox relay cycle cancelled from inside; retrying in %.2fs",
                            backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            except Exception as exc:
                if is_transient_db_error(exc):
                    log.warning("outbox relay: broker or database unavailable (%r); "
                                "retrying in %.2fs", exc, backoff)
                else:
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
        """Publish one batch; None when another relay holds the lock.

        A row that cannot be delivered (its exchange is missing, or the broker
        returns or refuses it) is charged alone: it gets an attempt and a later
        ``next_attempt_at``, and the rest of the batch is published and marked
        sent. Rows whose publish failed for another reason (channel or
        connection lost) are not charged: they stay due and the relay backs off.
        """
        async with self._db.transaction() as q:
            # the lock and the batch in one round trip: always one row at least, whose
            # "got" says whether this relay holds the lock
            result = await q.fetch(_BATCH, self._lock_key, self._batch_size, self._grace)
            if not result[0]["got"]:
                return None
            rows = [_Row(**{k: r[k] for k in _Row.__dataclass_fields__})
                    for r in result if r["id"] is not None]
            if not rows:
                return 0
            missing = {ex for ex in {r.exchange for r in rows}
                       if not await self._broker.exchange_exists(ex)}
            publishable = [r for r in rows if r.exchange not in missing]
            results: list[BaseException | None] = list(await asyncio.gather(
                *(_publish(self._broker, r) for r in publishable),
                return_exceptions=True,
            ))
            sent = [r.id for r, res in zip(publishable, results, strict=True)
                    if not isinstance(res, BaseException)]
            for r in publishable:
                failpoint(f"outbox.after_publish:{r.message_type}")
            failed: list[tuple[Any, BaseException]] = [
                (r, Unroutable(f"no exchange {r.exchange!r}")) for r in rows
                if r.exchange in missing]
            failed += [(r, res) for r, res in zip(publishable, results, strict=True)
                       if isinstance(res, Unroutable)]
            # a publish that ended in CancelledError was not cancelled by this relay
            # (gather would have raised): aiormq cancels every pending confirm when it
            # gives a stalled connection up. That is a broker failure like any other.
            broken = [res if isinstance(res, Exception)
                      else BrokerUnavailable(f"publish confirm abandoned: {res!r}")
                      for res in results
                      if isinstance(res, BaseException) and not isinstance(res, Unroutable)]
            if sent:
                await q.execute(_MARK_SENT, sent)
            for r, exc in failed:
                parked = await q.fetchval(_MARK_FAILED, r.id, repr(exc)[:2000],
                                          self._max_attempts)
                if parked:
                    log.error("outbox message %s (%s to %s) parked after %d attempts: %r; "
                              "republish it with POST /ops/outbox/%d/republish",
                              r.message_id, r.message_type, r.exchange, self._max_attempts,
                              exc, r.id)
                else:
                    log.warning("outbox message %s (%s to %s) not published: %r",
                                r.message_id, r.message_type, r.exchange, exc)
            if self._metrics is not None:
                self._metrics.outbox_published.inc(len(sent))
        if broken:
            # the broker or the connection failed: those rows stay due, the relay backs off
            raise broken[0]
        return len(rows)


@dataclass(frozen=True, kw_only=True)
class _Row(OutboxMessage):
    """An outbox row the relay publishes."""

    id: int


class OutboxDispatcher:
    """Publishes the outbox rows of committed transactions from memory, at once.

    :meth:`submit` is called right after a commit (the data paths do it) and only
    queues; :meth:`run` takes whatever has queued, publishes it concurrently on the
    publish channel, and marks what the broker confirmed as sent, in one statement
    that runs while the next batch is published (what is confirmed meanwhile waits
    for the next such statement: under load one marks many batches).
    Everything else stays unsent and is the relay's, once its grace has passed: a
    publish refused or returned, the broker away (nothing is attempted then), more
    than ``max_pending`` messages waiting, the process stopped. Nothing is retried
    here, so a broker that is down costs no more than a queue append per commit.
    """

    def __init__(self, db: Database, broker: Broker, *, metrics: Metrics | None = None,
                 batch_size: int = 200, max_pending: int = 10_000) -> None:
        self._db = db
        self._broker = broker
        self._metrics = metrics
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._pending: deque[OutboxMessage] = deque()
        self._ready = asyncio.Event()
        #: confirmed, not yet marked sent; the task marking them, if one is running
        self._confirmed: list[uuid.UUID] = []
        self._marking: asyncio.Task[None] | None = None

    def submit(self, messages: Iterable[OutboxMessage]) -> None:
        """Queue committed rows for publishing (never blocks, never raises)."""
        for m in messages:
            if len(self._pending) >= self._max_pending:
                break  # the relay sweeps the rest
            self._pending.append(m)
        self._ready.set()

    def submit_arrays(self, inserts: list[Sequence[Sequence[Any]]]) -> None:
        """:meth:`submit` for the direct data path's INSERTs (each one's seven arrays)."""
        for arrays in inserts:
            self.submit(messages_from_arrays(arrays))

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            if self._marking is not None:
                self._marking.cancel()  # those rows go again (the relay's)

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._pending:
                batch = [self._pending.popleft()
                         for _ in range(min(self._batch_size, len(self._pending)))]
                try:
                    await self.dispatch(batch)
                except asyncio.CancelledError as exc:
                    if cancelled_by_us():
                        raise
                    # a library's (aiormq abandoning a stalled connection's confirms)
                    log.warning("outbox dispatch of %d message(s) cancelled from inside "
                                "(%r); the relay sends them", len(batch), exc)
                except Exception as exc:  # the rows stay unsent: the relay's
                    log.warning("outbox dispatch of %d message(s) failed (%r); the relay "
                                "sends them", len(batch), exc)

    async def dispatch(self, batch: Sequence[OutboxMessage]) -> int:
        """Publish a batch; the confirmed part is marked sent soon, while the next
        batch is published. Returns how many the broker confirmed."""
        if not self._broker.is_connected:
            return 0
        results = await asyncio.gather(*(_publish(self._broker, m) for m in batch),
                                       return_exceptions=True)
        sent = [m for m, res in zip(batch, results, strict=True)
                if not isinstance(res, BaseException)]
        for m in sent:
            failpoint(f"outbox.after_publish:{m.message_type}")
        if sent:
            self._confirmed.extend(m.message_id for m in sent)
            if self._marking is None or self._marking.done():
                self._marking = asyncio.create_task(self._mark(), name="outbox-mark-sent")
            if self._metrics is not None:
                self._metrics.outbox_published.inc(len(sent))
        return len(sent)

    async def _mark(self) -> None:
        while self._confirmed:
            ids, self._confirmed = self._confirmed, []
            try:
                await self._db.execute(_MARK_SENT_BY_MESSAGE, ids)
            except Exception as exc:  # they stay unsent: the relay publishes them again
                log.warning("marking %d dispatched outbox message(s) sent failed (%r); the "
                            "relay sends them again", len(ids), exc)


def _outgoing(row: OutboxMessage, traceparent: str | None = None) -> OutgoingMessage:
    return OutgoingMessage(exchange=row.exchange, routing_key=row.routing_key,
                           body=row.body.encode(), message_id=str(row.message_id),
                           message_type=row.message_type, correlation_id=row.correlation_id,
                           traceparent=traceparent)


async def _publish(broker: Broker, row: OutboxMessage) -> None:
    """Publish a row; one written under a trace (tracing on) is published in a producer
    span, child of the span that wrote it, whose context the message carries."""
    tracing = active()
    if tracing is None or row.traceparent is None:
        await broker.publish(_outgoing(row, row.traceparent))
        return
    with tracing.span(f"{row.message_type} publish", parent=row.traceparent,
                      kind=SpanKind.PRODUCER,
                      attributes={"messaging.system": "rabbitmq",
                                  "messaging.destination.name": row.exchange,
                                  "messaging.rabbitmq.destination.routing_key": row.routing_key,
                                  "messaging.message.id": str(row.message_id)}) as span:
        await broker.publish(_outgoing(row, traceparent_of(span)))


_MARK_SENT = Statement("outbox.mark_sent",
                       "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])")
#: the dispatcher knows its rows by message id (a saga command sent again has another
#: row with the same id: published now, it is sent too)
_MARK_SENT_BY_MESSAGE = Statement("outbox.mark_sent_by_message", """
    UPDATE outbox SET sent_at = now() WHERE message_id = ANY($1::uuid[]) AND sent_at IS NULL""")
#: a row that could not be delivered waits one second more per attempt (30 s at most);
#: at ``max_attempts`` it is parked (returns whether it was) ($1 id, $2 error, $3 max)
_MARK_FAILED = Statement("outbox.mark_failed", """
    UPDATE outbox SET attempts = attempts + 1, last_error = $2,
           next_attempt_at = now() + least(attempts + 1, 30) * interval '1 second',
           parked_at = CASE WHEN attempts + 1 >= $3 THEN now() END
    WHERE id = $1
    RETURNING parked_at IS NOT NULL""")

_PARKED = text("""
    SELECT id, message_id, message_type, exchange, routing_key, attempts, last_error,
           created_at, parked_at
    FROM outbox WHERE parked_at IS NOT NULL AND sent_at IS NULL ORDER BY id LIMIT :limit
""")
_REPUBLISH = text("""
    UPDATE outbox SET parked_at = NULL, attempts = 0, next_attempt_at = NULL
    WHERE id = :id AND parked_at IS NOT NULL AND sent_at IS NULL
    RETURNING id
""")


async def parked_rows(conn: Any, limit: int = 100) -> list[Any]:
    """Rows given up on, oldest first."""
    return list((await conn.execute(_PARKED, {"limit": limit})).all())


async def republish(conn: Any, row_id: int) -> bool:
    """Make a parked row due again (its attempts start over); False if not parked."""
    return (await conn.execute(_REPUBLISH, {"id": row_id})).first() is not None


@dataclass(frozen=True)
class Backlog:
    """The unsent rows: how many, the age of the oldest, how many of them are parked."""

    unsent: int
    oldest_seconds: float | None
    parked: int


_BACKLOG = text("""
    SELECT count(*), EXTRACT(EPOCH FROM now() - min(created_at)),
           count(*) FILTER (WHERE parked_at IS NOT NULL)
    FROM outbox WHERE sent_at IS NULL
""")


async def outbox_backlog(conn: Any) -> Backlog:
    """The outbox's backlog, in one statement."""
    row = (await conn.execute(_BACKLOG)).one()
    return Backlog(int(row[0]), float(row[1]) if row[1] is not None else None, int(row[2]))


async def parked_count(conn: Any) -> int:
    return (await outbox_backlog(conn)).parked
