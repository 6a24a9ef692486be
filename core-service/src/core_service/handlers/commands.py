"""Commands core-service handles as a saga participant. Each runs in the
consumer's transaction with its inbox record and its reply (see
shared_lib.saga.participant); raising CommandRejected answers ``rejected``."""

from __future__ import annotations

from typing import Any

from core_service.services import audience, stories, users
from instasaga.messages import (
    AuthorizeMessage,
    AuthorizeMessageRefusal,
    RecordStory,
    RecordStoryRefusal,
    UnrecordStory,
)
from shared_lib.messaging.consumer import MessageContext
from shared_lib.saga.participant import CommandRejected, handles_saga_command

from .registry import SUBSCRIPTIONS


@handles_saga_command(SUBSCRIPTIONS, AuthorizeMessage, rejects_before_writing=True)
async def authorize_message(ctx: MessageContext, cmd: AuthorizeMessage) -> dict[str, Any]:
    if not await users.is_active(ctx.session, cmd.sender_id):
        raise CommandRejected(AuthorizeMessageRefusal.sender_deactivated)
    if not await users.is_active(ctx.session, cmd.receiver_id):
        raise CommandRejected(AuthorizeMessageRefusal.receiver_not_found)
    if await audience.blocked_between(ctx.session, cmd.sender_id, cmd.receiver_id):
        raise CommandRejected(AuthorizeMessageRefusal.blocked)
    return {}


@handles_saga_command(SUBSCRIPTIONS, RecordStory, rejects_before_writing=True)
async def record_story(ctx: MessageContext, cmd: RecordStory) -> dict[str, Any]:
    if not await users.is_active(ctx.session, cmd.author_id):
        raise CommandRejected(RecordStoryRefusal.author_deactivated)
    await stories.record_story(ctx.session, cmd.story_id, cmd.author_id, cmd.expires_at)
    return {}


@handles_saga_command(SUBSCRIPTIONS, UnrecordStory)
async def unrecord_story(ctx: MessageContext, cmd: UnrecordStory) -> dict[str, Any]:
    await stories.forget_story(ctx.session, cmd.story_id)
    return {}
