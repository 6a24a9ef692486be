"""create_story saga (docs/sagas.md#create_story).

1. social ``insert_story``: stored ``pending``, expiring 24 hours after its
   creation (compensation: mark it ``rejected`` with the reason);
2. core ``record_story``: the author's ``has_active_story`` until it expires
   (compensation: ``unrecord_story``);
3. social ``activate``: ``active``, event ``story.created``; rejected when the
   story was deleted meanwhile.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from shared_lib.contracts.messages import (
    RecordStory,
    RecordStoryRefusal,
    StoryCreated,
    UnrecordStory,
)
from shared_lib.saga import LocalStep, RemoteStep, SagaContext, SagaDefinition, StepRejected
from social_service.services import stories

CREATE_STORY = "create_story"


class CreateStoryRejection(StrEnum):
    """The reasons a create_story saga (and its story) is rejected with,
    besides a participant's timeout."""

    #: core's record_story: the author is missing or deactivated
    author_deactivated = RecordStoryRefusal.author_deactivated.value
    #: activate: the story is no longer pending (deleted by its author)
    story_deleted = "The story was deleted before it was published"


async def insert_story(ctx: SagaContext) -> None:
    d = ctx.data
    story = await stories.insert_pending(
        ctx.session, author_id=d["author_id"], author_username=d["author_username"],
        image_url=d.pop("image_url"), content=d.pop("content"))  # kept in the story only
    d["story_id"] = story.id
    d["expires_at"] = story.expires_at.isoformat()


async def reject_story(ctx: SagaContext) -> None:
    await stories.reject(ctx.session, ctx.data["story_id"], ctx.reason)


def record_command(d: dict[str, Any]) -> RecordStory:
    return RecordStory(story_id=d["story_id"], author_id=d["author_id"],
                       expires_at=datetime.fromisoformat(d["expires_at"]))


def unrecord_command(d: dict[str, Any]) -> UnrecordStory:
    return UnrecordStory(story_id=d["story_id"], author_id=d["author_id"])


async def activate(ctx: SagaContext) -> None:
    d = ctx.data
    if not await stories.activate(ctx.session, d["story_id"]):
        raise StepRejected(CreateStoryRejection.story_deleted)
    await ctx.publish(StoryCreated(story_id=d["story_id"], author_id=d["author_id"],
                                   expires_at=datetime.fromisoformat(d["expires_at"])))


def create_story_saga() -> SagaDefinition:
    return SagaDefinition(
        type=CREATE_STORY,
        description="Store a story pending, record it on the author's profile, activate it",
        steps=(
            LocalStep("insert_story", insert_story, compensation=reject_story, can_reject=False),
            RemoteStep("record_story", record_command, compensation=unrecord_command),
            # refuses when its first write (the activation) matched no story: nothing written
            LocalStep("activate", activate, rejects_before_writing=True),
        ),
    )
