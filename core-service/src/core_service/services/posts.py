"""Reading posts, likes and comments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import Comment, Like, Post, PostStatus, User
from core_service.schemas import CommentOut, PostOut
from core_service.services.errors import Forbidden, NotFound
from shared_lib.contracts import CORE
from shared_lib.contracts.messages import CommentAdded, CommentDeleted, PostLiked, PostUnliked
from shared_lib.outbox import publish_event


def post_out(post: Post, author_username: str) -> PostOut:
    return PostOut(
        id=post.id, author_id=post.author_id, author_username=author_username,
        content=post.content, image_url=post.image_url, hashtags=list(post.hashtags or []),
        like_count=post.like_count, comment_count=post.comment_count, status=post.status,
        rejection_reason=post.rejection_reason, created_at=post.created_at,
    )


async def load_post(session: AsyncSession, post_id: int) -> tuple[Post, str] | None:
    row = (await session.execute(
        select(Post, User.username).join(User, User.id == Post.author_id)
        .where(Post.id == post_id)
    )).first()
    return (row[0], row[1]) if row else None


async def visible_post(session: AsyncSession, post_id: int, viewer_id: int | None
                       ) -> tuple[Post, str]:
    """A post the viewer may see: published, or any status for its author."""
    loaded = await load_post(session, post_id)
    if loaded is None:
        raise NotFound("Post not found")
    post, _ = loaded
    if post.status != PostStatus.published and post.author_id != viewer_id:
        raise NotFound("Post not found")
    return loaded


@dataclass(frozen=True)
class LockedPost:
    id: int
    author_id: int


async def lock_published_post(session: AsyncSession, post_id: int) -> LockedPost:
    """Lock a published post's row: every change of its counters goes through here,
    so likes, comments and deletion of one post are serialised."""
    row = (await session.execute(
        select(Post.id, Post.author_id).where(Post.id == post_id,
                                              Post.status == PostStatus.published.value)
        .with_for_update()
    )).first()
    if row is None:
        raise NotFound("Post not found")
    return LockedPost(row.id, row.author_id)


async def _bump(session: AsyncSession, post_id: int, **deltas: Any) -> Any:
    values = {name: getattr(Post, name) + d for name, d in deltas.items()}
    return (await session.execute(
        update(Post).where(Post.id == post_id)
        .values(**values, version=Post.version + 1)
        .returning(Post.version, Post.like_count, Post.comment_count)
    )).one()


async def toggle_like(session: AsyncSession, user: User, post_id: int) -> tuple[bool, int]:
    post = await lock_published_post(session, post_id)
    inserted = await session.scalar(
        pg_insert(Like).values(post_id=post_id, user_id=user.id)
        .on_conflict_do_nothing().returning(Like.user_id))
    if inserted is None:
        await session.execute(delete(Like).where(Like.post_id == post_id,
                                                 Like.user_id == user.id))
    liked = inserted is not None
    row = await _bump(session, post_id, like_count=1 if liked else -1)
    event = PostLiked if liked else PostUnliked
    await publish_event(session, event(
        seq=row.version, post_id=post_id, post_author_id=post.author_id, user_id=user.id,
        username=user.username, like_count=row.like_count), source=CORE)
    return liked, row.like_count


def comment_out(comment: Comment, username: str) -> CommentOut:
    return CommentOut(id=comment.id, post_id=comment.post_id, author_id=comment.author_id,
                      author_username=username, content=comment.content,
                      created_at=comment.created_at)


async def add_comment(session: AsyncSession, user: User, post_id: int, content: str
                      ) -> CommentOut:
    post = await lock_published_post(session, post_id)
    comment = Comment(post_id=post_id, author_id=user.id, content=content)
    session.add(comment)
    await session.flush()
    row = await _bump(session, post_id, comment_count=1)
    await publish_event(session, CommentAdded(
        seq=row.version, comment_id=comment.id, post_id=post_id, post_author_id=post.author_id,
        author_id=user.id, author_username=user.username, content=content,
        comment_count=row.comment_count, created_at=comment.created_at), source=CORE)
    return comment_out(comment, user.username)


async def delete_comment(session: AsyncSession, user: User, comment_id: int) -> None:
    found = (await session.execute(
        select(Comment.post_id, Comment.author_id, Post.author_id.label("post_author_id"))
        .join(Post, Post.id == Comment.post_id).where(Comment.id == comment_id)
    )).first()
    if found is None:
        raise NotFound("Comment not found")
    if user.id not in (found.author_id, found.post_author_id):
        raise Forbidden("Not allowed to delete this comment")
    post = await lock_published_post(session, found.post_id)
    deleted = await session.scalar(delete(Comment).where(Comment.id == comment_id)
                                   .returning(Comment.id))
    if deleted is None:  # removed concurrently
        raise NotFound("Comment not found")
    row = await _bump(session, post.id, comment_count=-1)
    await publish_event(session, CommentDeleted(
        seq=row.version, comment_id=comment_id, post_id=post.id, post_author_id=post.author_id,
        author_id=found.author_id, comment_count=row.comment_count), source=CORE)


async def list_comments(session: AsyncSession, post_id: int, limit: int, offset: int
                        ) -> list[CommentOut]:
    rows = (await session.execute(
        select(Comment, User.username).join(User, User.id == Comment.author_id)
        .where(Comment.post_id == post_id)
        .order_by(Comment.created_at, Comment.id).limit(limit).offset(offset)
    )).all()
    return [comment_out(c, name) for c, name in rows]
