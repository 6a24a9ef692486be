"""Message handlers of social-service, each bound to its message and queue where
it is defined (``@SUBSCRIPTIONS.on`` / ``@handles_saga_command``):

``social.commands``: commands of sagas run by core-service (``commands.py``);
``social.events.notifications``: core's events that notify someone
(``notifications.py``); ``social.events.projections`` and ``social.events.sessions``:
core's events that keep social's projections of core's data, handled in the
projections room (:mod:`social_service.projections.handlers`). Replies to social's
own sagas are wired to the orchestrator by the runtime.
"""

from social_service.projections import handlers as projections

from . import commands, notifications
from .registry import SUBSCRIPTIONS

__all__ = ["SUBSCRIPTIONS", "commands", "notifications", "projections"]
