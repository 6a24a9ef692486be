"""The one registry of what core-service consumes (see shared_lib.messaging.subscriptions)."""

from instasaga.services import CORE
from shared_lib.messaging.subscriptions import Subscriptions

SUBSCRIPTIONS = Subscriptions(CORE)
