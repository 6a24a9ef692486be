"""What a service consumes, declared once: each handler bound to its message
contract and queue where the handler is defined.

    SUBSCRIPTIONS = Subscriptions("billing")

    @SUBSCRIPTIONS.on("billing.events.accounts", AccountOpened, AccountClosed)
    async def on_account_changed(ctx, event): ...

The consumers are built from it (queue -> message type -> handler), and so
are the queue bindings: :func:`write_manifest` records every service's
subscriptions in a manifest file (this system's: ``instasaga/subscriptions.json``),
from which the topology declares every queue with one binding per message type (both
services declare the whole topology, so neither depends on the other having
started first). A test fails when the file and the handlers disagree.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from shared_lib.contracts import Payload

from .consumer import Handler

H = TypeVar("H", bound=Handler)


@dataclass(frozen=True)
class Subscription:
    queue: str
    message: type[Payload]
    handler: Handler


class Subscriptions:
    """The handlers of one service, by queue and message type."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._subs: dict[tuple[str, str], Subscription] = {}

    def on(self, queue: str, *messages: type[Payload]) -> Callable[[H], H]:
        """Decorator: ``handler`` consumes ``messages`` from ``queue``."""

        def register(handler: H) -> H:
            for message in messages:
                self.add(queue, message, handler)
            return handler

        return register

    def add(self, queue: str, message: type[Payload], handler: Handler) -> None:
        key = (queue, message.TYPE)
        if key in self._subs and self._subs[key].handler is not handler:
            raise ValueError(f"{message.TYPE} on {queue} has two handlers")
        self._subs[key] = Subscription(queue, message, handler)

    def handler(self, queue: str, message_type: str) -> Handler | None:
        """The handler of ``message_type`` on ``queue``, if there is one."""
        sub = self._subs.get((queue, message_type))
        return sub.handler if sub is not None else None

    def __iter__(self) -> Iterable[Subscription]:  # type: ignore[override]
        return iter(self._subs.values())

    def handlers(self) -> dict[str, dict[str, Handler]]:
        """queue -> message type -> handler: what the consumers are built from."""
        out: dict[str, dict[str, Handler]] = {}
        for sub in self._subs.values():
            out.setdefault(sub.queue, {})[sub.message.TYPE] = sub.handler
        return out

    def manifest(self) -> dict[str, list[str]]:
        """queue -> the message types it consumes, sorted."""
        return {q: sorted(h) for q, h in sorted(self.handlers().items())}


def manifest_of(services: Iterable[Subscriptions]) -> dict[str, dict[str, object]]:
    """Every service's queues: owner and message types."""
    out: dict[str, dict[str, object]] = {}
    for subs in services:
        for queue, types in subs.manifest().items():
            out[queue] = {"owner": subs.service, "messages": types}
    return dict(sorted(out.items()))


def write_manifest(services: Iterable[Subscriptions], path: Path) -> None:
    path.write_text(json.dumps(manifest_of(services), indent=2) + "\n")


def read_manifest(path: Path) -> Mapping[str, dict[str, object]]:
    return json.loads(path.read_text())
