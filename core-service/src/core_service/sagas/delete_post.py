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

from core_service.services import post_lifecycle
from instasaga.messages import PostDeleted, PostPublished, PurgePost
from shared_lib.saga import (
    LocalStep,
    RemoteStep,
    SagaContext,
    SagaData,
    SagaDefinition,
    StepRejected,
    made_by,
)

DELETE_POST = "delete_post"


class DeletePostRejection(StrEnum):
    not_published = "The post is not published"


class DeletePostData(SagaData):
    post_id: int
    #: the post's version once hidden (set by mark_deleting): the purge's order
    seq: int | None = None


Context = SagaContext[DeletePostData]


async def mark_deleting(ctx: Context) -> None:
    version = await post_lifecycle.mark_deleting(ctx.q, ctx.data.post_id)
    if version is None:
        raise StepRejected(DeletePostRejection.not_published)
    ctx.data.seq = version


async def restore(ctx: Context) -> None:
    post = await post_lifecycle.restore_deleting(ctx.q, ctx.data.post_id)
    if post is None:
        return
    await ctx.publish(PostPublished(
        seq=post.version, post_id=post.id, author_id=post.author_id,
        author_username=post.author_username, content=post.content,
        image_url=post.image_url, hashtags=post.hashtags,
        like_count=post.like_count, comment_count=post.comment_count,
        created_at=post.created_at))


def purge_command(d: DeletePostData) -> PurgePost:
    return PurgePost(post_id=d.post_id, seq=made_by(d.seq, "mark_deleting"))


async def delete_post(ctx: Context) -> None:
    deleted = await post_lifecycle.delete_deleting(ctx.q, ctx.data.post_id)
    if deleted is None:  # already gone: nothing more to do
        return
    await ctx.publish(PostDeleted(seq=deleted.version + 1, post_id=ctx.data.post_id,
                                  author_id=deleted.author_id))


def delete_post_saga() -> SagaDefinition:
    return SagaDefinition(
        type=DELETE_POST,
        data=DeletePostData,
        description="Hide a post, purge it from social, then delete it",
        steps=(
            LocalStep("mark_deleting", mark_deleting, compensation=restore),
            RemoteStep("purge_post", purge_command),
            LocalStep("delete_post", delete_post),
        ),
    )
