"""Commands social-service handles as a saga participant (one transaction
each, with inbox record and reply; CommandRejected answers ``rejected``)."""

from __future__ import annotations

from typing import Any

from instasaga.messages import IndexPostHashtags, PurgePost, PurgeUser, UnindexPostHashtags
from shared_lib.errors import BadRequest
from shared_lib.messaging.consumer import MessageContext
from shared_lib.saga.participant import CommandRejected, handles_saga_command
from social_service.handlers.registry import SUBSCRIPTIONS
from social_service.projections import posts
from social_service.projections.tombstones import any_user_deleted
from social_service.services import accounts


@handles_saga_command(SUBSCRIPTIONS, IndexPostHashtags, rejects_before_writing=True,
                      direct=True)
async def index_post_hashtags(ctx: MessageContext, cmd: IndexPostHashtags) -> dict[str, Any]:
    try:
        tags = await posts.index_pending(ctx.q, ctx.settings, cmd)
    except BadRequest as refused:
        raise CommandRejected(str(refused)) from None
    return {"hashtags": tags}


@handles_saga_command(SUBSCRIPTIONS, UnindexPostHashtags, direct=True)
async def unindex_post_hashtags(ctx: MessageContext, cmd: UnindexPostHashtags) -> dict[str, Any]:
    await posts.unindex_pending(ctx.q, cmd.post_id)
    return {}


@handles_saga_command(SUBSCRIPTIONS, PurgePost)
async def purge_post(ctx: MessageContext, cmd: PurgePost) -> dict[str, Any]:
    """Forget a post being deleted, until core restores it or deletes it
    (see :func:`social_service.projections.posts.purge`)."""
    return {"purged": await posts.purge(ctx.session, cmd.post_id, cmd.seq)}


async def user_purged(ctx: MessageContext, cmd: PurgeUser) -> dict[str, Any] | None:
    """A cancel probe of purge_user after the inbox forgot it: the user's tombstone
    says the purge ran (it is never undone)."""
    return {"purged_earlier": True} if await any_user_deleted(ctx.session, [cmd.user_id]) \
        else None


@handles_saga_command(SUBSCRIPTIONS, PurgeUser, applied=user_purged)
async def purge_user(ctx: MessageContext, cmd: PurgeUser) -> dict[str, Any]:
    """Forget a user whose account is being deleted (the saga's pivot; see
      :func:`social_service.services.accounts.purge`)."""
    purged = await accounts.purge(ctx.session, cmd.user_id, cmd.seq)
    return {"messages": purged.messages, "stories": purged.stories,
            "notifications": purged.notifications}
