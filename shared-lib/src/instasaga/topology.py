"""This system's RabbitMQ topology: both services' exchanges, their replies and
unrouted queues, and the consumers' queues of the subscriptions manifest
(``subscriptions.json`` beside this module, written by ``make subscriptions``
from the handlers; a test fails when the two disagree)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import instasaga.messages  # noqa: F401  (registers the contracts the manifest names)
from instasaga.services import CORE, SERVICES
from shared_lib.contracts.routing import events_exchange
from shared_lib.messaging.subscriptions import read_manifest
from shared_lib.messaging.topology import Binding, Topology, build_topology

MANIFEST = Path(__file__).with_name("subscriptions.json")

#: bindings a queue no longer has (its handler moved)
RETIRED_BINDINGS: tuple[tuple[str, Binding], ...] = (
    # post.published has one consumer: the projection, which also notifies mentions
    ("social.events.notifications", Binding(events_exchange(CORE), "post.published")),
    # likes, comments and follows too: the projection notifies in the same statement
    *(("social.events.notifications", Binding(events_exchange(CORE), key))
      for key in ("post.liked", "post.unliked", "comment.added", "user.followed")),
)


def system_topology(manifest: Mapping[str, Mapping[str, Any]] | None = None) -> Topology:
    """Every exchange and queue of the system (``manifest``: the file's by default)."""
    return build_topology(SERVICES, read_manifest(MANIFEST) if manifest is None else manifest,
                          RETIRED_BINDINGS)
