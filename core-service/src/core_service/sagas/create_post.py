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
from typing import Any

from sqlalchemy import select, update

from core_service.domain.posts import PostStatus, extract_hashtags
from core_service.models import Post, User
from core_service.services import users
from shared_lib.contracts.messages import IndexPostHashtags, PostPublished, UnindexPostHashtags
from shared_lib.saga import LocalStep, RemoteStep, SagaContext, SagaDefinition, StepRejected

CREATE_POST = "create_post"


class CreatePostRejection(StrEnum):
    """Why ``publish_post`` refuses (social's ``index_hashtags`` has reasons of its own)."""

    post_deleted = "The post was deleted before it was published"
    author_deactivated = "The author's account is deactivated"


def create_post_data(author_id: int, author_username: str, content: str | None,
                     image_url: str | None) -> dict[str, Any]:
    return {"author_id": author_id, "content": content, "image_url": image_url,
            "hashtags": extract_hashtags(content), "author_username": author_username}


async def insert_post(ctx: SagaContext) -> None:
    d = ctx.data
    post = Post(author_id=d["author_id"], content=d["content"], image_url=d["image_url"],
                hashtags=d["hashtags"], status=PostStatus.pending.value)
    ctx.session.add(post)
    await ctx.session.flush()
    d["post_id"] = post.id
    d["created_at"] = post.created_at.isoformat() if post.created_at else None


async def reject_post(ctx: SagaContext) -> None:
    await ctx.session.execute(
        update(Post)
        .where(Post.id == ctx.data["post_id"], Post.status == PostStatus.pending.value)
        .values(status=PostStatus.rejected.value, rejection_reason=ctx.reason,
                version=Post.version + 1)
    )


def index_command(d: dict[str, Any]) -> IndexPostHashtags:
    return IndexPostHashtags(
        post_id=d["post_id"], author_id=d["author_id"], author_username=d["author_username"],
        content=d["content"], image_url=d["image_url"], hashtags=d["hashtags"],
        created_at=datetime.fromisoformat(d["created_at"]),
    )


def unindex_command(d: dict[str, Any]) -> UnindexPostHashtags:
    return UnindexPostHashtags(post_id=d["post_id"])


async def publish_post(ctx: SagaContext) -> None:
    d = ctx.data
    row = (await ctx.session.execute(
        select(Post.status, User.is_active, User.username)
        .join(User, User.id == Post.author_id)
        .where(Post.id == d["post_id"])
        .with_for_update(of=Post)
    )).first()
    if row is None or row.status != PostStatus.pending.value:
        raise StepRejected(CreatePostRejection.post_deleted)
    if not row.is_active:
        raise StepRejected(CreatePostRejection.author_deactivated)
    post = (await ctx.session.execute(
        update(Post).where(Post.id == d["post_id"])
        .values(status=PostStatus.published.value, published_at=Post.created_at,
                version=Post.version + 1)
        .returning(Post.version, Post.created_at, Post.like_count, Post.comment_count)
    )).one()
    await users.change_post_count(ctx.session, d["author_id"], 1)
    await ctx.publish(PostPublished(
        seq=post.version, post_id=d["post_id"], author_id=d["author_id"],
        author_username=row.username, content=d["content"], image_url=d["image_url"],
        hashtags=d["hashtags"], like_count=post.like_count, comment_count=post.comment_count,
        created_at=post.created_at,
    ))


def create_post_saga() -> SagaDefinition:
    return SagaDefinition(
        type=CREATE_POST,
        description="Store a post pending, index its hashtags in social, publish it",
        steps=(
            LocalStep("insert_post", insert_post, compensation=reject_post, can_reject=False),
            RemoteStep("index_hashtags", index_command, compensation=unindex_command),
            LocalStep("publish_post", publish_post),
        ),
    )
