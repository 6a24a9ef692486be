"""The one registry of what social-service consumes (see shared_lib.messaging.subscriptions)."""

from instasaga.queues import SOCIAL_NOTIFICATIONS, SOCIAL_PROJECTIONS, SOCIAL_SESSIONS
from instasaga.services import SOCIAL
from shared_lib.messaging.subscriptions import Subscriptions

SUBSCRIPTIONS = Subscriptions(SOCIAL)

#: core's events that keep the projections
PROJECTIONS = SOCIAL_PROJECTIONS
#: core's events that notify someone
NOTIFICATIONS = SOCIAL_NOTIFICATIONS
#: core's revoked login sessions (their access tokens are refused)
SESSIONS = SOCIAL_SESSIONS
