"""A post's life, each transition of :data:`core_service.domain.posts.TRANSITIONS` one
guarded statement: created ``pending`` and then published or rejected (the
create_post saga), hidden while ``deleting`` and then deleted or restored (the
delete_post saga), a rejected post deleted at once, and every post of an account
being deleted.

The saga steps' transitions run on the direct data path (:mod:`shared_lib.database`):
each a :class:`Statement` built once here from the transitions, one round trip."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.domain.posts import (
    Deletion,
    PostAction,
    PostStatus,
    deletion_of,
    single,
    transition,
)
from core_service.models import Post
from core_service.services.posts import visible_post
from shared_lib.database import Queries, Statement
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
# These run for every post created: each statement is built once, here, from the
# transitions, and executed with parameters.
_INSERT_PENDING = Statement("posts.insert_pending", f"""
    INSERT INTO posts (author_id, content, image_url, hashtags, status)
    VALUES ($1, $2, $3, $4, '{CREATE.target}')
    RETURNING id, created_at""")
#: ($1 post, $2 reason)
_REJECT_PENDING = Statement("posts.reject_pending", f"""
    UPDATE posts SET status = '{REJECT.target}', rejection_reason = $2,
                     version = version + 1
    WHERE id = $1 AND status = '{REJECT.source}'""")
#: the post locked (FOR UPDATE) with what says whether it may still publish, and, when
#: it may (pending, its author active), published with its author's post count + 1:
#: one round trip. A post that may not publish is only read and locked, so that the
#: step rejects before writing. The post's row is locked first, then the author's
#: (the author's UPDATE reads the post's). ($1 post)
_PUBLISH_PENDING = Statement("posts.publish_pending", f"""
    WITH locked AS MATERIALIZED (
        SELECT p.status, u.is_active AS author_active, u.username AS author_username
        FROM posts p JOIN users u ON u.id = p.author_id
        WHERE p.id = $1
        FOR UPDATE OF p
    ), post AS (
        UPDATE posts SET status = '{PUBLISH.target}', published_at = created_at,
                         version = version + 1
        WHERE id = $1 AND status = '{PUBLISH.source}'
          AND (SELECT author_active FROM locked)
        RETURNING author_id, version, created_at, like_count, comment_count
    ), author AS (
        UPDATE users SET post_count = post_count + 1 WHERE id = (SELECT author_id FROM post)
    )
    SELECT locked.*, post.version, post.created_at, post.like_count, post.comment_count
    FROM locked LEFT JOIN post ON true""")


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


async def insert_pending(q: Queries, author_id: int, content: str | None,
                         image_url: str | None, hashtags: list[str]) -> tuple[int, datetime]:
    """Store a post ``pending`` (a create_post saga runs); its id and creation time."""
    row = await q.fetchrow(_INSERT_PENDING, author_id, content, image_url, hashtags)
    assert row is not None  # an INSERT ... RETURNING of one row
    return row["id"], row["created_at"]


async def reject_pending(q: Queries, post_id: int, reason: str | None) -> None:
    """A pending post is refused: ``rejected``, with the reason its author will see."""
    await q.execute(_REJECT_PENDING, post_id, reason)


@dataclass(frozen=True)
class Publication:
    """What :func:`publish_pending` found (the post locked) and did."""

    pending: PendingPost
    #: None: not published (not pending, or its author deactivated), nothing written
    published: PublishedPost | None


async def publish_pending(q: Queries, post_id: int) -> Publication | None:
    """Lock the post (gone: None) and publish it if it is pending and its author
    active, with its author's post count + 1 (one statement); otherwise nothing is
    written, and what was found says why."""
    row = await q.fetchrow(_PUBLISH_PENDING, post_id)
    if row is None:
        return None
    pending = PendingPost(PostStatus(row["status"]), row["author_active"],
                          row["author_username"])
    published = None if row["version"] is None else PublishedPost(
        row["version"], row["created_at"], row["like_count"], row["comment_count"])
    return Publication(pending, published)


# ------------------------------------------------------------- delete_post
_MARK_DELETING = Statement("posts.mark_deleting", f"""
    UPDATE posts SET status = '{MARK_DELETING.target}', version = version + 1
    WHERE id = $1 AND status = '{MARK_DELETING.source}'
    RETURNING version""")
#: the post published again, with its author's username (the author's row is not
#: locked: a username never changes)
_RESTORE = Statement("posts.restore", f"""
    UPDATE posts SET status = '{RESTORE.target}', version = version + 1
    WHERE id = $1 AND status = '{RESTORE.source}'
    RETURNING id, author_id, content, image_url, hashtags, like_count, comment_count,
              created_at, version,
              COALESCE((SELECT username FROM users WHERE users.id = posts.author_id), '')
                  AS author_username""")
#: the post deleted (its comments and likes go with it by their foreign keys) and its
#: author's post count lowered, in one round trip (the post's row first, then the
#: author's: the author's UPDATE reads the post's)
_DELETE_DELETING = Statement("posts.delete_deleting", f"""
    WITH post AS (
        DELETE FROM posts WHERE id = $1 AND status = '{DELETE_DELETING.source}'
        RETURNING author_id, version
    ), author AS (
        UPDATE users SET post_count = post_count - 1 WHERE id = (SELECT author_id FROM post)
    )
    SELECT author_id, version FROM post""")


async def mark_deleting(q: Queries, post_id: int) -> int | None:
    """Hide a published post while a delete_post saga runs: its new version, or
    None when the post is not published (gone, pending, or being deleted)."""
    return await q.fetchval(_MARK_DELETING, post_id)


@dataclass(frozen=True)
class RestoredPost:
    """A post published again, with what its ``post.published`` carries."""

    id: int
    author_id: int
    author_username: str
    content: str | None
    image_url: str | None
    hashtags: list[str]
    like_count: int
    comment_count: int
    created_at: datetime
    version: int


async def restore_deleting(q: Queries, post_id: int) -> RestoredPost | None:
    """Publish again a post whose deletion was given up (None: it is not being deleted)."""
    row = await q.fetchrow(_RESTORE, post_id)
    if row is None:
        return None
    return RestoredPost(
        id=row["id"], author_id=row["author_id"], author_username=row["author_username"],
        content=row["content"], image_url=row["image_url"],
        hashtags=list(row["hashtags"] or []), like_count=row["like_count"],
        comment_count=row["comment_count"], created_at=row["created_at"],
        version=row["version"])


@dataclass(frozen=True)
class DeletedPost:
    author_id: int
    version: int


async def delete_deleting(q: Queries, post_id: int) -> DeletedPost | None:
    """Delete a post being deleted (its comments and likes go with it) and lower its
    author's post count; None when it is already gone."""
    row = await q.fetchrow(_DELETE_DELETING, post_id)
    if row is None:
        return None
    return DeletedPost(row["author_id"], row["version"])


# ---------------------------------------------------------- delete_account
_DELETE_ALL_OF = Statement("posts.delete_all_of", """
    DELETE FROM posts WHERE author_id = $1 RETURNING id, version""")


async def delete_all_of(q: Queries, author_id: int) -> list[tuple[int, int]]:
    """Delete every post of a user being deleted: ``(id, version)`` of each."""
    return [(r["id"], r["version"]) for r in await q.fetch(_DELETE_ALL_OF, author_id)]
