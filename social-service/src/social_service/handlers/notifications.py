"""Notifications from core's events (queue ``social.events.notifications``).

Each notification has a ``dedupe_key`` naming the fact it reports, so the
same fact never notifies twice. Likes are the one fact that can be undone: a
like notification is hidden on unlike, and ``seq`` decides which of a like
and an unlike of the same post by the same user is the newer one.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared_lib.contracts.messages import (
    CommentAdded,
    PostLiked,
    PostPublished,
    PostUnliked,
    UserFollowed,
)
from shared_lib.messaging.consumer import MessageContext
from social_service.domain.mentions import extract_mentions
from social_service.models import (
    Notification,
    NotificationType,
    PostProjection,
    UserProjection,
)


async def notify(session: AsyncSession, *, user_id: int, actor_id: int, type_: NotificationType,
                 reference_id: int | None, message: str, dedupe_key: str, seq: int = 0,
                 hidden: bool = False) -> None:
    """Create (or, for a newer ``seq``, update) the notification of one fact."""
    values = {"user_id": user_id, "actor_id": actor_id, "type": type_.value,
              "reference_id": reference_id, "message": message, "seq": seq,
              "hidden": hidden}
    stmt = pg_insert(Notification).values(dedupe_key=dedupe_key, **values)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=[Notification.dedupe_key],
        set_={"hidden": stmt.excluded.hidden, "seq": stmt.excluded.seq,
              "message": stmt.excluded.message},
        where=Notification.seq < stmt.excluded.seq,
    ))


async def _notify_mentions(ctx: MessageContext, text: str | None, *, actor_id: int,
                           actor_username: str, post_id: int, where: str, key: str) -> None:
    names = extract_mentions(text)
    if not names:
        return
    users = (await ctx.session.execute(
        select(UserProjection.id, UserProjection.username)
        .where(func.lower(UserProjection.username).in_(names), UserProjection.is_active)
    )).all()
    for user in users:
        if user.id == actor_id:
            continue
        await notify(ctx.session, user_id=user.id, actor_id=actor_id,
                     type_=NotificationType.mention, reference_id=post_id,
                     message=f"{actor_username} mentioned you in {where}",
                     dedupe_key=f"mention:{key}:{user.id}")


async def on_post_published(ctx: MessageContext, event: PostPublished) -> None:
    await _notify_mentions(ctx, event.content, actor_id=event.author_id,
                           actor_username=event.author_username, post_id=event.post_id,
                           where="a post", key=f"post:{event.post_id}")


def _like_key(event: PostLiked | PostUnliked) -> str:
    return f"like:{event.post_id}:{event.user_id}"


async def _post_gone(ctx: MessageContext, post_id: int) -> bool:
    """Whether the post was purged or deleted. The row is read FOR SHARE, so a
    purge running now finishes first (and this event then notifies nobody)."""
    row = (await ctx.session.execute(
        select(PostProjection.id).where(PostProjection.id == post_id,
                                        PostProjection.is_tombstone())
        .with_for_update(read=True))).first()
    return row is not None


async def on_post_liked(ctx: MessageContext, event: PostLiked) -> None:
    if event.user_id == event.post_author_id or await _post_gone(ctx, event.post_id):
        return  # no notification for liking your own post, nor about a deleted one
    await notify(ctx.session, user_id=event.post_author_id, actor_id=event.user_id,
                 type_=NotificationType.like, reference_id=event.post_id,
                 message=f"{event.username} liked your post", dedupe_key=_like_key(event),
                 seq=event.seq)


async def on_post_unliked(ctx: MessageContext, event: PostUnliked) -> None:
    if event.user_id == event.post_author_id:
        return
    # recorded (hidden) even if the like was not seen yet, so a late like stays hidden
    await notify(ctx.session, user_id=event.post_author_id, actor_id=event.user_id,
                 type_=NotificationType.like, reference_id=event.post_id,
                 message=f"{event.username} liked your post", dedupe_key=_like_key(event),
                 seq=event.seq, hidden=True)


async def on_comment_added(ctx: MessageContext, event: CommentAdded) -> None:
    if await _post_gone(ctx, event.post_id):
        return
    if event.author_id != event.post_author_id:
        await notify(ctx.session, user_id=event.post_author_id, actor_id=event.author_id,
                     type_=NotificationType.comment, reference_id=event.post_id,
                     message=f"{event.author_username} commented on your post: "
                             f"{event.content[:100]}",
                     dedupe_key=f"comment:{event.comment_id}")
    await _notify_mentions(ctx, event.content, actor_id=event.author_id,
                           actor_username=event.author_username, post_id=event.post_id,
                           where="a comment", key=f"comment:{event.comment_id}")


async def on_user_followed(ctx: MessageContext, event: UserFollowed) -> None:
    await notify(ctx.session, user_id=event.followee_id, actor_id=event.follower_id,
                 type_=NotificationType.follow, reference_id=event.follower_id,
                 message=f"{event.follower_username} started following you",
                 dedupe_key=f"follow:{event.follower_id}:{event.followee_id}:{event.seq}")
