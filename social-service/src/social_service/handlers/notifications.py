"""Notifications from core's events (queue ``social.events.notifications``).

Each notification has a ``dedupe_key`` naming the fact it reports, so the
same fact never notifies twice. Likes are the one fact that can be undone: a
like notification is hidden on unlike, and ``seq`` decides which of a like
and an unlike of the same post by the same user is the newer one.

Nothing notifies to or from a deleted user, nor about a deleted post (see
:mod:`social_service.projections.tombstones`). A fact about a post that is being
deleted (withdrawn) is recorded hidden and withdrawn, and shows if the post is
restored. Mentions in a post are notified by the projection of post.published
(one consumer per event). user.deleted, the last event about a user on this queue, removes
every notification to or from them. The reads and writes are in
:mod:`social_service.services.notifications`.
"""

from __future__ import annotations

from instasaga.messages import (
    CommentAdded,
    FollowAccepted,
    FollowRequested,
    PostLiked,
    PostUnliked,
    UserDeleted,
    UserFollowed,
)
from shared_lib.messaging.consumer import MessageContext, one_statement
from social_service.domain.mentions import extract_mentions
from social_service.handlers.registry import NOTIFICATIONS, SUBSCRIPTIONS
from social_service.models import NotificationType
from social_service.projections.tombstones import PostState, mark_user_deleted
from social_service.services.notifications import (
    delete_involving,
    involved,
    live_post,
    notify,
    notify_claimed,
    notify_mentions,
)


def _like_key(event: PostLiked | PostUnliked) -> str:
    return f"like:{event.post_id}:{event.user_id}"


@SUBSCRIPTIONS.on(NOTIFICATIONS, PostLiked)
@one_statement
async def on_post_liked(ctx: MessageContext, event: PostLiked) -> None:
    if event.user_id == event.post_author_id:
        return  # no notification for liking your own post
    await notify_claimed(ctx, involved=[event.user_id, event.post_author_id],
                         post_id=event.post_id, user_id=event.post_author_id,
                         actor_id=event.user_id, type_=NotificationType.like,
                         reference_id=event.post_id,
                         message=f"{event.username} liked your post",
                         dedupe_key=_like_key(event), seq=event.seq)


@SUBSCRIPTIONS.on(NOTIFICATIONS, PostUnliked)
@one_statement
async def on_post_unliked(ctx: MessageContext, event: PostUnliked) -> None:
    if event.user_id == event.post_author_id:
        return
    # recorded (hidden) even if the like was not seen yet, so a late like stays hidden
    await notify_claimed(ctx, involved=[event.user_id, event.post_author_id],
                         post_id=event.post_id, user_id=event.post_author_id,
                         actor_id=event.user_id, type_=NotificationType.like,
                         reference_id=event.post_id,
                         message=f"{event.username} liked your post",
                         dedupe_key=_like_key(event), seq=event.seq, hidden=True,
                         may_withdraw=False)


@SUBSCRIPTIONS.on(NOTIFICATIONS, CommentAdded)
@one_statement
async def on_comment_added(ctx: MessageContext, event: CommentAdded) -> None:
    message = f"{event.author_username} commented on your post: {event.content[:100]}"
    key = f"comment:{event.comment_id}"
    if not extract_mentions(event.content):  # the common case: one statement
        if event.author_id != event.post_author_id:
            await notify_claimed(ctx, involved=[event.author_id, event.post_author_id],
                                 post_id=event.post_id, user_id=event.post_author_id,
                                 actor_id=event.author_id, type_=NotificationType.comment,
                                 reference_id=event.post_id, message=message, dedupe_key=key)
        return
    async with ctx.claimed_transaction() as new:
        if not new:
            return
        mentioned = await involved(ctx.q, [event.author_id, event.post_author_id],
                                   event.content, actor_id=event.author_id)
        if mentioned is None or (state := await live_post(ctx.q, event.post_id)) is None:
            return
        if event.author_id != event.post_author_id:
            await notify(ctx.q, user_id=event.post_author_id, actor_id=event.author_id,
                         type_=NotificationType.comment, reference_id=event.post_id,
                         message=message, dedupe_key=key,
                         withdrawn=state == PostState.withdrawn)
        await notify_mentions(ctx.q, mentioned, actor_id=event.author_id,
                              actor_username=event.author_username, post_id=event.post_id,
                              where="a comment", key=key, state=state)


@SUBSCRIPTIONS.on(NOTIFICATIONS, UserFollowed)
@one_statement
async def on_user_followed(ctx: MessageContext, event: UserFollowed) -> None:
    await notify_claimed(ctx, involved=[event.follower_id, event.followee_id], post_id=None,
                         user_id=event.followee_id, actor_id=event.follower_id,
                         type_=NotificationType.follow, reference_id=event.follower_id,
                         message=f"{event.follower_username} started following you",
                         # one per pair: following again after an unfollow notifies nobody
                         dedupe_key=f"follow:{event.follower_id}:{event.followee_id}",
                         seq=event.seq)


@SUBSCRIPTIONS.on(NOTIFICATIONS, FollowRequested)
@one_statement
async def on_follow_requested(ctx: MessageContext, event: FollowRequested) -> None:
    await notify_claimed(ctx, involved=[event.requester_id, event.target_id], post_id=None,
                         user_id=event.target_id, actor_id=event.requester_id,
                         type_=NotificationType.follow_request,
                         reference_id=event.requester_id,
                         message=f"{event.requester_username} asked to follow you",
                         dedupe_key=f"follow_request:{event.requester_id}:{event.target_id}",
                         seq=event.seq)


@SUBSCRIPTIONS.on(NOTIFICATIONS, FollowAccepted)
@one_statement
async def on_follow_accepted(ctx: MessageContext, event: FollowAccepted) -> None:
    await notify_claimed(ctx, involved=[event.requester_id, event.target_id], post_id=None,
                         user_id=event.requester_id, actor_id=event.target_id,
                         type_=NotificationType.follow_accepted,
                         reference_id=event.target_id,
                         message=f"{event.target_username} accepted your follow request",
                         dedupe_key=f"follow_accepted:{event.requester_id}:{event.target_id}",
                         seq=event.seq)


@SUBSCRIPTIONS.on(NOTIFICATIONS, UserDeleted)
async def on_user_deleted(ctx: MessageContext, event: UserDeleted) -> None:
    """The user's tombstone (as on the projections queue, whichever comes first),
    then every notification to or from them goes, hidden ones too: an event
    handled here after this finds the tombstone and notifies nobody."""
    await mark_user_deleted(ctx.session, event.user_id, event.seq)
    await delete_involving(ctx.session, event.user_id)
