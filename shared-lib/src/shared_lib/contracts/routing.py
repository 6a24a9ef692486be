"""Where each message goes: exchange names by owner, and a payload's default exchange.

``<service>.commands`` receives the commands a service handles,
``<service>.replies`` the replies to the sagas it runs, ``<service>.events``
the events it publishes, ``<service>.dlx`` its dead-lettered messages.
Messages are routed by their type (the routing key).
"""

from __future__ import annotations

from .base import MessageKind, Payload


def commands_exchange(service: str) -> str:
    return f"{service}.commands"


def replies_exchange(service: str) -> str:
    return f"{service}.replies"


def events_exchange(service: str) -> str:
    return f"{service}.events"


def unrouted_exchange(service: str) -> str:
    """The alternate exchange of ``<service>.events``: events nobody consumes yet."""
    return f"{events_exchange(service)}.unrouted"


def dlx_exchange(service: str) -> str:
    return f"{service}.dlx"


def default_exchange(payload: Payload) -> str:
    """A command goes to its handler's exchange, an event to its publisher's."""
    if payload.KIND == MessageKind.command:
        return commands_exchange(payload.HANDLER)  # type: ignore[attr-defined]
    if payload.KIND == MessageKind.event:
        return events_exchange(payload.PUBLISHER)  # type: ignore[attr-defined]
    raise ValueError("replies go to the exchange named by the command's reply_to")
