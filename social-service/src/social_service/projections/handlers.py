"""Projections of core's data, kept from core's events (queues
``social.events.projections`` and, for revoked login sessions,
``social.events.sessions``).

Each event carries ``seq`` (the version of its aggregate in core); an event
whose ``seq`` is not newer than what the projection holds is stale or a
duplicate and changes nothing, so any delivery order ends in the same state.
A post's counters each keep their own watermark (``likes_version``,
``comments_version``) since like and comment events carry one counter each.
A deleted post stays as a tombstone row (``published = false``) with its last
``seq``, so a late event never brings it back. Neither does a late follow or
publication bring back anything of a deleted user (see
:mod:`social_service.projections.tombstones`). The writes are in the projection
modules beside this one (:mod:`~social_service.projections.users`,
:mod:`~social_service.projections.posts`, :mod:`~social_service.projections.follows`...).
"""

from __future__ import annotations

from instasaga.messages import (
    CommentAdded,
    CommentDeleted,
    PostDeleted,
    PostLiked,
    PostPublished,
    PostUnliked,
    SessionRevoked,
    UserBlocked,
    UserDeleted,
    UserFollowed,
    UserRegistered,
    UserUnblocked,
    UserUnfollowed,
    UserUpdated,
)
from shared_lib.messaging.consumer import MessageContext, one_statement
from social_service.domain.mentions import extract_mentions
from social_service.handlers.registry import PROJECTIONS, SESSIONS, SUBSCRIPTIONS
from social_service.projections import blocks, follows, posts, sessions, users
from social_service.projections.tombstones import mark_user_deleted
from social_service.services import notifications


@SUBSCRIPTIONS.on(PROJECTIONS, UserRegistered, UserUpdated)
async def on_user_changed(ctx: MessageContext, event: UserRegistered | UserUpdated) -> None:
    await users.apply_change(ctx.session, event)


@SUBSCRIPTIONS.on(PROJECTIONS, UserDeleted)
async def on_user_deleted(ctx: MessageContext, event: UserDeleted) -> None:
    """Kept as an inactive, deleted tombstone at ``seq``: no older user event revives it."""
    await mark_user_deleted(ctx.session, event.user_id, event.seq)


@SUBSCRIPTIONS.on(PROJECTIONS, PostPublished)
@one_statement
async def on_post_published(ctx: MessageContext, event: PostPublished) -> None:
    """Publishes the post, or publishes it again when it is restored after a purge,
    and notifies the users it mentions (this is post.published's one consumer). The
    common case, a post indexed pending that mentions nobody, is one statement."""
    if not extract_mentions(event.content) and await posts.publish_claimed(ctx, event):
        return
    async with ctx.claimed_transaction() as new:
        if new:
            await posts.publish(ctx.q, event)
            await notifications.notify_post_mentions(ctx.q, event)


@SUBSCRIPTIONS.on(PROJECTIONS, PostDeleted)
async def on_post_deleted(ctx: MessageContext, event: PostDeleted) -> None:
    """The post stays as a tombstone; its hashtag links and notifications go."""
    await posts.mark_deleted(ctx.session, event.post_id, event.seq)


@SUBSCRIPTIONS.on(PROJECTIONS, PostLiked, PostUnliked)
@one_statement
async def on_like_changed(ctx: MessageContext, event: PostLiked | PostUnliked) -> None:
    await posts.set_like_count(ctx, event.post_id, event.seq, event.like_count)


@SUBSCRIPTIONS.on(PROJECTIONS, CommentAdded, CommentDeleted)
@one_statement
async def on_comment_changed(ctx: MessageContext, event: CommentAdded | CommentDeleted) -> None:
    await posts.set_comment_count(ctx, event.post_id, event.seq, event.comment_count)


@SUBSCRIPTIONS.on(PROJECTIONS, UserBlocked, UserUnblocked)
async def on_block_changed(ctx: MessageContext, event: UserBlocked | UserUnblocked) -> None:
    """The newest ``seq`` of a pair wins: duplicates and late, older events change
    nothing."""
    await blocks.apply(ctx.session, blocker_id=event.blocker_id, blocked_id=event.blocked_id,
                       blocks=isinstance(event, UserBlocked), seq=event.seq)


@SUBSCRIPTIONS.on(PROJECTIONS, UserFollowed, UserUnfollowed)
@one_statement
async def on_follow_changed(ctx: MessageContext, event: UserFollowed | UserUnfollowed) -> None:
    """A follow of or by a deleted user (queued when purge_user ran) changes
    nothing: core's user.unfollowed for that pair follows anyway."""
    await follows.apply_claimed(ctx, follower_id=event.follower_id,
                        followee_id=event.followee_id,
                        follows=isinstance(event, UserFollowed), seq=event.seq)


@SUBSCRIPTIONS.on(SESSIONS, SessionRevoked)
async def on_session_revoked(ctx: MessageContext, event: SessionRevoked) -> None:
    """core's revoked login sessions, on a queue of their own (``social.events.sessions``):
    a logout takes effect on social even while a backlog of projections waits."""
    await sessions.record(ctx.session, event)
