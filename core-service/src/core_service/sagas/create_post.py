"""create_post saga (docs/sagas.md#create_post).

1. core ``insert_post``: the post is stored ``pending``
   (compensation: mark it ``rejected`` with the saga's reason);
2. social ``index_hashtags``: ``index_post_hashtags``
   (compensation: ``unindex_post_hashtags``);
3. core ``publish_post``: ``published``, author's ``post_count`` + 1, event
   ``post.published``; rejected when the author was deactivated or the post
   deleted meanwhile, which compensates step 2 then step 1.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Self

from core_service.domain.posts import PostStatus, extract_hashtags
from core_service.services import post_lifecycle
from instasaga.messages import IndexPostHashtags, PostPublished, UnindexPostHashtags
from shared_lib.saga import (
    LocalStep,
    RemoteStep,
    SagaContext,
    SagaData,
    SagaDefinition,
    StepRejected,
    made_by,
)

CREATE_POST = "create_post"


class CreatePostRejection(StrEnum):
    """Why ``publish_post`` refuses (social's ``index_hashtags`` has reasons of its own)."""

    post_deleted = "The post was deleted before it was published"
    author_deactivated = "The author's account is deactivated"


class CreatePostData(SagaData):
    """The post travels whole in ``index_post_hashtags`` (social keeps its own copy),
    so the saga keeps it whole."""

    author_id: int
    author_username: str
    content: str | None
    image_url: str | None
    hashtags: list[str]
    #: set by insert_post
    post_id: int | None = None
    created_at: datetime | None = None

    @classmethod
    def new(cls, author_id: int, author_username: str, content: str | None,
            image_url: str | None) -> Self:
        return cls(author_id=author_id, author_username=author_username, content=content,
                   image_url=image_url, hashtags=extract_hashtags(content))

    @property
    def post(self) -> int:
        return made_by(self.post_id, "insert_post")


Context = SagaContext[CreatePostData]


async def insert_post(ctx: Context) -> None:
    d = ctx.data
    d.post_id, d.created_at = await post_lifecycle.insert_pending(
        ctx.q, d.author_id, d.content, d.image_url, d.hashtags)


async def reject_post(ctx: Context) -> None:
    await post_lifecycle.reject_pending(ctx.q, ctx.data.post, ctx.reason)


def index_command(d: CreatePostData) -> IndexPostHashtags:
    return IndexPostHashtags(
        post_id=d.post, author_id=d.author_id, author_username=d.author_username,
        content=d.content, image_url=d.image_url, hashtags=d.hashtags,
        created_at=d.created_at,
    )


def unindex_command(d: CreatePostData) -> UnindexPostHashtags:
    return UnindexPostHashtags(post_id=d.post)


async def publish_post(ctx: Context) -> None:
    d = ctx.data
    found = await post_lifecycle.publish_pending(ctx.q, d.post)
    if found is None or found.pending.status != PostStatus.pending:
        raise StepRejected(CreatePostRejection.post_deleted)
    pending, post = found.pending, found.published
    if not pending.author_active:
        raise StepRejected(CreatePostRejection.author_deactivated)
    assert post is not None  # pending, its author active: published
    await ctx.publish(PostPublished(
        seq=post.version, post_id=d.post, author_id=d.author_id,
        author_username=pending.author_username, content=d.content,
        image_url=d.image_url, hashtags=d.hashtags, like_count=post.like_count,
        comment_count=post.comment_count, created_at=post.created_at,
    ))


def create_post_saga() -> SagaDefinition:
    return SagaDefinition(
        type=CREATE_POST,
        data=CreatePostData,
        description="Store a post pending, index its hashtags in social, publish it",
        steps=(
            LocalStep("insert_post", insert_post, compensation=reject_post, can_reject=False),
            RemoteStep("index_hashtags", index_command, compensation=unindex_command),
            # refuses after reading and locking, before writing
            LocalStep("publish_post", publish_post, rejects_before_writing=True),
        ),
    )
