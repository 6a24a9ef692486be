"""Each subscription is declared once, by its handler: the manifest the topology
is built from must match the handlers, and every message has a consumer."""

from __future__ import annotations

from core_service.handlers import SUBSCRIPTIONS as CORE_SUBSCRIPTIONS
from instasaga.topology import MANIFEST, RETIRED_BINDINGS, system_topology
from shared_lib.contracts import MessageKind, SagaCancel, registry
from shared_lib.messaging.subscriptions import manifest_of, read_manifest
from shared_lib.messaging.topology import commands_queue
from social_service.handlers import SUBSCRIPTIONS as SOCIAL_SUBSCRIPTIONS

SERVICES = (CORE_SUBSCRIPTIONS, SOCIAL_SUBSCRIPTIONS)


def test_the_manifest_matches_the_handlers() -> None:
    assert read_manifest(MANIFEST) == manifest_of(SERVICES), (
        "shared_lib/messaging/subscriptions.json is out of date: run `make subscriptions`")


def test_every_binding_has_a_handler_and_every_handler_a_binding() -> None:
    topology = system_topology()
    for subs in SERVICES:
        handlers = subs.handlers()
        owned = {q.name: q for q in topology.queues if q.name in handlers}
        assert set(owned) == set(handlers), f"{subs.service}: queues without bindings"
        for queue, by_type in handlers.items():
            bound = {b.routing_key for b in owned[queue].bindings}
            assert bound == set(by_type), f"{queue}: bindings {bound} vs handlers {set(by_type)}"


def test_every_command_has_a_handler_on_its_services_queue() -> None:
    handlers = {q: h for subs in SERVICES for q, h in subs.handlers().items()}
    for contract in registry.all():
        if contract.kind != MessageKind.command or contract.model is SagaCancel:
            continue
        queue = commands_queue(contract.model.HANDLER)  # type: ignore[attr-defined]
        assert contract.type in handlers.get(queue, {}), f"nobody handles {contract.type}"
        assert SagaCancel.TYPE in handlers[queue], f"{queue} does not answer saga.cancel"


def test_a_retired_binding_is_no_longer_declared() -> None:
    """A binding removed from a queue is unbound where it exists; it must not also be
    one of the queue's bindings (declared, then unbound at every start)."""
    queues = {q.name: q for q in system_topology().queues}
    for name, binding in RETIRED_BINDINGS:
        assert name in queues, f"{name}: retired binding of an unknown queue"
        assert binding not in queues[name].bindings, f"{name}: {binding} is still declared"
