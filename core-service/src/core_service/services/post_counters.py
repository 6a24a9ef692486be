"""A published post's counters (likes, comments): every change locks the post's row
first, so likes, comments and the post's deletion are serialised, and each
change makes the post one version newer (the events' ordering key)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.domain.posts import PostStatus
from core_service.models import Post
from core_service.services.users import TOKEN_HOLDER_CTE, AccessToken
from shared_lib.database import Queries, Statement
from shared_lib.errors import NotFound, Unauthorized


@dataclass(frozen=True)
class LockedPost:
    id: int
    author_id: int


#: built once: every like and comment locks its post with it
_LOCK_PUBLISHED = (select(Post.id, Post.author_id)
                   .where(Post.id == bindparam("post_id"),
                          Post.status == PostStatus.published.value)
                   .with_for_update())
#: built once: a like's or a comment's change of its post's counters
_CHANGE_COUNTERS = (update(Post).where(Post.id == bindparam("post_id"))
                    .values(like_count=Post.like_count + bindparam("likes"),
                            comment_count=Post.comment_count + bindparam("comments"),
                            version=Post.version + 1)
                    .returning(Post.author_id, Post.version, Post.like_count,
                               Post.comment_count))


async def lock_published_post(session: AsyncSession, post_id: int) -> LockedPost:
    """Lock a published post's row: every change of its counters goes through here,
    so likes, comments and deletion of one post are serialised."""
    row = (await session.execute(_LOCK_PUBLISHED, {"post_id": post_id})).first()
    if row is None:
        raise NotFound("Post not found")
    return LockedPost(row.id, row.author_id)


async def change_locked_counters(session: AsyncSession, post: LockedPost, *,
                                 like_count: int = 0, comment_count: int = 0) -> Any:
    """Add to the counters of a post locked by :func:`lock_published_post`, one version
    newer; the post's author, version and counters after."""
    row = (await session.execute(_CHANGE_COUNTERS, {
        "post_id": post.id, "likes": like_count, "comments": comment_count})).first()
    if row is None:
        raise NotFound("Post not found")
    return row




# ----------------------------------------------------------- the direct data path

#: a like's or comment's first statement: the token's check, then the published post
#: locked FOR UPDATE, then (when the viewer is not its author) both users locked FOR
#: KEY SHARE in id order, as a block locks them FOR UPDATE; each CTE reads the one
#: before, so the locks are taken in that order. ($4: the post)
_LOCK_FOR_CONTACT = Statement("posts.lock_for_contact", f"""
    WITH {TOKEN_HOLDER_CTE},
    post AS (
        SELECT p.id, p.author_id FROM posts p
        WHERE p.id = $4 AND p.status = '{PostStatus.published.value}'
          AND EXISTS (SELECT 1 FROM holder)
        FOR UPDATE),
    pair AS (
        SELECT u.id FROM users u, post
        WHERE u.id IN ($1, post.author_id) AND post.author_id <> $1
        ORDER BY u.id FOR KEY SHARE OF u)
    SELECT (SELECT username FROM holder) AS username,
           (SELECT author_id FROM post) AS author_id,
           (SELECT count(*) FROM pair) AS locked""")


@dataclass(frozen=True)
class ContactLock:
    """A published post locked for a like or a comment by the token's user."""

    user_id: int
    username: str
    post: LockedPost


async def lock_for_contact(q: Queries, token: AccessToken, post_id: int) -> ContactLock:
    """Check the token and lock the post and both users (one statement); 401 when the
    token is no longer good, 404 when the post is not published. The block and
    privacy checks read after this statement, so they see a block that committed
    while it waited for the locks."""
    row = await q.fetchrow(_LOCK_FOR_CONTACT, token.user_id, token.token_version,
                           token.session_id, post_id)
    assert row is not None  # one row always
    if row["username"] is None:
        raise Unauthorized
    if row["author_id"] is None:
        raise NotFound("Post not found")
    return ContactLock(token.user_id, row["username"], LockedPost(post_id, row["author_id"]))
