"""The services of this system, by the name their exchanges, queues, events and
settings carry."""

from __future__ import annotations

CORE = "core"
SOCIAL = "social"
SERVICES = (CORE, SOCIAL)
