"""The one registry of what social-service consumes (see shared_lib.messaging.subscriptions)."""

from instasaga.services import SOCIAL

from shared_lib.messaging.subscriptions import Subscriptions

SUBSCRIPTIONS = Subscriptions(SOCIAL)

#: core's events that keep the projections
PROJECTIONS = "social.events.projections"
#: core's events that notify someone
NOTIFICATIONS = "social.events.notifications"
#: core's revoked login sessions (their access tokens are refused)
SESSIONS = "social.events.sessions"
