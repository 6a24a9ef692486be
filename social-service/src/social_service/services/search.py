"""Search: users, hashtags (prefix, with published post counts), posts by hashtag.

Search text is matched literally (``%``, ``_`` and ``\\`` are escaped) and
case-insensitively, with trigram and prefix indexes behind it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared_lib.text import normalise_hashtag
from social_service.domain.hashtags import escape_like, like_prefix
from social_service.models import Hashtag, PostHashtag, PostProjection, UserProjection
from social_service.projections import blocks


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


async def hashtags(session: AsyncSession, q: str, *, limit: int,
                   offset: int) -> list[HashtagCount]:
    """Hashtags starting with ``q`` (with or without '#') that published posts
    carry, the most used first."""
    prefix = normalise_hashtag(q)
    post_count = func.count(PostProjection.id).label("post_count")
    rows = (await session.execute(
        select(Hashtag.id, Hashtag.name, post_count)
        .join(PostHashtag, PostHashtag.hashtag_id == Hashtag.id)
        .join(PostProjection, (PostProjection.id == PostHashtag.post_id)
              & PostProjection.published)
        .where(Hashtag.name.like(like_prefix(prefix), escape="\\"))
        .group_by(Hashtag.id, Hashtag.name)
        .order_by(post_count.desc(), Hashtag.name)
        .limit(limit).offset(offset)
    )).all()
    return [HashtagCount(id=r.id, name=r.name, post_count=r.post_count) for r in rows]


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
