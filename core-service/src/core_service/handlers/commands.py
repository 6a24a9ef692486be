"""Commands core-service handles as a saga participant. Each runs in the
consumer's transaction with its inbox record and its reply (see
shared_lib.saga.participant); raising CommandRejected answers ``rejected``."""

from __future__ import annotations

from typing import Any

from core_service.services import audience, stories
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


@handles_saga_command(SUBSCRIPTIONS, AuthorizeMessage, rejects_before_writing=True,
                      direct=True)
async def authorize_message(ctx: MessageContext, cmd: AuthorizeMessage) -> dict[str, Any]:
    standing = await audience.message_standing(ctx.q, cmd.sender_id, cmd.receiver_id)
    if not standing.sender_active:
        raise CommandRejected(AuthorizeMessageRefusal.sender_deactivated)
    if not standing.receiver_active:
        raise CommandRejected(AuthorizeMessageRefusal.receiver_not_found)
    if standing.blocked:
        raise CommandRejected(AuthorizeMessageRefusal.blocked)
    return {}


@handles_saga_command(SUBSCRIPTIONS, RecordStory, rejects_before_writing=True, direct=True)
async def record_story(ctx: MessageContext, cmd: RecordStory) -> dict[str, Any]:
    if not await stories.record_story(ctx.q, cmd.story_id, cmd.author_id, cmd.expires_at):
        raise CommandRejected(RecordStoryRefusal.author_deactivated)
    return {}


@handles_saga_command(SUBSCRIPTIONS, UnrecordStory, direct=True)
async def unrecord_story(ctx: MessageContext, cmd: UnrecordStory) -> dict[str, Any]:
    await stories.forget_story(ctx.q, cmd.story_id)
    return {}
