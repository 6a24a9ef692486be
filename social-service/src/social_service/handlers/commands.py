"""Commands social-service handles as a saga participant (one transaction
each, with inbox record and reply; CommandRejected answers ``rejected``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from shared_lib.contracts.messages import IndexPostHashtags, PurgePost, UnindexPostHashtags
from shared_lib.messaging.consumer import CommandRejected, MessageContext
from social_service.domain.hashtags import normalise, rejection_reason
from social_service.handlers.projections import link_hashtags
from social_service.models import (
    POST_NOTIFICATION_TYPES,
    Notification,
    PostHashtag,
    PostProjection,
)
from social_service.settings import SocialSettings


async def index_post_hashtags(ctx: MessageContext, cmd: IndexPostHashtags, *,
                              settings: SocialSettings) -> dict[str, Any]:
    tags = normalise(cmd.hashtags)
    reason = rejection_reason(tags, max_count=settings.max_hashtags_per_post,
                              max_length=settings.max_hashtag_length,
                              banned=settings.banned_hashtag_set)
    if reason is not None:
        raise CommandRejected(reason)
    session = ctx.session
    await session.execute(
        pg_insert(PostProjection)
        .values(id=cmd.post_id, author_id=cmd.author_id, author_username=cmd.author_username,
                content=cmd.content, image_url=cmd.image_url, created_at=cmd.created_at,
                hashtags=tags, published=False, version=0)
        .on_conflict_do_nothing()
    )
    await link_hashtags(ctx, cmd.post_id, tags)
    return {"hashtags": tags}


async def unindex_post_hashtags(ctx: MessageContext, cmd: UnindexPostHashtags) -> dict[str, Any]:
    await ctx.session.execute(delete(PostHashtag).where(PostHashtag.post_id == cmd.post_id))
    await ctx.session.execute(
        delete(PostProjection).where(PostProjection.id == cmd.post_id,
                                     PostProjection.published.is_(False))
    )
    return {}


async def purge_post(ctx: MessageContext, cmd: PurgePost) -> dict[str, Any]:
    """Forget a post being deleted: hide its projection (kept as a tombstone at
    ``cmd.seq`` so that no older event brings it back) and drop its hashtag
    links. A projection newer than ``cmd.seq`` belongs to a restored post and
    is left alone."""
    purged = await ctx.session.scalar(
        update(PostProjection)
        .where(PostProjection.id == cmd.post_id, PostProjection.version <= cmd.seq)
        .values(published=False, version=cmd.seq)
        .returning(PostProjection.id))
    if purged is not None:
        await ctx.session.execute(delete(PostHashtag).where(PostHashtag.post_id == cmd.post_id))
        await ctx.session.execute(delete(Notification).where(
            Notification.reference_id == cmd.post_id,
            Notification.type.in_(POST_NOTIFICATION_TYPES)))
    return {"purged": purged is not None}
