"""Projections of core's data, kept from core's events.

Each event carries ``seq`` (the version of its aggregate in core); an event
whose ``seq`` is not newer than what the projection holds is stale or a
duplicate and changes nothing, so any delivery order ends in the same state.
A post's counters each keep their own watermark (``likes_version``,
``comments_version``) since like and comment events carry one counter each.
A deleted post stays as a tombstone row (``published = false``) with its last
``seq``, so a late event never brings it back.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from shared_lib.contracts.messages import (
    CommentAdded,
    CommentDeleted,
    PostDeleted,
    PostLiked,
    PostPublished,
    PostUnliked,
    UserDeleted,
    UserFollowed,
    UserRegistered,
    UserUnfollowed,
    UserUpdated,
)
from shared_lib.messaging.consumer import MessageContext
from social_service.models import (
    FollowEdge,
    Hashtag,
    PostHashtag,
    PostProjection,
    UserProjection,
)


async def on_user_changed(ctx: MessageContext, event: UserRegistered | UserUpdated) -> None:
    values = {"username": event.username, "full_name": event.full_name,
              "profile_image_url": event.profile_image_url, "is_active": event.is_active,
              "version": event.seq}
    stmt = pg_insert(UserProjection).values(id=event.user_id, **values)
    await ctx.session.execute(
        stmt.on_conflict_do_update(
            index_elements=[UserProjection.id], set_=values,
            where=UserProjection.version < stmt.excluded.version,
        )
    )


async def on_user_deleted(ctx: MessageContext, event: UserDeleted) -> None:
    """Kept as an inactive tombstone at ``seq``: no older user event revives it."""
    values = {"is_active": False, "version": event.seq}
    stmt = pg_insert(UserProjection).values(id=event.user_id, username="", **values)
    await ctx.session.execute(stmt.on_conflict_do_update(
        index_elements=[UserProjection.id], set_=values,
        where=UserProjection.version < stmt.excluded.version))


async def link_hashtags(ctx: MessageContext, post_id: int, tags: list[str]) -> None:
    if not tags:
        return
    await ctx.session.execute(
        pg_insert(Hashtag).values([{"name": t} for t in tags])
        .on_conflict_do_nothing(index_elements=["name"]))
    ids = (await ctx.session.execute(select(Hashtag.id).where(Hashtag.name.in_(tags)))).scalars()
    await ctx.session.execute(
        pg_insert(PostHashtag).values([{"post_id": post_id, "hashtag_id": i} for i in ids])
        .on_conflict_do_nothing())


async def on_post_published(ctx: MessageContext, event: PostPublished) -> None:
    values = {"author_id": event.author_id, "author_username": event.author_username,
              "content": event.content, "image_url": event.image_url,
              "hashtags": event.hashtags, "created_at": event.created_at, "published": True,
              "version": event.seq}
    stmt = pg_insert(PostProjection).values(
        id=event.post_id, like_count=event.like_count, comment_count=event.comment_count,
        likes_version=event.seq, comments_version=event.seq, **values)
    applied = await ctx.session.scalar(
        stmt.on_conflict_do_update(
            index_elements=[PostProjection.id], set_=values,
            where=PostProjection.version < stmt.excluded.version,
        ).returning(PostProjection.id)
    )
    await _like_count(ctx, event.post_id, event.seq, event.like_count)
    await _comment_count(ctx, event.post_id, event.seq, event.comment_count)
    if applied is not None:
        # a post restored after a purge gets its hashtag links back
        await link_hashtags(ctx, event.post_id, event.hashtags)


async def on_post_deleted(ctx: MessageContext, event: PostDeleted) -> None:
    """The row stays as a tombstone at the event's ``seq``: older events about
    the post find it newer than themselves and change nothing."""
    deleted = await ctx.session.scalar(
        update(PostProjection)
        .where(PostProjection.id == event.post_id, PostProjection.version < event.seq)
        .values(published=False, version=event.seq)
        .returning(PostProjection.id))
    if deleted is not None:
        await ctx.session.execute(
            delete(PostHashtag).where(PostHashtag.post_id == event.post_id))


async def _like_count(ctx: MessageContext, post_id: int, seq: int, count: int) -> None:
    await ctx.session.execute(
        update(PostProjection)
        .where(PostProjection.id == post_id, PostProjection.likes_version < seq)
        .values(like_count=count, likes_version=seq))


async def _comment_count(ctx: MessageContext, post_id: int, seq: int, count: int) -> None:
    await ctx.session.execute(
        update(PostProjection)
        .where(PostProjection.id == post_id, PostProjection.comments_version < seq)
        .values(comment_count=count, comments_version=seq))


async def on_like_changed(ctx: MessageContext, event: PostLiked | PostUnliked) -> None:
    await _like_count(ctx, event.post_id, event.seq, event.like_count)


async def on_comment_changed(ctx: MessageContext, event: CommentAdded | CommentDeleted) -> None:
    await _comment_count(ctx, event.post_id, event.seq, event.comment_count)


async def on_follow_changed(ctx: MessageContext, event: UserFollowed | UserUnfollowed) -> None:
    values = {"active": isinstance(event, UserFollowed), "version": event.seq}
    stmt = pg_insert(FollowEdge).values(follower_id=event.follower_id,
                                        followee_id=event.followee_id, **values)
    await ctx.session.execute(
        stmt.on_conflict_do_update(
            index_elements=[FollowEdge.follower_id, FollowEdge.followee_id], set_=values,
            where=FollowEdge.version < stmt.excluded.version,
        )
    )
