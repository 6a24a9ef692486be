"""Message handlers of social-service, each bound to its message and queue where
it is defined (``@SUBSCRIPTIONS.on`` / ``@handles_saga_command``):

``social.commands``: commands of sagas run by core-service (``commands.py``);
``social.events.projections``: core's events that keep the projections
(``projections.py``); ``social.events.notifications``: core's events that notify
someone (``notifications.py``); ``social.events.sessions``: core's revoked login
sessions (``sessions.py``). Replies to social's own sagas are wired to the
orchestrator by the runtime.
"""

from . import commands, notifications, projections, sessions
from .registry import SUBSCRIPTIONS

__all__ = ["SUBSCRIPTIONS", "commands", "notifications", "projections", "sessions"]
