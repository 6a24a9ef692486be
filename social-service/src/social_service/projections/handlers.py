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

An event that notifies someone and changes a projection has this one consumer,
which does both in one statement (or, when the event needs more, one
transaction): likes and comments with the post's counters, follows with the
follow edge, a post's mentions with its publication. Each such event is thus
delivered to social once and claimed once. The notifications of events that keep
no projection are in :mod:`social_service.handlers.notifications`.
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
from social_service.projections.tombstones import PostState, mark_user_deleted
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
    """The post's like count and the like's notification to the post's author
    (hidden by an unlike; none for a like of one's own post): one statement."""
    await posts.count_like(ctx, event)


@SUBSCRIPTIONS.on(PROJECTIONS, CommentAdded)
@one_statement
async def on_comment_added(ctx: MessageContext, event: CommentAdded) -> None:
    """The post's comment count and the comment's notification to the post's author
    (none for a comment of one's own): one statement. A comment that mentions users
    also notifies them: a transaction then (the users it involves and mentions FOR
    SHARE in id order, the counter, the post's state, the notifications)."""
    if not extract_mentions(event.content):  # the common case
        await posts.count_comment(ctx, event)
        return
    async with ctx.claimed_transaction() as new:
        if not new:
            return
        mentioned = await notifications.involved(
            ctx.q, [event.author_id, event.post_author_id], event.content,
            actor_id=event.author_id)
        await posts.set_comment_count_in(ctx.q, event.post_id, event.seq, event.comment_count)
        if mentioned is None or (state := await notifications.live_post(
                ctx.q, event.post_id)) is None:
            return
        notice = notifications.comment_notice(event)
        if notice.notifies:
            await notifications.notify(
                ctx.q, user_id=notice.user_id, actor_id=notice.actor_id, type_=notice.type,
                reference_id=notice.reference_id, message=notice.message,
                dedupe_key=notice.dedupe_key, withdrawn=state == PostState.withdrawn)
        await notifications.notify_mentions(
            ctx.q, mentioned, actor_id=event.author_id, actor_username=event.author_username,
            post_id=event.post_id, where="a comment", key=notice.dedupe_key, state=state)


@SUBSCRIPTIONS.on(PROJECTIONS, CommentDeleted)
@one_statement
async def on_comment_deleted(ctx: MessageContext, event: CommentDeleted) -> None:
    await posts.set_comment_count(ctx, event.post_id, event.seq, event.comment_count)


@SUBSCRIPTIONS.on(PROJECTIONS, UserBlocked, UserUnblocked)
async def on_block_changed(ctx: MessageContext, event: UserBlocked | UserUnblocked) -> None:
    """The newest ``seq`` of a pair wins: duplicates and late, older events change
    nothing."""
    await blocks.apply(ctx.session, blocker_id=event.blocker_id, blocked_id=event.blocked_id,
                       blocks=isinstance(event, UserBlocked), seq=event.seq)


@SUBSCRIPTIONS.on(PROJECTIONS, UserFollowed)
@one_statement
async def on_user_followed(ctx: MessageContext, event: UserFollowed) -> None:
    """The follow edge and the follow's notification, one statement. A follow of or
    by a deleted user (queued when purge_user ran) changes nothing: core's
    user.unfollowed for that pair follows anyway."""
    await follows.follow_claimed(ctx, event)


@SUBSCRIPTIONS.on(PROJECTIONS, UserUnfollowed)
@one_statement
async def on_user_unfollowed(ctx: MessageContext, event: UserUnfollowed) -> None:
    await follows.unfollow_claimed(ctx, event)


@SUBSCRIPTIONS.on(SESSIONS, SessionRevoked)
async def on_session_revoked(ctx: MessageContext, event: SessionRevoked) -> None:
    """core's revoked login sessions, on a queue of their own (``social.events.sessions``):
    a logout takes effect on social even while a backlog of projections waits."""
    await sessions.record(ctx.session, event)
