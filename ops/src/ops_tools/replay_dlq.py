"""Move dead-lettered messages from a ``<queue>.dlq`` back to where they came from.

Every work queue dead-letters into ``<queue>.dlq`` through ``<owner>.dlx``
(see ``shared_lib.messaging.topology``). RabbitMQ records in the ``x-death``
header where a message was published and why it died; its first entry (the
latest death) looks like this on RabbitMQ 3.10+ with quorum queues::

    {"exchange": "core.events", "routing-keys": ["post.published"],
     "queue": "social.events.projections", "reason": "delivery_limit",
     "time": datetime(...), "count": 1}

``reason`` is ``rejected`` (nacked or rejected without requeue),
``delivery_limit`` (redelivered past ``x-delivery-limit``), ``expired`` or
``maxlen``. The tool publishes each message again to that exchange with
that routing key, with the same body, message id, type, correlation id and
other properties, and headers without ``x-death``, ``x-delivery-count`` and
the ``x-first-death-*`` / ``x-last-death-*`` summaries, so the message gets a
fresh delivery limit and a later dead-lettering starts a new history. It adds
``x-replayed-from: <dlq>`` and ``x-replayed-at: <ISO 8601 UTC>``.

Publishing goes to the exchange, so every queue bound to that routing key
gets the message again, not only the one it died in (``user.deleted`` for
instance reaches both ``social.events.projections`` and
``social.events.notifications``); the other consumers find it in their inbox
and skip it.

Nothing is lost: a message is published ``mandatory`` on a channel with
publisher confirms (``on_return_raises``), and taken off the dead-letter
queue only once the broker confirmed it. A message that cannot be moved is
kept unacknowledged until the end of the run and then rejected with requeue,
so it stays in the dead-letter queue (and ``basic.get`` moves on to the next
one instead of receiving it again); if the tool dies, the broker requeues it
too. Kept, and reported:

* a message without a usable ``x-death`` header (no exchange, routing key or
  time: nowhere to send it back to);
* a message that died longer ago than the replay window (``--max-age-seconds``,
  default ``$DLQ_REPLAY_WINDOW_SECONDS`` or 3 days). Consumers recognise a
  message they have already handled by its inbox row, and inbox rows are
  deleted after ``RETENTION_INBOX_SECONDS`` (7 days): a message replayed after
  that would be handled a second time. Its age counts from the oldest death
  its ``x-death`` header records;
* a message the broker returned (no queue bound for its routing key), refused
  (nack, e.g. a full queue), could not take (the exchange is gone) or did not
  confirm in time;
* a message moved earlier in the same run that died again meanwhile.

It also takes an ``<service>.events.unrouted`` queue: events nobody was bound for
when they were published, and messages a consumer set aside because its version
does not handle them (a peer was newer, as during a rolling deploy). Those never
died and were handled by nobody, so they have no ``x-death`` and no replay window:
each goes back to ``<service>.events`` with its routing key, once a version that
handles it runs. A saga command found there is kept: its saga has moved on.

Run it as ``python -m ops_tools.replay_dlq <queue>.dlq`` (``make replay-dlq
QUEUE=<queue>.dlq``), with ``--dry-run`` to list without moving and ``--limit
N`` to take at most N messages. It prints one line per message and a total;
exit code 0 when every message it took was moved (or there was nothing to
move; in a dry run: when all of them could be), 1 when something was kept,
2 when it could not start (no such queue, no connection).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
)
from aiormq.exceptions import AMQPConnectionError, ChannelNotFoundEntity, DeliveryError

from ops_tools.consistency import redact

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
#: three days: well inside the services' inbox retention (7 days)
DEFAULT_REPLAY_WINDOW_SECONDS = 259_200.0
DLQ_SUFFIX = ".dlq"
UNROUTED_SUFFIX = ".events.unrouted"
#: headers RabbitMQ sets on dead-lettering and delivery, removed on replay
STRIPPED_HEADERS = frozenset({
    "x-death", "x-delivery-count",
    "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason",
    "x-last-death-exchange", "x-last-death-queue", "x-last-death-reason",
})
REPLAYED_FROM = "x-replayed-from"
REPLAYED_AT = "x-replayed-at"

MOVED = "moved"
KEPT = "kept"
WOULD_MOVE = "would move"
WOULD_KEEP = "would keep"


class ReplayError(Exception):
    """The replay cannot start: not a dead-letter queue, no such queue, no broker."""


@dataclass(frozen=True)
class Death:
    """Where a dead-lettered message was published and why it died."""

    exchange: str
    routing_key: str
    queue: str | None
    reason: str
    count: int
    #: the oldest death the header records (the one the replay window is measured from)
    died_at: datetime

    @property
    def target(self) -> str:
        return f"{self.exchange or '(default exchange)'}/{self.routing_key}"


def read_death(headers: dict[str, Any] | None) -> tuple[Death | None, str]:
    """The first ``x-death`` entry as a :class:`Death`, or ``None`` and why not."""
    deaths = (headers or {}).get("x-death")
    if not isinstance(deaths, list) or not deaths:
        return None, "no x-death header"
    first = deaths[0]
    if not isinstance(first, dict):
        return None, "x-death entry is not a table"
    exchange = first.get("exchange")
    keys = first.get("routing-keys")
    if not isinstance(exchange, str):
        return None, "x-death has no exchange"
    if not isinstance(keys, list) or not keys or not isinstance(keys[0], str):
        return None, "x-death has no routing key"
    times = [_utc(d.get("time")) for d in deaths if isinstance(d, dict)]
    known = [t for t in times if t is not None]
    if times[0] is None or not known:
        return None, "x-death has no time"
    count = first.get("count")
    queue = first.get("queue")
    return Death(
        exchange=exchange, routing_key=keys[0],
        queue=queue if isinstance(queue, str) else None,
        reason=str(first.get("reason") or "unknown"),
        count=count if isinstance(count, int) else 0,
        died_at=min(known),
    ), ""


def read_unrouted(message: AbstractIncomingMessage, queue: str, now: datetime
                  ) -> tuple[Death | None, str]:
    """Where a message of an unrouted queue goes back to: its service's events
    exchange, with its routing key (a saga command is not sent again)."""
    try:
        body = json.loads(message.body)
    except ValueError:
        body = None
    if isinstance(body, dict) and (body.get("step") or body.get("reply_to")):
        return None, "a saga command or reply set aside: its saga has moved on"
    if not message.routing_key:
        return None, "no routing key"
    return Death(exchange=queue.removesuffix(".unrouted"), routing_key=message.routing_key,
                 queue=None, reason="unrouted", count=0, died_at=now), ""


def _utc(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return None


def replayed_message(message: AbstractIncomingMessage, dlq: str, at: datetime) -> aio_pika.Message:
    """The message as it is published again: same body and properties, headers
    without the dead-lettering history, marked as replayed."""
    headers = {k: v for k, v in (message.headers or {}).items() if k not in STRIPPED_HEADERS}
    headers[REPLAYED_FROM] = dlq
    headers[REPLAYED_AT] = at.astimezone(UTC).isoformat()
    return aio_pika.Message(
        body=message.body,
        headers=headers,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        delivery_mode=message.delivery_mode or aio_pika.DeliveryMode.PERSISTENT,
        priority=message.priority,
        correlation_id=message.correlation_id,
        reply_to=message.reply_to,
        expiration=message.expiration,
        message_id=message.message_id,
        timestamp=message.timestamp,
        type=message.type,
        user_id=message.user_id,
        app_id=message.app_id,
    )


# ----------------------------------------------------------------- results
@dataclass(frozen=True)
class Outcome:
    """What happened to one message taken from the dead-letter queue."""

    action: str  # MOVED, KEPT, WOULD_MOVE or WOULD_KEEP
    message_id: str | None
    message_type: str | None
    death: Death | None
    #: why it was (or would be) kept
    why: str = ""

    @property
    def kept(self) -> bool:
        return self.action in (KEPT, WOULD_KEEP)

    def line(self) -> str:
        d = self.death
        where = f"{d.target} ({d.reason} x{d.count})" if d else "-"
        text = f"{self.action:<10} {self.message_id or '-'} {self.message_type or '-'} {where}"
        return f"{text}: {self.why}" if self.why else text


@dataclass
class ReplayReport:
    queue: str
    dry_run: bool
    outcomes: list[Outcome] = field(default_factory=list)
    #: the run stopped early because of this (connection lost, ...)
    error: str | None = None

    @property
    def moved(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.kept]

    @property
    def kept(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.kept]

    @property
    def ok(self) -> bool:
        """Everything taken was moved (or could be, in a dry run), without error."""
        return self.error is None and not self.kept

    def total(self) -> str:
        moved, kept = len(self.moved), len(self.kept)
        if self.dry_run:
            text = (f"{self.queue} (dry run, nothing changed): {moved} would be moved, "
                    f"{kept} would be kept")
        else:
            text = f"{self.queue}: {moved} moved, {kept} kept"
        return f"{text}; stopped early: {self.error}" if self.error else text

    def to_text(self) -> str:
        return "\n".join([*(o.line() for o in self.outcomes), self.total()])


# --------------------------------------------------------------- publishing
class _Publisher:
    """A confirming, ``mandatory`` publisher whose channel is opened again after
    the broker closed it (it does so when the exchange does not exist)."""

    def __init__(self, connection: AbstractConnection, timeout: float) -> None:
        self._connection = connection
        self._timeout = timeout
        self._channel: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}

    async def publish(self, message: aio_pika.Message, exchange: str, routing_key: str) -> None:
        if self._channel is None or self._channel.is_closed:
            self._channel = await self._connection.channel(
                publisher_confirms=True, on_return_raises=True)
            self._exchanges = {}
        ex = self._exchanges.get(exchange)
        if ex is None:
            ex = (self._channel.default_exchange if exchange == ""
                  else await self._channel.get_exchange(exchange, ensure=False))
            self._exchanges[exchange] = ex
        await ex.publish(message, routing_key=routing_key, mandatory=True,
                         timeout=self._timeout)


def _publish_failure(exc: BaseException, death: Death, timeout: float) -> str:
    if isinstance(exc, ChannelNotFoundEntity):
        return f"not published, the exchange is missing: {exc}"
    if isinstance(exc, DeliveryError):
        reply_text = getattr(exc.frame, "reply_text", None)  # a basic.return
        if reply_text is not None:
            return (f"not published, returned by the broker ({reply_text}): "
                    f"no queue is bound to {death.target}")
        return f"not published, refused by the broker (a full or unavailable queue?): {exc}"
    if isinstance(exc, TimeoutError):
        return (f"not confirmed within {timeout:g} s (it may have been routed; "
                "replaying it again could deliver it twice)")
    return f"not published: {type(exc).__name__}: {exc}"


# ---------------------------------------------------------------- the replay
async def replay_dlq(
    amqp_url: str,
    queue: str,
    *,
    limit: int | None = None,
    dry_run: bool = False,
    max_age_seconds: float = DEFAULT_REPLAY_WINDOW_SECONDS,
    publish_timeout: float = 10.0,
    now: Callable[[], datetime] | None = None,
    out: Callable[[str], None] | None = None,
) -> ReplayReport:
    """Move (or with ``dry_run`` list) up to ``limit`` messages of the dead-letter
    queue ``queue`` back to their original exchange and routing key.

    ``out`` receives one line per message as it is handled; ``now`` is the
    clock the replay window is measured with. Raises :class:`ReplayError` when
    it cannot start.
    """
    unrouted = queue.endswith(UNROUTED_SUFFIX)
    if not queue.endswith(DLQ_SUFFIX) and not unrouted:
        raise ReplayError(
            f"{queue!r} is not a dead-letter queue (its name does not end in {DLQ_SUFFIX!r}) "
            f"nor an unrouted queue ({UNROUTED_SUFFIX!r}); taking messages off a work queue "
            "would count as deliveries against its limit")
    if limit is not None and limit < 0:
        raise ReplayError(f"--limit must be at least 0, not {limit}")
    clock = now or (lambda: datetime.now(UTC))
    try:
        connection = await aio_pika.connect(
            amqp_url, timeout=15,
            client_properties={"connection_name": f"ops-replay-dlq {queue}"})
    except (OSError, TimeoutError, AMQPConnectionError) as exc:
        raise ReplayError(f"cannot connect to RabbitMQ at {redact(amqp_url)}: {exc!r}") from exc

    report = ReplayReport(queue, dry_run)
    held: list[AbstractIncomingMessage] = []  # kept: rejected with requeue at the end
    moved_ids: set[str] = set()
    try:
        channel = await connection.channel()
        try:
            dlq = await channel.get_queue(queue, ensure=True)
        except ChannelNotFoundEntity as exc:
            raise ReplayError(f"no queue {queue!r} in {redact(amqp_url)}") from exc
        publisher = _Publisher(connection, publish_timeout)

        def record(outcome: Outcome) -> None:
            report.outcomes.append(outcome)
            if out is not None:
                out(outcome.line())

        while limit is None or len(report.outcomes) < limit:
            try:
                message = await dlq.get(no_ack=False, fail=False, timeout=publish_timeout)
            except Exception as exc:
                report.error = f"reading {queue} failed: {type(exc).__name__}: {exc}"
                break
            if message is None:
                break
            death, problem = (read_unrouted(message, queue, clock()) if unrouted
                              else read_death(message.headers))

            def outcome(action: str, why: str = "", msg: AbstractIncomingMessage = message,
                        death: Death | None = death) -> Outcome:
                return Outcome(action, msg.message_id, msg.type, death, why)

            why = problem
            if death is not None:
                age = (clock() - death.died_at).total_seconds()
                if age > max_age_seconds:
                    why = (f"died {_duration(age)} ago, beyond the replay window of "
                           f"{_duration(max_age_seconds)} (consumers may no longer "
                           "recognise it as handled)")
                elif message.message_id is not None and message.message_id in moved_ids:
                    why = "moved earlier in this run and dead-lettered again"
            if dry_run:
                held.append(message)
                record(outcome(WOULD_KEEP if why else WOULD_MOVE, why))
                continue
            if why:
                held.append(message)
                record(outcome(KEPT, why))
                continue
            assert death is not None
            try:
                await publisher.publish(replayed_message(message, queue, clock()),
                                        death.exchange, death.routing_key)
            except Exception as exc:
                held.append(message)
                record(outcome(KEPT, _publish_failure(exc, death, publish_timeout)))
                if connection.is_closed:
                    report.error = "the connection to RabbitMQ was lost"
                    break
                continue
            try:
                await message.ack()
            except Exception as exc:
                record(outcome(MOVED, f"published, but removing it from {queue} failed "
                                      f"({type(exc).__name__}: {exc}): a copy may remain"))
                report.error = "acknowledging a moved message failed"
                break
            if message.message_id is not None:
                moved_ids.add(message.message_id)
            record(outcome(MOVED))
    finally:
        for message in held:
            with contextlib.suppress(Exception):
                await message.reject(requeue=True)
        with contextlib.suppress(Exception):
            await connection.close()
    return report


def _duration(seconds: float) -> str:
    if seconds >= 2 * 86_400:
        return f"{seconds / 86_400:.1f} days"
    if seconds >= 2 * 3_600:
        return f"{seconds / 3_600:.1f} hours"
    return f"{seconds:.0f} s"


# ---------------------------------------------------------------------- CLI
def _window_default() -> float:
    raw = os.environ.get("DLQ_REPLAY_WINDOW_SECONDS")
    try:
        return float(raw) if raw else DEFAULT_REPLAY_WINDOW_SECONDS
    except ValueError:
        raise SystemExit(f"DLQ_REPLAY_WINDOW_SECONDS must be a number of seconds, not {raw!r}"
                         ) from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ops_tools.replay_dlq",
        description="Move dead-lettered messages from a <queue>.dlq back to the exchange and "
                    "routing key they were published with (from their x-death header).")
    p.add_argument("queue", help="the dead-letter queue, e.g. social.events.projections.dlq")
    p.add_argument("--amqp-url", default=os.environ.get("AMQP_URL") or DEFAULT_AMQP_URL,
                   help=f"RabbitMQ URL with the vhost (default: $AMQP_URL or {DEFAULT_AMQP_URL})")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="take at most N messages (default: until the queue is empty)")
    p.add_argument("--dry-run", action="store_true", help="list the messages, move nothing")
    p.add_argument("--max-age-seconds", type=float, default=None, metavar="SECONDS",
                   help="keep messages that died longer ago than this (default: "
                        "$DLQ_REPLAY_WINDOW_SECONDS or "
                        f"{DEFAULT_REPLAY_WINDOW_SECONDS:.0f}, 3 days)")
    p.add_argument("--publish-timeout", type=float, default=10.0, metavar="SECONDS",
                   help="wait this long for each publisher confirm (default: 10)")
    return p


async def _main(args: argparse.Namespace) -> int:
    max_age = args.max_age_seconds if args.max_age_seconds is not None else _window_default()
    try:
        report = await replay_dlq(
            args.amqp_url, args.queue, limit=args.limit, dry_run=args.dry_run,
            max_age_seconds=max_age, publish_timeout=args.publish_timeout,
            out=lambda line: print(line, flush=True))
    except ReplayError as exc:
        print(f"replay-dlq: {exc}", file=sys.stderr)
        return 2
    print(report.total())
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(_main(_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
