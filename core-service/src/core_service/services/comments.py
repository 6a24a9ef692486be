"""Comments: adding and deleting one (with the post's exact counter and its event),
reading a post's comments, and the removal of the comments of an account being
deleted."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.domain.posts import may_delete_comment
from core_service.models import Comment, Post, User
from core_service.services import audience
from core_service.services.post_counters import change_locked_counters, lock_published_post
from core_service.services.posts import visible_post
from instasaga.messages import CommentAdded, CommentDeleted
from instasaga.services import CORE
from shared_lib.errors import Forbidden, NotFound
from shared_lib.outbox import publish_event


@dataclass(frozen=True)
class AuthoredComment:
    comment: Comment
    author_username: str


async def add_comment(session: AsyncSession, user: User, post_id: int, content: str
                      ) -> Comment:
    post = await lock_published_post(session, post_id)
    await audience.require_post_access(session, user.id, post.author_id, contact=True)
    comment = Comment(post_id=post_id, author_id=user.id, content=content)
    session.add(comment)
    await session.flush()
    row = await change_locked_counters(session, post, comment_count=1)
    await publish_event(session, CommentAdded(
        seq=row.version, comment_id=comment.id, post_id=post_id, post_author_id=post.author_id,
        author_id=user.id, author_username=user.username, content=content,
        comment_count=row.comment_count, created_at=comment.created_at), source=CORE)
    return comment


async def delete_comment(session: AsyncSession, user: User, comment_id: int) -> None:
    found = (await session.execute(
        select(Comment.post_id, Comment.author_id, Post.author_id.label("post_author_id"))
        .join(Post, Post.id == Comment.post_id).where(Comment.id == comment_id)
    )).first()
    if found is None:
        raise NotFound("Comment not found")
    if not may_delete_comment(user.id, found.author_id, found.post_author_id):
        raise Forbidden("Not allowed to delete this comment")
    post = await lock_published_post(session, found.post_id)
    deleted = await session.scalar(delete(Comment).where(Comment.id == comment_id)
                                   .returning(Comment.id))
    if deleted is None:  # removed concurrently
        raise NotFound("Comment not found")
    row = await change_locked_counters(session, post, comment_count=-1)
    await publish_event(session, CommentDeleted(
        seq=row.version, comment_id=comment_id, post_id=post.id, post_author_id=post.author_id,
        author_id=found.author_id, comment_count=row.comment_count), source=CORE)


async def of_post(session: AsyncSession, viewer_id: int, post_id: int, limit: int,
                   offset: int) -> list[AuthoredComment]:
    """The comments of a post the viewer may see, oldest first."""
    await visible_post(session, post_id, viewer_id)
    rows = (await session.execute(
        select(Comment, User.username).join(User, User.id == Comment.author_id)
        .where(Comment.post_id == post_id)
        .order_by(Comment.created_at, Comment.id).limit(limit).offset(offset)
    )).all()
    return [AuthoredComment(c, name) for c, name in rows]


#: one statement however many comments: delete a user's comments on the posts of
#: others and take each post's count of them off its counter
_REMOVE_COMMENTS_OF = text("""
WITH gone AS (
    DELETE FROM comments
    WHERE author_id = :user_id
      AND post_id NOT IN (SELECT id FROM posts WHERE author_id = :user_id)
    RETURNING id, post_id
), per_post AS (
    SELECT post_id, count(*) AS n FROM gone GROUP BY post_id
), locked AS (
    SELECT p.id, per_post.n FROM posts p JOIN per_post ON per_post.post_id = p.id
    ORDER BY p.id FOR UPDATE OF p
), changed AS (
    UPDATE posts SET comment_count = posts.comment_count - locked.n,
                     version = posts.version + 1
    FROM locked WHERE posts.id = locked.id
    RETURNING posts.id, posts.author_id, posts.version, posts.comment_count
)
SELECT gone.id, gone.post_id, changed.author_id, changed.version, changed.comment_count
FROM gone JOIN changed ON changed.id = gone.post_id
ORDER BY gone.post_id, gone.id
""")


async def remove_comments_of(session: AsyncSession, user_id: int) -> list[CommentDeleted]:
    """Delete a user's comments on the posts of others, whose counters go down,
    with a ``comment.deleted`` event to publish for each comment."""
    rows = (await session.execute(_REMOVE_COMMENTS_OF, {"user_id": user_id})).all()
    return [CommentDeleted(seq=r.version, comment_id=r.id, post_id=r.post_id,
                           post_author_id=r.author_id, author_id=user_id,
                           comment_count=r.comment_count)
            for r in rows]
