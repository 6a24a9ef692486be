"""Comments: adding and deleting one (with the post's exact counter and its event),
reading a post's comments, and the removal of the comments of an account being
deleted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.domain.posts import may_delete_comment
from core_service.models import Comment, Post, User
from core_service.services import audience, post_counters
from core_service.services.post_counters import change_locked_counters, lock_published_post
from core_service.services.posts import visible_post
from core_service.services.users import AccessToken
from instasaga.messages import CommentAdded, CommentDeleted
from instasaga.services import CORE
from shared_lib.database import Queries, Statement
from shared_lib.errors import Forbidden, NotFound
from shared_lib.outbox import publish_event, write_events


@dataclass(frozen=True)
class AuthoredComment:
    comment: Comment
    author_username: str


@dataclass(frozen=True)
class NewComment:
    id: int
    post_id: int
    author_id: int
    author_username: str
    content: str
    created_at: datetime


#: the comment and the post's counters, on a post locked by ``lock_for_contact``, with
#: the relation of the commenter to the post's author ($1 commenter, $2 author, $3 post,
#: $4 content)
_ADD = Statement("comments.add", f"""
    WITH {audience.RELATION_CTE},
    c AS (
        INSERT INTO comments (post_id, author_id, content) VALUES ($3, $1, $4)
        RETURNING id, created_at
    )
    UPDATE posts SET comment_count = comment_count + 1, version = version + 1
    WHERE id = $3
    RETURNING (SELECT id FROM c) AS id, (SELECT created_at FROM c) AS created_at,
              version, comment_count, {audience.RELATION_COLUMNS}""")


async def add_comment(q: Queries, token: AccessToken, post_id: int, content: str
                      ) -> NewComment:
    """Comment on a post. Three statements in the caller's transaction: the token and
    the locks, the comment with the counters and the block and privacy check (a
    refusal rolls the transaction back), the event."""
    locked = await post_counters.lock_for_contact(q, token, post_id)
    post = locked.post
    row = await q.fetchrow(_ADD, locked.user_id, post.author_id, post_id, content)
    assert row is not None  # the post is locked
    audience.require_contact_read(locked.user_id, post.author_id, row)
    comment = NewComment(id=row["id"], post_id=post_id, author_id=locked.user_id,
                         author_username=locked.username, content=content,
                         created_at=row["created_at"])
    await write_events(q, [CommentAdded(
        seq=row["version"], comment_id=comment.id, post_id=post_id,
        post_author_id=post.author_id, author_id=locked.user_id,
        author_username=locked.username, content=content,
        comment_count=row["comment_count"], created_at=comment.created_at)], source=CORE)
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
#: others and take each post's count of them off its counter ($1 user)
_REMOVE_COMMENTS_OF = Statement("comments.remove_comments_of", """
    WITH gone AS (
        DELETE FROM comments
        WHERE author_id = $1
          AND post_id NOT IN (SELECT id FROM posts WHERE author_id = $1)
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
    ORDER BY gone.post_id, gone.id""")


async def remove_comments_of(q: Queries, user_id: int) -> list[CommentDeleted]:
    """Delete a user's comments on the posts of others, whose counters go down,
    with a ``comment.deleted`` event to publish for each comment."""
    return [CommentDeleted(seq=r["version"], comment_id=r["id"], post_id=r["post_id"],
                           post_author_id=r["author_id"], author_id=user_id,
                           comment_count=r["comment_count"])
            for r in await q.fetch(_REMOVE_COMMENTS_OF, user_id)]
