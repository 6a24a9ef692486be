"""Events from social-service that core-service follows."""

from __future__ import annotations

from core_service.services import stories
from instasaga.messages import StoryDeleted
from instasaga.queues import CORE_STORY_EVENTS
from shared_lib.messaging.consumer import MessageContext, direct

from .registry import SUBSCRIPTIONS


@SUBSCRIPTIONS.on(CORE_STORY_EVENTS, StoryDeleted)
@direct
async def on_story_deleted(ctx: MessageContext, event: StoryDeleted) -> None:
    await stories.forget_story(ctx.q, event.story_id)
