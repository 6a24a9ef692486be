"""delete_post saga (docs/sagas.md#delete_post).

1. core ``mark_deleting``: the post is hidden (status ``deleting``)
   (compensation ``restore``: published again, announced anew with
   ``post.published`` so social rebuilds whatever it had purged);
2. social ``purge_post``: hashtag links, post projection, notifications about
   the post (no compensation: the restore event above undoes it);
3. core ``delete_post``: the post, its comments and likes are deleted, the
   author's ``post_count`` decreases, event ``post.deleted``.

Rejected when social does not answer within the step deadline (after retries).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import delete, select, update

from core_service.domain.posts import PostStatus
from core_service.models import Post, User
from core_service.services import users
from shared_lib.contracts.messages import PostDeleted, PostPublished, PurgePost
from shared_lib.saga import LocalStep, RemoteStep, SagaContext, SagaDefinition, StepRejected

DELETE_POST = "delete_post"


class DeletePostRejection(StrEnum):
    not_published = "The post is not published"


async def mark_deleting(ctx: SagaContext) -> None:
    version = await ctx.session.scalar(
        update(Post)
        .where(Post.id == ctx.data["post_id"], Post.status == PostStatus.published.value)
        .values(status=PostStatus.deleting.value, version=Post.version + 1)
        .returning(Post.version))
    if version is None:
        raise StepRejected(DeletePostRejection.not_published)
    ctx.data["seq"] = version


async def restore(ctx: SagaContext) -> None:
    row = (await ctx.session.execute(
        update(Post)
        .where(Post.id == ctx.data["post_id"], Post.status == PostStatus.deleting.value)
        .values(status=PostStatus.published.value, version=Post.version + 1)
        .returning(Post)
    )).scalar_one_or_none()
    if row is None:
        return
    username = await ctx.session.scalar(select(User.username).where(User.id == row.author_id))
    await ctx.publish(PostPublished(
        seq=row.version, post_id=row.id, author_id=row.author_id,
        author_username=username or "", content=row.content, image_url=row.image_url,
        hashtags=list(row.hashtags or []), like_count=row.like_count,
        comment_count=row.comment_count, created_at=row.created_at))


def purge_command(d: dict[str, Any]) -> PurgePost:
    return PurgePost(post_id=d["post_id"], seq=d["seq"])


async def delete_post(ctx: SagaContext) -> None:
    row = (await ctx.session.execute(
        delete(Post).where(Post.id == ctx.data["post_id"],
                           Post.status == PostStatus.deleting.value)
        .returning(Post.author_id, Post.version)
    )).first()
    if row is None:  # already gone: nothing more to do
        return
    await users.change_post_count(ctx.session, row.author_id, -1)
    await ctx.publish(PostDeleted(seq=row.version + 1, post_id=ctx.data["post_id"],
                                  author_id=row.author_id))


def delete_post_saga() -> SagaDefinition:
    return SagaDefinition(
        type=DELETE_POST,
        description="Hide a post, purge it from social, then delete it",
        steps=(
            LocalStep("mark_deleting", mark_deleting, compensation=restore),
            RemoteStep("purge_post", purge_command),
            LocalStep("delete_post", delete_post),
        ),
    )
