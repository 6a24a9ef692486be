"""The names of this system's exchanges and queues, for code that names one (handlers,
tests, operator tools): built by the topology's naming rules, never spelled out."""

from __future__ import annotations

from instasaga.services import CORE, SOCIAL
from shared_lib.contracts.routing import commands_exchange, events_exchange
from shared_lib.messaging.topology import (
    commands_queue,
    dlq_of,
    events_queue,
    replies_queue,
    unrouted_queue,
)

#: exchanges
CORE_COMMANDS_EXCHANGE = commands_exchange(CORE)
SOCIAL_COMMANDS_EXCHANGE = commands_exchange(SOCIAL)
CORE_EVENTS = events_exchange(CORE)
SOCIAL_EVENTS = events_exchange(SOCIAL)

#: the commands each service handles, the replies to each one's sagas
CORE_COMMANDS = commands_queue(CORE)
SOCIAL_COMMANDS = commands_queue(SOCIAL)
CORE_REPLIES = replies_queue(CORE)
SOCIAL_REPLIES = replies_queue(SOCIAL)

#: the events each service consumes, by purpose
CORE_STORY_EVENTS = events_queue(CORE, "stories")
SOCIAL_PROJECTIONS = events_queue(SOCIAL, "projections")
SOCIAL_NOTIFICATIONS = events_queue(SOCIAL, "notifications")
SOCIAL_SESSIONS = events_queue(SOCIAL, "sessions")

#: the events nobody subscribes to, kept for inspection
CORE_UNROUTED = unrouted_queue(CORE)
SOCIAL_UNROUTED = unrouted_queue(SOCIAL)

__all__ = ["CORE_COMMANDS", "CORE_COMMANDS_EXCHANGE", "CORE_EVENTS", "CORE_REPLIES",
           "CORE_STORY_EVENTS", "CORE_UNROUTED", "SOCIAL_COMMANDS", "SOCIAL_COMMANDS_EXCHANGE",
           "SOCIAL_EVENTS", "SOCIAL_NOTIFICATIONS", "SOCIAL_PROJECTIONS", "SOCIAL_REPLIES",
           "SOCIAL_SESSIONS", "SOCIAL_UNROUTED", "dlq_of"]
