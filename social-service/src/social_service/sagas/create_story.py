"""create_story saga (SPEC 5).

1. social ``insert_story``: stored ``pending``, expiring 24 hours after its
   creation (compensation: mark it ``rejected`` with the reason);
2. core ``record_story``: the author's ``has_active_story`` until it expires
   (compensation: ``unrecord_story``);
3. social ``activate``: ``active``, event ``story.created``; rejected when the
   story was deleted meanwhile.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, update

from shared_lib.contracts.messages import RecordStory, StoryCreated, UnrecordStory
from shared_lib.saga import LocalStep, RemoteStep, SagaContext, SagaDefinition, StepRejected
from social_service.models import Story, StoryStatus

CREATE_STORY = "create_story"
STORY_LIFETIME = timedelta(hours=24)


async def insert_story(ctx: SagaContext) -> None:
    d = ctx.data
    row = (await ctx.session.execute(
        insert(Story)
        .values(author_id=d["author_id"], author_username=d["author_username"],
                image_url=d["image_url"], content=d["content"],
                status=StoryStatus.pending.value,
                # now() is the transaction's time, the same as created_at's default
                expires_at=func.now() + STORY_LIFETIME)
        .returning(Story.id, Story.expires_at))).one()
    d["story_id"] = row.id
    d["expires_at"] = row.expires_at.isoformat()


async def reject_story(ctx: SagaContext) -> None:
    await ctx.session.execute(
        update(Story)
        .where(Story.id == ctx.data["story_id"], Story.status == StoryStatus.pending.value)
        .values(status=StoryStatus.rejected.value, rejection_reason=ctx.reason))


def record_command(d: dict[str, Any]) -> RecordStory:
    return RecordStory(story_id=d["story_id"], author_id=d["author_id"],
                       expires_at=datetime.fromisoformat(d["expires_at"]))


def unrecord_command(d: dict[str, Any]) -> UnrecordStory:
    return UnrecordStory(story_id=d["story_id"], author_id=d["author_id"])


async def activate(ctx: SagaContext) -> None:
    d = ctx.data
    done = await ctx.session.scalar(
        update(Story)
        .where(Story.id == d["story_id"], Story.status == StoryStatus.pending.value)
        .values(status=StoryStatus.active.value).returning(Story.id))
    if done is None:
        raise StepRejected("The story was deleted before it was published")
    await ctx.publish(StoryCreated(story_id=d["story_id"], author_id=d["author_id"],
                                   expires_at=datetime.fromisoformat(d["expires_at"])))


def create_story_saga() -> SagaDefinition:
    return SagaDefinition(
        type=CREATE_STORY,
        description="Store a story pending, record it on the author's profile, activate it",
        steps=(
            LocalStep("insert_story", insert_story, compensation=reject_story, can_reject=False),
            RemoteStep("record_story", record_command, compensation=unrecord_command),
            LocalStep("activate", activate),
        ),
    )
