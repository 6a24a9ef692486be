"""The whole RabbitMQ topology of the system, declared as objects.

Names say who owns what: ``<service>.commands`` is the exchange and queue of
the commands a service handles, ``<service>.replies`` the replies to the
sagas it runs, ``<service>.events`` the events it publishes and
``<consumer>.events.<purpose>`` a queue that consumes events. Every queue is
a durable quorum queue with a delivery limit and a dead-letter queue
``<queue>.dlq`` behind the owning service's ``<service>.dlx`` exchange.

Both services declare the full topology at start-up (declaring is
idempotent), so neither depends on the other having started first.
Commands and replies are published ``mandatory``: an unroutable one is an
error and stays in the outbox. Event exchanges have an alternate exchange
``<service>.events.unrouted`` so an event nobody subscribes to yet is kept,
visibly, in a bounded queue rather than lost or blocking the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aio_pika
from aio_pika.abc import AbstractChannel, ExchangeType

from shared_lib.contracts import CORE, SOCIAL


@dataclass(frozen=True)
class ExchangeSpec:
    name: str
    type: ExchangeType = ExchangeType.TOPIC
    alternate: str | None = None


@dataclass(frozen=True)
class Binding:
    exchange: str
    routing_key: str


@dataclass(frozen=True)
class QueueSpec:
    name: str
    owner: str
    bindings: tuple[Binding, ...]
    dead_letter: bool = True
    max_length: int | None = None

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"


def commands_exchange(service: str) -> str:
    return f"{service}.commands"


def replies_exchange(service: str) -> str:
    return f"{service}.replies"


def events_exchange(service: str) -> str:
    return f"{service}.events"


def dlx_exchange(service: str) -> str:
    return f"{service}.dlx"


def _bind(exchange: str, *keys: str) -> tuple[Binding, ...]:
    return tuple(Binding(exchange, k) for k in keys)


@dataclass(frozen=True)
class Topology:
    exchanges: tuple[ExchangeSpec, ...]
    queues: tuple[QueueSpec, ...] = field(default_factory=tuple)

    def queue(self, name: str) -> QueueSpec:
        for q in self.queues:
            if q.name == name:
                return q
        raise KeyError(name)

    def routes(self, exchange: str, routing_key: str) -> list[str]:
        """Queues a message with this routing key reaches (topic semantics)."""
        return [
            q.name
            for q in self.queues
            for b in q.bindings
            if b.exchange == exchange and topic_matches(b.routing_key, routing_key)
        ]


def topic_matches(pattern: str, key: str) -> bool:
    p, k = pattern.split("."), key.split(".")

    def match(i: int, j: int) -> bool:
        if i == len(p):
            return j == len(k)
        if p[i] == "#":
            return any(match(i + 1, jj) for jj in range(j, len(k) + 1))
        if j == len(k):
            return False
        return (p[i] == "*" or p[i] == k[j]) and match(i + 1, j + 1)

    return match(0, 0)


def _service_exchanges(service: str) -> tuple[ExchangeSpec, ...]:
    unrouted = f"{events_exchange(service)}.unrouted"
    return (
        ExchangeSpec(commands_exchange(service)),
        ExchangeSpec(replies_exchange(service)),
        ExchangeSpec(events_exchange(service), alternate=unrouted),
        ExchangeSpec(unrouted, ExchangeType.FANOUT),
        ExchangeSpec(dlx_exchange(service), ExchangeType.DIRECT),
    )


def build_topology() -> Topology:
    core_events = events_exchange(CORE)
    social_events = events_exchange(SOCIAL)
    return Topology(
        exchanges=_service_exchanges(CORE) + _service_exchanges(SOCIAL),
        queues=(
            QueueSpec("core.commands", CORE, _bind(commands_exchange(CORE), "#")),
            QueueSpec("core.replies", CORE, _bind(replies_exchange(CORE), "#")),
            QueueSpec("social.commands", SOCIAL, _bind(commands_exchange(SOCIAL), "#")),
            QueueSpec("social.replies", SOCIAL, _bind(replies_exchange(SOCIAL), "#")),
            QueueSpec(
                "social.events.projections",
                SOCIAL,
                _bind(core_events, "user.*", "post.*", "comment.*"),
            ),
            QueueSpec(
                "social.events.notifications",
                SOCIAL,
                _bind(core_events, "post.published", "post.liked", "post.unliked",
                      "comment.added", "user.followed"),
            ),
            QueueSpec("core.events.stories", CORE, _bind(social_events, "story.deleted")),
            # events nobody subscribes to: kept (bounded) for inspection, never lost
            QueueSpec("core.events.unrouted", CORE,
                      _bind(f"{core_events}.unrouted", ""), dead_letter=False,
                      max_length=10_000),
            QueueSpec("social.events.unrouted", SOCIAL,
                      _bind(f"{social_events}.unrouted", ""), dead_letter=False,
                      max_length=10_000),
        ),
    )


def queue_arguments(spec: QueueSpec, delivery_limit: int) -> dict[str, object]:
    args: dict[str, object] = {"x-queue-type": "quorum"}
    if spec.dead_letter:
        args.update(
            {
                "x-delivery-limit": delivery_limit,
                "x-dead-letter-exchange": dlx_exchange(spec.owner),
                "x-dead-letter-routing-key": spec.dlq,
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            }
        )
    if spec.max_length is not None:
        args["x-max-length"] = spec.max_length
        args.setdefault("x-overflow", "drop-head")
    return args


async def declare_topology(
    channel: AbstractChannel, topology: Topology, delivery_limit: int
) -> None:
    """Declare every exchange, queue, binding and dead-letter queue (idempotent)."""
    exchanges: dict[str, aio_pika.abc.AbstractExchange] = {}
    for ex in topology.exchanges:
        arguments = {"alternate-exchange": ex.alternate} if ex.alternate else None
        exchanges[ex.name] = await channel.declare_exchange(
            ex.name, ex.type, durable=True, arguments=arguments
        )
    for q in topology.queues:
        queue = await channel.declare_queue(
            q.name, durable=True, arguments=queue_arguments(q, delivery_limit)
        )
        for b in q.bindings:
            await queue.bind(exchanges[b.exchange], routing_key=b.routing_key)
        if q.dead_letter:
            dlq = await channel.declare_queue(
                q.dlq, durable=True, arguments={"x-queue-type": "quorum"}
            )
            await dlq.bind(exchanges[dlx_exchange(q.owner)], routing_key=q.dlq)
