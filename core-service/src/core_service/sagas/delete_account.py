"""delete_account saga (SPEC 5).

1. core ``deactivate``: ``is_active = false`` (the user's tokens are refused
   by core at once, and by social from the ``user.updated`` event or the
   purge, whichever comes first) (compensation ``reactivate``);
2. social ``purge_user``, the pivot (no compensation): their messages,
   stories, notifications to or about them, search entry, follow edges and
   the hashtag links of their posts;
3. core ``delete_user_data``: their likes and comments on other posts (those
   posts' counters corrected, with events), their follows (the other users'
   counters corrected), their posts, story records and the user; event
   ``user.deleted``.

When social does not answer within the deadline (after retries), core asks
it to cancel the purge (``saga.cancel``): the user is reactivated once social
confirms the purge will never run, or deleted if it already ran. Until then
the account stays deactivated: a late purge can never hit a reactivated user.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import delete, select, update

from core_service.models import Comment, Follow, Like, Post, StoryRecord, User
from shared_lib.contracts.messages import (
    CommentDeleted,
    PostDeleted,
    PostUnliked,
    PurgeUser,
    UserDeleted,
    UserUpdated,
)
from shared_lib.saga import LocalStep, RemoteStep, SagaContext, SagaDefinition, StepRejected

DELETE_ACCOUNT = "delete_account"


def _user_event(user: Any) -> UserUpdated:
    return UserUpdated(seq=user.version, user_id=user.id, username=user.username,
                       full_name=user.full_name, bio=user.bio,
                       profile_image_url=user.profile_image_url, is_active=user.is_active)


async def _set_active(ctx: SagaContext, active: bool) -> Any:
    return (await ctx.session.execute(
        update(User).where(User.id == ctx.data["user_id"], User.is_active.is_(not active))
        .values(is_active=active, version=User.version + 1)
        .returning(User.id, User.username, User.full_name, User.bio, User.profile_image_url,
                   User.is_active, User.version))).first()


async def deactivate(ctx: SagaContext) -> None:
    user = await _set_active(ctx, False)
    if user is None:
        raise StepRejected("The account is already being deleted")
    ctx.data["seq"] = user.version
    await ctx.publish(_user_event(user))


async def reactivate(ctx: SagaContext) -> None:
    user = await _set_active(ctx, True)
    if user is not None:
        await ctx.publish(_user_event(user))


def purge_command(d: dict[str, Any]) -> PurgeUser:
    return PurgeUser(user_id=d["user_id"], seq=d["seq"])


async def _uncount_likes(ctx: SagaContext, uid: int) -> None:
    post_ids = (await ctx.session.execute(
        delete(Like).where(Like.user_id == uid).returning(Like.post_id))).scalars().all()
    for post_id in sorted(post_ids):
        post = (await ctx.session.execute(
            update(Post).where(Post.id == post_id, Post.author_id != uid)
            .values(like_count=Post.like_count - 1, version=Post.version + 1)
            .returning(Post.author_id, Post.like_count, Post.version))).first()
        if post is not None:
            await ctx.publish(PostUnliked(seq=post.version, post_id=post_id,
                                          post_author_id=post.author_id, user_id=uid,
                                          username=ctx.data["username"],
                                          like_count=post.like_count))


async def _uncount_comments(ctx: SagaContext, uid: int) -> None:
    removed = (await ctx.session.execute(
        delete(Comment)
        .where(Comment.author_id == uid,
               Comment.post_id.not_in(select(Post.id).where(Post.author_id == uid)))
        .returning(Comment.id, Comment.post_id))).all()
    per_post = Counter(r.post_id for r in removed)
    for post_id in sorted(per_post):
        post = (await ctx.session.execute(
            update(Post).where(Post.id == post_id)
            .values(comment_count=Post.comment_count - per_post[post_id],
                    version=Post.version + 1)
            .returning(Post.author_id, Post.comment_count, Post.version))).one()
        for r in removed:
            if r.post_id == post_id:
                await ctx.publish(CommentDeleted(
                    seq=post.version, comment_id=r.id, post_id=post_id,
                    post_author_id=post.author_id, author_id=uid,
                    comment_count=post.comment_count))


async def _unfollow_all(ctx: SagaContext, uid: int) -> None:
    followees = (await ctx.session.execute(
        delete(Follow).where(Follow.follower_id == uid).returning(Follow.followee_id)
    )).scalars().all()
    followers = (await ctx.session.execute(
        delete(Follow).where(Follow.followee_id == uid).returning(Follow.follower_id)
    )).scalars().all()
    if followees:
        await ctx.session.execute(update(User).where(User.id.in_(followees))
                                  .values(follower_count=User.follower_count - 1))
    if followers:
        await ctx.session.execute(update(User).where(User.id.in_(followers))
                                  .values(following_count=User.following_count - 1))


async def delete_user_data(ctx: SagaContext) -> None:
    uid = ctx.data["user_id"]
    seq = await ctx.session.scalar(select(User.version).where(User.id == uid)
                                   .with_for_update())
    if seq is None:
        return  # already deleted
    await _uncount_likes(ctx, uid)
    await _uncount_comments(ctx, uid)
    await _unfollow_all(ctx, uid)
    posts = (await ctx.session.execute(
        delete(Post).where(Post.author_id == uid).returning(Post.id, Post.version))).all()
    for post in posts:
        await ctx.publish(PostDeleted(seq=post.version + 1, post_id=post.id, author_id=uid))
    await ctx.session.execute(delete(StoryRecord).where(StoryRecord.author_id == uid))
    await ctx.session.execute(delete(User).where(User.id == uid))
    await ctx.publish(UserDeleted(seq=seq + 1, user_id=uid))


def delete_account_saga() -> SagaDefinition:
    return SagaDefinition(
        type=DELETE_ACCOUNT,
        description="Deactivate a user, purge them from social, delete their data",
        steps=(
            LocalStep("deactivate", deactivate, compensation=reactivate),
            # the pivot: never purge after a reactivation (see RemoteStep)
            RemoteStep("purge_user", purge_command, cancel_on_timeout=True),
            LocalStep("delete_user_data", delete_user_data),
        ),
    )
