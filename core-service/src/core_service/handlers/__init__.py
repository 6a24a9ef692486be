"""Message handlers of core-service, registered per queue.

``core.commands``: commands of sagas run by social-service.
``core.events.stories``: social's story events.
Replies to core's own sagas are wired to the orchestrator by the runtime.
"""

from collections.abc import Mapping

from shared_lib.messaging.consumer import Handler

from . import commands, events


def handler_registry() -> Mapping[str, Mapping[str, Handler]]:
    return {
        "core.commands": {
            "authorize_message": commands.authorize_message,
            "record_story": commands.record_story,
            "unrecord_story": commands.unrecord_story,
        },
        "core.events.stories": {
            "story.deleted": events.on_story_deleted,
        },
    }
