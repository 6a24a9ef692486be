"""Search: users, hashtags (prefix, with published post counts), posts by hashtag.

Search text is matched literally (``%``, ``_`` and ``\\`` are escaped) and
case-insensitively, with trigram and prefix indexes behind it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from instasaga.hashtags import normalise_hashtag
from shared_lib.database import Database, Statement
from social_service.domain.hashtags import escape_like, like_prefix
from social_service.models import Hashtag, PostHashtag, PostProjection, UserProjection
from social_service.projections import blocks
from social_service.projections.users import TOKEN_CHECK_CTE, TokenCheck, token_check_of


@dataclass(frozen=True)
class HashtagCount:
    id: int
    name: str
    #: how many published posts carry it
    post_count: int


async def users(session: AsyncSession, q: str, *, limit: int,
                offset: int, viewer_id: int) -> list[UserProjection]:
    """Active users whose username or full name contains ``q``: the exact
    username first, then usernames starting with it, then by username. Users who
    blocked the viewer are left out."""
    needle = q.strip().lower()
    pattern = f"%{escape_like(needle)}%"
    username = func.lower(UserProjection.username)
    rows = (await session.execute(
        select(UserProjection)
        .where(UserProjection.is_active, not_(blocks.blocked(UserProjection.id, viewer_id)),
               or_(username.like(pattern, escape="\\"),
                   func.lower(UserProjection.full_name).like(pattern, escape="\\")))
        .order_by((username == needle).desc(),
                  username.like(like_prefix(needle), escape="\\").desc(),
                  UserProjection.username, UserProjection.id)
        .limit(limit).offset(offset)
    )).scalars()
    return list(rows)


_HASHTAGS = Statement("search_hashtags", f"""
    WITH {TOKEN_CHECK_CTE}
    SELECT checked.*, page.id, page.name, page.post_count
    FROM checked LEFT JOIN LATERAL (
        SELECT h.id, h.name, count(p.id) AS post_count
        FROM hashtags h
        JOIN post_hashtags ph ON ph.hashtag_id = h.id
        JOIN posts p ON p.id = ph.post_id AND p.published
        WHERE checked.tok_ok AND h.name LIKE $4 ESCAPE '\\'
        GROUP BY h.id, h.name
        ORDER BY post_count DESC, h.name
        LIMIT $5 OFFSET $6
    ) page ON true
    ORDER BY page.post_count DESC, page.name
""")


async def hashtags(db: Database, q: str, *, limit: int, offset: int, user_id: int,
                   session_id: uuid.UUID, token_version: int
                   ) -> tuple[TokenCheck, list[HashtagCount]]:
    """Hashtags starting with ``q`` (with or without '#') that published posts
    carry, the most used first; with the check of the caller's token, in one
    autocommit statement (the page is empty when the token is refused)."""
    rows = await db.fetch(_HASHTAGS, user_id, session_id, token_version,
                          like_prefix(normalise_hashtag(q)), limit, offset)
    return token_check_of(rows[0]), [
        HashtagCount(id=r["id"], name=r["name"], post_count=r["post_count"])
        for r in rows if r["id"] is not None]


async def posts_with_hashtag(session: AsyncSession, tag: str, *, limit: int,
                             offset: int, viewer_id: int) -> list[PostProjection]:
    """The published posts carrying ``tag`` (with or without '#') that the viewer may
    see (not of someone who blocked them; of a private account only when they follow
    it), newest first."""
    name = normalise_hashtag(tag)
    rows = (await session.execute(
        select(PostProjection)
        .join(PostHashtag, PostHashtag.post_id == PostProjection.id)
        .join(Hashtag, Hashtag.id == PostHashtag.hashtag_id)
        .where(Hashtag.name == name, PostProjection.published,
               blocks.sees_content_of(viewer_id, PostProjection.author_id))
        .order_by(PostProjection.created_at.desc(), PostProjection.id.desc())
        .limit(limit).offset(offset)
    )).scalars()
    return list(rows)
