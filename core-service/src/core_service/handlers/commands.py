"""Commands core-service handles as a saga participant. Each runs in the
consumer's transaction with its inbox record and its reply (see
shared_lib.messaging.consumer); raising CommandRejected answers ``rejected``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from core_service.models import StoryRecord, User
from shared_lib.contracts.messages import AuthorizeMessage, RecordStory, UnrecordStory
from shared_lib.messaging.consumer import CommandRejected, MessageContext


async def _active(ctx: MessageContext, user_id: int) -> bool | None:
    return await ctx.session.scalar(select(User.is_active).where(User.id == user_id))


async def authorize_message(ctx: MessageContext, cmd: AuthorizeMessage) -> dict[str, Any]:
    if not await _active(ctx, cmd.sender_id):
        raise CommandRejected("Sender is deactivated")
    if not await _active(ctx, cmd.receiver_id):
        raise CommandRejected("Receiver not found")
    return {}


async def record_story(ctx: MessageContext, cmd: RecordStory) -> dict[str, Any]:
    if not await _active(ctx, cmd.author_id):
        raise CommandRejected("Author is deactivated")
    await ctx.session.execute(
        pg_insert(StoryRecord)
        .values(story_id=cmd.story_id, author_id=cmd.author_id, expires_at=cmd.expires_at)
        .on_conflict_do_nothing()
    )
    return {}


async def unrecord_story(ctx: MessageContext, cmd: UnrecordStory) -> dict[str, Any]:
    await ctx.session.execute(delete(StoryRecord).where(StoryRecord.story_id == cmd.story_id))
    return {}
