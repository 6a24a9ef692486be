"""A system's RabbitMQ topology, declared as objects (this system's is built in
:mod:`instasaga.topology`).

Names say who owns what: ``<service>.commands`` is the exchange and queue of
the commands a service handles, ``<service>.replies`` the replies to the
sagas it runs, ``<service>.events`` the events it publishes and
``<consumer>.events.<purpose>`` a queue that consumes events. Every queue is
a durable quorum queue with a delivery limit and a dead-letter queue
``<queue>.dlq`` behind the owning service's ``<service>.dlx`` exchange.

Every service declares the full topology at start-up (declaring is
idempotent), so neither depends on the other having started first.
Commands and replies are published ``mandatory``: an unroutable one is an
error and stays in the outbox. Event exchanges have an alternate exchange
``<service>.events.unrouted`` so an event nobody subscribes to yet is kept,
visibly, in a bounded queue rather than lost or blocking the outbox.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, ExchangeType

from shared_lib.contracts import MessageKind, registry
from shared_lib.contracts.routing import (
    commands_exchange,
    dlx_exchange,
    events_exchange,
    replies_exchange,
    unrouted_exchange,
)


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
        return dlq_of(self.name)


def _bind(exchange: str, *keys: str) -> tuple[Binding, ...]:
    return tuple(Binding(exchange, k) for k in keys)


@dataclass(frozen=True)
class Topology:
    exchanges: tuple[ExchangeSpec, ...]
    queues: tuple[QueueSpec, ...] = field(default_factory=tuple)
    #: bindings a queue no longer has (its handler moved): removed where an older
    #: version declared them, or the queue would get messages it has no handler for
    retired: tuple[tuple[str, Binding], ...] = ()

    def queue(self, name: str) -> QueueSpec:
        for q in self.queues:
            if q.name == name:
                return q
        raise KeyError(name)

    def routes(self, exchange: str, routing_key: str) -> list[str]:
        """Queues a message with this routing key reaches (fanout, direct or topic)."""
        kind = next((e.type for e in self.exchanges if e.name == exchange), ExchangeType.TOPIC)

        def matches(pattern: str) -> bool:
            if kind == ExchangeType.FANOUT:
                return True
            if kind == ExchangeType.DIRECT:
                return pattern == routing_key
            return topic_matches(pattern, routing_key)

        return [
            q.name
            for q in self.queues
            for b in q.bindings
            if b.exchange == exchange and matches(b.routing_key)
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
    unrouted = unrouted_exchange(service)
    return (
        ExchangeSpec(commands_exchange(service)),
        ExchangeSpec(replies_exchange(service)),
        ExchangeSpec(events_exchange(service), alternate=unrouted),
        ExchangeSpec(unrouted, ExchangeType.FANOUT),
        ExchangeSpec(dlx_exchange(service), ExchangeType.DIRECT),
    )


def commands_queue(service: str) -> str:
    return f"{service}.commands"


def replies_queue(service: str) -> str:
    """A saga initiator's replies queue: named like the exchange it is bound to."""
    return replies_exchange(service)


def events_queue(consumer: str, purpose: str) -> str:
    """A queue of events ``consumer`` handles for one ``purpose``."""
    return f"{consumer}.events.{purpose}"


def unrouted_queue(service: str) -> str:
    """The bounded queue keeping ``service``'s events that nobody subscribes to."""
    return f"{events_exchange(service)}.unrouted"


def dlq_of(queue: str) -> str:
    """The dead-letter queue of ``queue``."""
    return f"{queue}.dlq"


def _bindings_of(owner: str, types: Iterable[str]) -> tuple[Binding, ...]:
    """One binding per message type: a command on its handler's (the owner's)
    commands exchange, an event on its publisher's events exchange."""
    kinds = {c.type: c for c in registry.all()}
    out: list[Binding] = []
    for t in types:
        contract = kinds.get(t)
        if contract is None:
            raise ValueError(f"the subscriptions name an unknown message type {t!r}")
        if contract.kind == MessageKind.event:
            out.append(Binding(events_exchange(contract.model.PUBLISHER), t))  # type: ignore[attr-defined]
        else:
            out.append(Binding(commands_exchange(owner), t))
    return tuple(out)


def build_topology(services: Sequence[str], manifest: Mapping[str, Mapping[str, Any]],
                   retired: Sequence[tuple[str, Binding]] = ()) -> Topology:
    """Every exchange and queue of a system of ``services``. The consumers' queues and
    their bindings come from the subscriptions manifest (what each service's handlers
    consume, see :mod:`shared_lib.messaging.subscriptions`); each service also
    has a replies queue for its sagas and a queue keeping unrouted events."""
    queues = [QueueSpec(replies_queue(s), s, _bind(replies_exchange(s), "#")) for s in services]
    queues += [QueueSpec(name, str(spec["owner"]),
                         _bindings_of(str(spec["owner"]), spec["messages"]))
               for name, spec in manifest.items()]
    # events nobody subscribes to: kept (bounded) for inspection, never lost
    queues += [QueueSpec(unrouted_queue(s), s, _bind(unrouted_exchange(s), ""),
                         dead_letter=False, max_length=10_000) for s in services]
    return Topology(
        exchanges=tuple(ex for s in services for ex in _service_exchanges(s)),
        queues=tuple(queues),
        retired=tuple(retired),
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
        for b in (b for name, b in topology.retired if name == q.name):
            await queue.unbind(exchanges[b.exchange], routing_key=b.routing_key)
        if q.dead_letter:
            dlq = await channel.declare_queue(
                q.dlq, durable=True, arguments={"x-queue-type": "quorum"}
            )
            await dlq.bind(exchanges[dlx_exchange(q.owner)], routing_key=q.dlq)
