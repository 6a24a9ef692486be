"""Message handlers of core-service, each bound to its message and queue where it
is defined (``@SUBSCRIPTIONS.on`` / ``@handles_saga_command``):

``core.commands``: commands of sagas run by social-service (``commands.py``);
``core.events.stories``: social's story events (``events.py``).
Replies to core's own sagas are wired to the orchestrator by the runtime.
"""

from . import commands, events
from .registry import SUBSCRIPTIONS

__all__ = ["SUBSCRIPTIONS", "commands", "events"]
