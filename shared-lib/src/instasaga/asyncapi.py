"""An AsyncAPI 3.0 document of what one service sends and receives over RabbitMQ,
generated from the message contracts and the topology (never written by hand).

* a **channel** is an exchange and a routing key (every message is routed by its
  type; a reply by ``<command>.reply``);
* an **operation** is ``send`` or ``receive`` of the service on a channel; a
  receive names the queue it consumes from;
* a **message** is one contract: its AMQP body is the envelope
  (:class:`~shared_lib.contracts.Envelope`) whose ``payload`` is the contract's
  model, and its AMQP properties carry the message id, type and correlation id.

What a service sends: the events it publishes, the commands its sagas send to
the services that handle them (with ``saga.cancel``), and the replies to the
commands it handles. What it receives: what its queues are bound to (the
subscriptions manifest) and the replies to its sagas' commands.

``scripts/write_asyncapi.py`` writes ``docs/asyncapi/<service>.yaml``; a test
fails when those drift from this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from instasaga.services import SERVICES
from instasaga.topology import system_topology
from shared_lib.contracts import Envelope, MessageKind, SagaCancel, SagaReply
from shared_lib.contracts import registry as contracts
from shared_lib.contracts.base import Contract
from shared_lib.contracts.routing import commands_exchange, events_exchange, replies_exchange
from shared_lib.messaging.topology import Topology, commands_queue

_REF = "#/components/schemas/{model}"
_AMQP_BINDING_VERSION = "0.3.0"


@dataclass(frozen=True, order=True)
class _Route:
    exchange: str
    routing_key: str
    message: str  # contract type
    queue: str | None = None  # receive only


def _key(text: str) -> str:
    """A name usable as a key of the document's maps."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def _channel_id(exchange: str, routing_key: str) -> str:
    return _key(f"{exchange}__{routing_key}")


def _contracts_by_type() -> dict[str, Contract]:
    latest: dict[str, Contract] = {}
    for c in contracts.all():
        if c.type not in latest or c.version > latest[c.type].version:
            latest[c.type] = c
    return latest


def _handled_commands(service: str, topology: Topology) -> list[str]:
    """Commands whose handler is ``service`` (from its commands queue's bindings)."""
    try:
        queue = topology.queue(commands_queue(service))
    except KeyError:
        return []
    return sorted({b.routing_key for b in queue.bindings} - {SagaCancel.TYPE})


def _sent(service: str, topology: Topology, by_type: dict[str, Contract]) -> list[_Route]:
    routes = []
    for c in by_type.values():
        publisher = getattr(c.model, "PUBLISHER", None)
        handler = getattr(c.model, "HANDLER", None)
        if c.kind == MessageKind.event and publisher == service:
            routes.append(_Route(events_exchange(service), c.type, c.type))
        elif c.kind == MessageKind.command and handler is not None and handler != service:
            routes.append(_Route(commands_exchange(handler), c.type, c.type))
    handled = _handled_commands(service, topology)
    for other in SERVICES:
        if other == service:
            continue
        if _handled_commands(other, topology):  # our sagas command it: we may cancel
            routes.append(_Route(commands_exchange(other), SagaCancel.TYPE, SagaCancel.TYPE))
        if handled:  # its sagas command us: we reply, to cancels too
            routes += [_Route(replies_exchange(other), f"{command}.reply", SagaReply.TYPE)
                       for command in [*handled, SagaCancel.TYPE]]
    return sorted(set(routes))


def _received(service: str, topology: Topology, sent: list[_Route]) -> list[_Route]:
    known = {c.type for c in contracts.all()}
    routes = [_Route(b.exchange, b.routing_key, b.routing_key, q.name)
              for q in topology.queues if q.owner == service
              for b in q.bindings if b.routing_key in known]
    sent_commands = {r.message for r in sent
                     if r.message != SagaReply.TYPE and r.exchange.endswith(".commands")}
    for command in sorted(sent_commands):
        routes.append(_Route(replies_exchange(service), f"{command}.reply", SagaReply.TYPE,
                             replies_exchange(service)))
    return sorted(set(routes))


def _schema(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    """The model's JSON Schema; its nested definitions go to ``schemas``."""
    schema = model.model_json_schema(ref_template=_REF)
    schemas.update(schema.pop("$defs", {}))
    return schema


def _message(contract: Contract, schemas: dict[str, Any]) -> dict[str, Any]:
    name = contract.model.__name__
    schemas[name] = _schema(contract.model, schemas)
    envelope = _schema(Envelope, schemas)
    envelope["title"] = f"{name}Envelope"
    envelope["properties"] = {
        **envelope["properties"],
        "type": {"const": contract.type, "type": "string"},
        "version": {"const": contract.version, "type": "integer"},
        "payload": {"$ref": _REF.format(model=name)},
    }
    doc = (contract.model.__doc__ or "").strip()
    return {
        "name": contract.type,
        "title": f"{contract.type} (v{contract.version}, {contract.kind.value})",
        **({"summary": doc.splitlines()[0]} if doc else {}),
        "contentType": "application/json",
        "headers": {
            "type": "object",
            "properties": {"x-correlation-id": {
                "type": "string",
                "description": "the saga's id (commands, replies) or the request's"}},
        },
        "correlationId": {"location": "$message.payload#/correlation_id"},
        "payload": envelope,
        "bindings": {"amqp": {"messageType": contract.type,
                              "bindingVersion": _AMQP_BINDING_VERSION}},
    }


def _exchange_type(topology: Topology, name: str) -> str:
    return next((str(e.type.value) for e in topology.exchanges if e.name == name), "topic")


def asyncapi_document(service: str, topology: Topology | None = None,
                      version: str = "0.1.0") -> dict[str, Any]:
    """The AsyncAPI 3.0 document of ``service`` (``core`` or ``social``)."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}")
    topology = topology or system_topology()
    by_type = _contracts_by_type()
    sent = _sent(service, topology, by_type)
    received = _received(service, topology, sent)
    schemas: dict[str, Any] = {}
    messages = {_key(t): _message(by_type[t], schemas)
                for t in sorted({r.message for r in sent + received})}

    channels: dict[str, Any] = {}
    for r in sorted(set(sent + received)):
        cid = _channel_id(r.exchange, r.routing_key)
        channel = channels.setdefault(cid, {
            "address": r.routing_key,
            "title": f"{r.exchange} / {r.routing_key}",
            "messages": {},
            "bindings": {"amqp": {
                "is": "routingKey",
                "exchange": {"name": r.exchange, "type": _exchange_type(topology, r.exchange),
                             "durable": True, "autoDelete": False, "vhost": "/"},
                "bindingVersion": _AMQP_BINDING_VERSION}},
        })
        channel["messages"][_key(r.message)] = {
            "$ref": f"#/components/messages/{_key(r.message)}"}

    operations: dict[str, Any] = {}
    for action, routes in (("send", sent), ("receive", received)):
        for r in routes:
            cid = _channel_id(r.exchange, r.routing_key)
            op: dict[str, Any] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{cid}"},
                "messages": [{"$ref": f"#/channels/{cid}/messages/{_key(r.message)}"}],
            }
            if action == "send":
                op["summary"] = f"published to {r.exchange} with confirms, from the outbox"
                op["bindings"] = {"amqp": {"deliveryMode": 2, "mandatory": True,
                                           "bindingVersion": _AMQP_BINDING_VERSION}}
            else:
                op["summary"] = (f"consumed from the quorum queue {r.queue} (explicit acks, "
                                 "inbox dedupe, dead-lettered after repeated failures)")
                op["bindings"] = {"amqp": {"ack": True,
                                           "bindingVersion": _AMQP_BINDING_VERSION}}
            operations[_key(f"{action}_{r.queue + '__' if r.queue else ''}{cid}")] = op

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": f"{service}-service messages",
            "version": version,
            "description": (
                f"What {service}-service sends and receives over RabbitMQ: saga commands "
                "and replies, and events. Generated from the message contracts and the "
                "topology."),
        },
        "defaultContentType": "application/json",
        "servers": {"rabbitmq": {"host": "rabbitmq:5672", "protocol": "amqp",
                                 "protocolVersion": "0.9.1",
                                 "description": "the broker both services share"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages,
                       "schemas": dict(sorted(schemas.items()))},
    }
