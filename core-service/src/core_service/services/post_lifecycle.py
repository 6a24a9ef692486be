"""A post's life, each transition of :data:`core_service.domain.posts.TRANSITIONS` one
guarded statement: created ``pending`` and then published or rejected (the
create_post saga), hidden while ``deleting`` and then deleted or restored (the
delete_post saga), a rejected post deleted at once, and every post of an account
being deleted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, Integer, bindparam, delete, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.domain.posts import (
    Deletion,
    PostAction,
    PostStatus,
    deletion_of,
    single,
    transition,
)
from core_service.models import Post, User
from core_service.services.posts import AuthoredPost, visible_post
from core_service.services.users import change_post_count
from shared_lib.errors import Conflict, Forbidden

CREATE, PUBLISH, REJECT = (single(a) for a in (PostAction.create, PostAction.publish,
                                               PostAction.reject))
MARK_DELETING, RESTORE = single(PostAction.mark_deleting), single(PostAction.restore)
DELETE_DELETING = transition(PostAction.delete, PostStatus.deleting)


async def delete_if_rejected(session: AsyncSession, user_id: int, post_id: int) -> bool:
    """Check that the user may delete the post now. A rejected post was never
    published, so social holds nothing about it: it is deleted here (True). A
    published post gives False: its deletion is the delete_post saga. A post
    still being created or deleted is a Conflict."""
    post = (await visible_post(session, post_id, user_id)).post
    if post.author_id != user_id:
        raise Forbidden("Not allowed to delete this post")
    status = PostStatus(post.status)
    match deletion_of(status):
        case Deletion.at_once:
            gone = transition(PostAction.delete, status)
            await session.execute(delete(Post).where(Post.id == post_id,
                                                     Post.status == gone.source))
            return True
        case Deletion.by_saga:
            return False
        case Deletion.conflict:
            raise Conflict(f"The post is {post.status}; try again when that is done")


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
            status=CREATE.target)
    .returning(_posts.c.id, _posts.c.created_at))
_REJECT_PENDING = (
    update(_posts)
    .where(_posts.c.id == bindparam("post_id"), _posts.c.status == REJECT.source)
    .values(status=REJECT.target, rejection_reason=bindparam("reason"),
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
        UPDATE posts SET status = '{PUBLISH.target}', published_at = created_at,
                         version = version + 1
        WHERE id = :post_id AND status = '{PUBLISH.source}'
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
        .where(Post.id == post_id, Post.status == MARK_DELETING.source)
        .values(status=MARK_DELETING.target, version=Post.version + 1)
        .returning(Post.version))


async def restore_deleting(session: AsyncSession, post_id: int) -> AuthoredPost | None:
    """Publish again a post whose deletion was given up (None: it is not being deleted)."""
    post = (await session.execute(
        update(Post)
        .where(Post.id == post_id, Post.status == RESTORE.source)
        .values(status=RESTORE.target, version=Post.version + 1)
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
        delete(Post).where(Post.id == post_id, Post.status == DELETE_DELETING.source)
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


