"""Commands social-service handles as a saga participant (one transaction
each, with inbox record and reply; CommandRejected answers ``rejected``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from shared_lib.contracts.messages import (
    IndexPostHashtags,
    PurgePost,
    PurgeUser,
    UnindexPostHashtags,
)
from shared_lib.messaging.consumer import CommandRejected, MessageContext
from social_service.domain.hashtags import normalise, rejection_reason
from social_service.handlers.projections import link_hashtags
from social_service.models import (
    POST_NOTIFICATION_TYPES,
    FollowEdge,
    Message,
    Notification,
    PostHashtag,
    PostProjection,
    Story,
    UserProjection,
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


async def purge_user(ctx: MessageContext, cmd: PurgeUser) -> dict[str, Any]:
    """Forget a user whose account is being deleted (the saga's pivot): their
    messages, stories, notifications to or about them, search entry (kept as an
    inactive tombstone), follow edges (kept inactive) and their posts' hashtag
    links (the posts hidden until core's post.deleted events)."""
    s, uid = ctx.session, cmd.user_id
    stmt = pg_insert(UserProjection).values(id=uid, username="", is_active=False,
                                            version=cmd.seq)
    await s.execute(stmt.on_conflict_do_update(
        index_elements=[UserProjection.id],
        set_={"is_active": False,
              "version": func.greatest(UserProjection.version, stmt.excluded.version)}))
    posts = select(PostProjection.id).where(PostProjection.author_id == uid)
    await s.execute(delete(PostHashtag).where(PostHashtag.post_id.in_(posts)))
    await s.execute(delete(Notification).where(
        Notification.type.in_(POST_NOTIFICATION_TYPES), Notification.reference_id.in_(posts)))
    await s.execute(update(PostProjection).where(PostProjection.author_id == uid)
                    .values(published=False))
    messages = await s.execute(delete(Message).where(
        or_(Message.sender_id == uid, Message.receiver_id == uid)))
    stories = await s.execute(delete(Story).where(Story.author_id == uid))
    notes = await s.execute(delete(Notification).where(
        or_(Notification.user_id == uid, Notification.actor_id == uid)))
    await s.execute(update(FollowEdge)
                    .where(or_(FollowEdge.follower_id == uid, FollowEdge.followee_id == uid))
                    .values(active=False))
    return {"messages": messages.rowcount, "stories": stories.rowcount,  # type: ignore[attr-defined]
            "notifications": notes.rowcount}  # type: ignore[attr-defined]
