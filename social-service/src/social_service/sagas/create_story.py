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

from instasaga.messages import RecordStory, RecordStoryRefusal, StoryCreated, UnrecordStory
from shared_lib.saga import (
    LocalStep,
    RemoteStep,
    SagaContext,
    SagaData,
    SagaDefinition,
    StepRejected,
    made_by,
    start_only,
)
from social_service.services import stories

CREATE_STORY = "create_story"


class CreateStoryRejection(StrEnum):
    """The reasons a create_story saga (and its story) is rejected with,
    besides a participant's timeout."""

    #: core's record_story: the author is missing or deactivated
    author_deactivated = RecordStoryRefusal.author_deactivated.value
    #: activate: the story is no longer pending (deleted by its author)
    story_deleted = "The story was deleted before it was published"


class CreateStoryData(SagaData):
    """The ids and the expiry the commands and the event carry; the image and the
    text live in the story row only."""

    author_id: int
    author_username: str
    image_url: str | None = start_only()
    content: str | None = start_only()
    #: set by insert_story
    story_id: int | None = None
    expires_at: datetime | None = None

    @property
    def story(self) -> int:
        return made_by(self.story_id, "insert_story")

    @property
    def expiry(self) -> datetime:
        return made_by(self.expires_at, "insert_story")


Context = SagaContext[CreateStoryData]


async def insert_story(ctx: Context) -> None:
    d = ctx.data
    story = await stories.insert_pending(
        ctx.q, author_id=d.author_id, author_username=d.author_username,
        image_url=d.image_url, content=d.content)
    d.story_id, d.expires_at = story.id, story.expires_at


async def reject_story(ctx: Context) -> None:
    await stories.reject(ctx.q, ctx.data.story, ctx.reason)


def record_command(d: CreateStoryData) -> RecordStory:
    return RecordStory(story_id=d.story, author_id=d.author_id, expires_at=d.expiry)


def unrecord_command(d: CreateStoryData) -> UnrecordStory:
    return UnrecordStory(story_id=d.story, author_id=d.author_id)


async def activate(ctx: Context) -> None:
    d = ctx.data
    if not await stories.activate(ctx.q, d.story):
        raise StepRejected(CreateStoryRejection.story_deleted)
    await ctx.publish(StoryCreated(story_id=d.story, author_id=d.author_id,
                                   expires_at=d.expiry))


def create_story_saga() -> SagaDefinition:
    return SagaDefinition(
        type=CREATE_STORY,
        data=CreateStoryData,
        description="Store a story pending, record it on the author's profile, activate it",
        steps=(
            LocalStep("insert_story", insert_story, compensation=reject_story, can_reject=False),
            RemoteStep("record_story", record_command, compensation=unrecord_command),
            # refuses when its first write (the activation) matched no story: nothing written
            LocalStep("activate", activate, rejects_before_writing=True),
        ),
    )
