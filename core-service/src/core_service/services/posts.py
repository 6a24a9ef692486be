"""Posts: reading them, likes and comments with exact counters, what a deletion
checks first (the deletion of a published post is the delete_post saga), and
the removal of a deleted account's likes and comments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    bindparam,
    delete,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.domain.posts import PostStatus, is_visible, may_delete_comment
from core_service.models import Comment, Like, Post, User
from core_service.services import audience
from core_service.services.users import change_post_count, require_active
from shared_lib.contracts import CORE
from shared_lib.contracts.messages import CommentAdded, CommentDeleted, PostLiked, PostUnliked
from shared_lib.errors import Conflict, Forbidden, NotFound
from shared_lib.outbox import publish_event


@dataclass(frozen=True)
class AuthoredPost:
    post: Post
    author_username: str


@dataclass(frozen=True)
class AuthoredComment:
    comment: Comment
    author_username: str


async def _load_post(session: AsyncSession, post_id: int) -> AuthoredPost | None:
    row = (await session.execute(
        select(Post, User.username).join(User, User.id == Post.author_id)
        .where(Post.id == post_id)
    )).first()
    return AuthoredPost(row[0], row[1]) if row else None


async def visible_post(session: AsyncSession, post_id: int, viewer_id: int | None
                       ) -> AuthoredPost:
    """A post the viewer may see: published (and its author did not block them, and
    follows them if private), or any status for its author."""
    loaded = await _load_post(session, post_id)
    if loaded is None or not is_visible(loaded.post.status, loaded.post.author_id, viewer_id):
        raise NotFound("Post not found")
    await audience.require_post_access(session, viewer_id, loaded.post.author_id)
    return loaded


async def published_posts_of(session: AsyncSession, user_id: int, limit: int, offset: int
                             ) -> list[AuthoredPost]:
    """An active user's published posts, newest first."""
    await require_active(session, user_id)
    rows = (await session.execute(
        select(Post, User.username).join(User, User.id == Post.author_id)
        .where(Post.author_id == user_id, Post.status == PostStatus.published.value)
        .order_by(Post.created_at.desc(), Post.id.desc()).limit(limit).offset(offset)
    )).all()
    return [AuthoredPost(p, name) for p, name in rows]


async def delete_if_rejected(session: AsyncSession, user_id: int, post_id: int) -> bool:
    """Check that the user may delete the post now. A rejected post was never
    published, so social holds nothing about it: it is deleted here (True). A
    published post gives False: its deletion is the delete_post saga. A post
    still being created or deleted is a Conflict."""
    post = (await visible_post(session, post_id, user_id)).post
    if post.author_id != user_id:
        raise Forbidden("Not allowed to delete this post")
    if post.status == PostStatus.rejected:
        await session.execute(delete(Post).where(Post.id == post_id,
                                                 Post.status == PostStatus.rejected.value))
        return True
    if post.status != PostStatus.published:
        raise Conflict(f"The post is {post.status}; try again when that is done")
    return False


# ------------------------------------------------------------- create_post
# These run for every post created: each statement is built once, here, and executed
# with parameters (no statement building per post; the compiled form comes from
# SQLAlchemy's cache). They use the tables, not the mapped classes (an ORM insert
# executed with parameters would be a bulk insert).
_posts, _users = Post.__table__, User.__table__
_INSERT_PENDING = (
    insert(_posts)
    .values(author_id=bindparam("author_id"), content=bindparam("content"),
            image_url=bindparam("image_url"), hashtags=bindparam("hashtags"),
            status=PostStatus.pending.value)
    .returning(_posts.c.id, _posts.c.created_at))
_REJECT_PENDING = (
    update(_posts)
    .where(_posts.c.id == bindparam("post_id"), _posts.c.status == PostStatus.pending.value)
    .values(status=PostStatus.rejected.value, rejection_reason=bindparam("reason"),
            version=_posts.c.version + 1))
_LOCK_PENDING = (
    select(_posts.c.status, _users.c.is_active.label("author_active"),
           _users.c.username.label("author_username"))
    .join(_users, _users.c.id == _posts.c.author_id)
    .where(_posts.c.id == bindparam("post_id"))
    .with_for_update(of=_posts))
#: the post published and its author's post count, in one round trip
_PUBLISH = text(f"""
    WITH post AS (
        UPDATE posts SET status = '{PostStatus.published.value}', published_at = created_at,
                         version = version + 1
        WHERE id = :post_id
        RETURNING author_id, version, created_at, like_count, comment_count
    ), author AS (
        UPDATE users SET post_count = post_count + 1 WHERE id = (SELECT author_id FROM post)
    )
    SELECT version, created_at, like_count, comment_count FROM post
""").columns(version=Integer, created_at=DateTime(timezone=True), like_count=Integer,
             comment_count=Integer)


@dataclass(frozen=True)
class PendingPost:
    status: PostStatus
    author_active: bool
    author_username: str


@dataclass(frozen=True)
class PublishedPost:
    version: int
    created_at: datetime
    like_count: int
    comment_count: int


async def insert_pending(session: AsyncSession, author_id: int, content: str | None,
                         image_url: str | None, hashtags: list[str]) -> tuple[int, datetime]:
    """Store a post ``pending`` (a create_post saga runs); its id and creation time."""
    row = (await session.execute(_INSERT_PENDING, {
        "author_id": author_id, "content": content, "image_url": image_url,
        "hashtags": hashtags})).one()
    return row.id, row.created_at


async def reject_pending(session: AsyncSession, post_id: int, reason: str | None) -> None:
    """A pending post is refused: ``rejected``, with the reason its author will see."""
    await session.execute(_REJECT_PENDING, {"post_id": post_id, "reason": reason})


async def lock_pending(session: AsyncSession, post_id: int) -> PendingPost | None:
    """Lock a post (gone: None) and say whether it and its author may still publish."""
    row = (await session.execute(_LOCK_PENDING, {"post_id": post_id})).first()
    if row is None:
        return None
    return PendingPost(PostStatus(row.status), row.author_active, row.author_username)


async def publish_locked(session: AsyncSession, post_id: int) -> PublishedPost:
    """Publish a post locked by :func:`lock_pending`; its author's post count + 1."""
    row = (await session.execute(_PUBLISH, {"post_id": post_id})).one()
    return PublishedPost(row.version, row.created_at, row.like_count, row.comment_count)


# ------------------------------------------------------------- delete_post
async def mark_deleting(session: AsyncSession, post_id: int) -> int | None:
    """Hide a published post while a delete_post saga runs: its new version, or
    None when the post is not published (gone, pending, or being deleted)."""
    return await session.scalar(
        update(Post)
        .where(Post.id == post_id, Post.status == PostStatus.published.value)
        .values(status=PostStatus.deleting.value, version=Post.version + 1)
        .returning(Post.version))


async def restore_deleting(session: AsyncSession, post_id: int) -> AuthoredPost | None:
    """Publish again a post whose deletion was given up (None: it is not being deleted)."""
    post = (await session.execute(
        update(Post)
        .where(Post.id == post_id, Post.status == PostStatus.deleting.value)
        .values(status=PostStatus.published.value, version=Post.version + 1)
        .returning(Post)
    )).scalar_one_or_none()
    if post is None:
        return None
    username = await session.scalar(select(User.username).where(User.id == post.author_id))
    return AuthoredPost(post, username or "")


@dataclass(frozen=True)
class DeletedPost:
    author_id: int
    version: int


async def delete_deleting(session: AsyncSession, post_id: int) -> DeletedPost | None:
    """Delete a post being deleted (its comments and likes go with it) and lower its
    author's post count; None when it is already gone."""
    row = (await session.execute(
        delete(Post).where(Post.id == post_id, Post.status == PostStatus.deleting.value)
        .returning(Post.author_id, Post.version)
    )).first()
    if row is None:
        return None
    await change_post_count(session, row.author_id, -1)
    return DeletedPost(row.author_id, row.version)


async def delete_all_of(session: AsyncSession, author_id: int) -> list[tuple[int, int]]:
    """Delete every post of a user being deleted: ``(id, version)`` of each."""
    rows = (await session.execute(
        delete(Post).where(Post.author_id == author_id).returning(Post.id, Post.version)
    )).all()
    return [(r.id, r.version) for r in rows]


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


async def _change_counters(session: AsyncSession, post_id: int, *where: ColumnElement[bool],
                           **deltas: int) -> Any:
    """Add ``deltas`` to the post's counters, one version newer; the post's
    author, version and counters after, or None when no post matched."""
    values = {name: getattr(Post, name) + d for name, d in deltas.items()}
    return (await session.execute(
        update(Post).where(Post.id == post_id, *where)
        .values(**values, version=Post.version + 1)
        .returning(Post.author_id, Post.version, Post.like_count, Post.comment_count)
    )).first()


async def _change_locked_counters(session: AsyncSession, post: LockedPost, **deltas: int
                                  ) -> Any:
    row = await _change_counters(session, post.id, **deltas)
    if row is None:
        raise NotFound("Post not found")
    return row


async def toggle_like(session: AsyncSession, user: User, post_id: int) -> tuple[bool, int]:
    """Like the post, or take the like back; whether it is liked now, and its count."""
    post = await lock_published_post(session, post_id)
    await audience.require_post_access(session, user.id, post.author_id, contact=True)
    inserted = await session.scalar(
        pg_insert(Like).values(post_id=post_id, user_id=user.id)
        .on_conflict_do_nothing().returning(Like.user_id))
    if inserted is None:
        await session.execute(delete(Like).where(Like.post_id == post_id,
                                                 Like.user_id == user.id))
    liked = inserted is not None
    row = await _change_locked_counters(session, post, like_count=1 if liked else -1)
    event = PostLiked if liked else PostUnliked
    await publish_event(session, event(
        seq=row.version, post_id=post_id, post_author_id=post.author_id, user_id=user.id,
        username=user.username, like_count=row.like_count), source=CORE)
    return liked, row.like_count


async def add_comment(session: AsyncSession, user: User, post_id: int, content: str
                      ) -> Comment:
    post = await lock_published_post(session, post_id)
    await audience.require_post_access(session, user.id, post.author_id, contact=True)
    comment = Comment(post_id=post_id, author_id=user.id, content=content)
    session.add(comment)
    await session.flush()
    row = await _change_locked_counters(session, post, comment_count=1)
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
    row = await _change_locked_counters(session, post, comment_count=-1)
    await publish_event(session, CommentDeleted(
        seq=row.version, comment_id=comment_id, post_id=post.id, post_author_id=post.author_id,
        author_id=found.author_id, comment_count=row.comment_count), source=CORE)


async def comments(session: AsyncSession, viewer_id: int, post_id: int, limit: int,
                   offset: int) -> list[AuthoredComment]:
    """The comments of a post the viewer may see, oldest first."""
    await visible_post(session, post_id, viewer_id)
    rows = (await session.execute(
        select(Comment, User.username).join(User, User.id == Comment.author_id)
        .where(Comment.post_id == post_id)
        .order_by(Comment.created_at, Comment.id).limit(limit).offset(offset)
    )).all()
    return [AuthoredComment(c, name) for c, name in rows]


#: one statement however many likes: delete them, and take one off each liked post of
#: others (rows locked in id order, like every other multi-post change)
_REMOVE_LIKES_OF = text("""
WITH gone AS (
    DELETE FROM likes WHERE user_id = :user_id RETURNING post_id
), locked AS (
    SELECT p.id FROM posts p JOIN gone ON gone.post_id = p.id
    WHERE p.author_id <> :user_id ORDER BY p.id FOR UPDATE OF p
)
UPDATE posts SET like_count = posts.like_count - 1, version = posts.version + 1
FROM locked WHERE posts.id = locked.id
RETURNING posts.id, posts.author_id, posts.version, posts.like_count
""")

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


async def remove_likes_of(session: AsyncSession, user_id: int, username: str
                          ) -> list[PostUnliked]:
    """Delete every like of a user; the counters of the posts of others go down,
    each with the ``post.unliked`` event to publish (their own posts are being
    deleted with them)."""
    rows = (await session.execute(_REMOVE_LIKES_OF, {"user_id": user_id})).all()
    return [PostUnliked(seq=r.version, post_id=r.id, post_author_id=r.author_id,
                        user_id=user_id, username=username, like_count=r.like_count)
            for r in sorted(rows, key=lambda r: r.id)]


async def remove_comments_of(session: AsyncSession, user_id: int) -> list[CommentDeleted]:
    """Delete a user's comments on the posts of others, whose counters go down,
    with a ``comment.deleted`` event to publish for each comment."""
    rows = (await session.execute(_REMOVE_COMMENTS_OF, {"user_id": user_id})).all()
    return [CommentDeleted(seq=r.version, comment_id=r.id, post_id=r.post_id,
                           post_author_id=r.author_id, author_id=user_id,
                           comment_count=r.comment_count)
            for r in rows]
