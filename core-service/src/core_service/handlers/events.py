"""Events from social-service that core-service follows."""

from __future__ import annotations

from sqlalchemy import delete

from core_service.models import StoryRecord
from shared_lib.contracts.messages import StoryDeleted
from shared_lib.messaging.consumer import MessageContext


async def on_story_deleted(ctx: MessageContext, event: StoryDeleted) -> None:
    await ctx.session.execute(delete(StoryRecord).where(StoryRecord.story_id == event.story_id))
