"""Stories: stored ``pending`` by the create_story saga, ``active`` until they
expire, deleted by their author."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from instasaga.messages import StoryDeleted
from instasaga.services import SOCIAL
from shared_lib.database import Database, Queries, Statement
from shared_lib.errors import Forbidden, NotFound
from shared_lib.outbox import publish_event
from social_service.domain.stories import STORY_LIFETIME
from social_service.models import Story, StoryStatus
from social_service.projections import blocks, follows


@dataclass(frozen=True)
class PendingStory:
    id: int
    expires_at: datetime


#: a story's life in the create_story saga (statements defined once); ``now()`` is the
#: transaction's time, the same as ``created_at``'s default ($5: the lifetime)
_INSERT_PENDING = Statement("stories.insert_pending", f"""
    INSERT INTO stories (author_id, author_username, image_url, content, status, expires_at)
    VALUES ($1, $2, $3, $4, '{StoryStatus.pending.value}', now() + $5::interval)
    RETURNING id, expires_at""")
_REJECT = Statement("stories.reject", f"""
    UPDATE stories SET status = '{StoryStatus.rejected.value}', rejection_reason = $2
    WHERE id = $1 AND status = '{StoryStatus.pending.value}'""")
_ACTIVATE = Statement("stories.activate", f"""
    UPDATE stories SET status = '{StoryStatus.active.value}'
    WHERE id = $1 AND status = '{StoryStatus.pending.value}' RETURNING id""")


async def insert_pending(q: Queries, *, author_id: int, author_username: str,
                         image_url: str | None, content: str | None) -> PendingStory:
    """Store a story ``pending``, expiring STORY_LIFETIME after its creation."""
    row = await q.fetchrow(_INSERT_PENDING, author_id, author_username, image_url, content,
                           STORY_LIFETIME)
    assert row is not None
    return PendingStory(id=row["id"], expires_at=row["expires_at"])


async def reject(q: Queries, story_id: int, reason: str | None) -> None:
    """A story still ``pending`` becomes ``rejected`` with ``reason``."""
    await q.execute(_REJECT, story_id, reason)


async def activate(q: Queries, story_id: int) -> bool:
    """A story still ``pending`` becomes ``active``; False when it is no longer
    pending (deleted by its author meanwhile)."""
    return await q.fetchval(_ACTIVATE, story_id) is not None


@dataclass(frozen=True)
class StoryRecord:
    """A story as its author is answered."""

    id: int
    author_id: int
    author_username: str
    image_url: str | None
    content: str | None
    status: str
    rejection_reason: str | None
    created_at: datetime
    expires_at: datetime


_GET = Statement("stories.get", """
    SELECT id, author_id, author_username, image_url, content, status, rejection_reason,
           created_at, expires_at
    FROM stories WHERE id = $1""")


async def story_record(db: Database, story_id: int) -> StoryRecord:
    """One story, in one autocommit statement (NotFound when it is gone)."""
    row = await db.fetchrow(_GET, story_id)
    if row is None:
        raise NotFound("Story not found")
    return StoryRecord(**dict(row))


def _active():  # type: ignore[no-untyped-def]
    return (Story.status == StoryStatus.active.value) & (Story.expires_at > func.now())


async def active_of(session: AsyncSession, author_id: int, *, limit: int,
                    offset: int) -> list[Story]:
    """The author's active stories, newest first."""
    return list((await session.execute(
        select(Story).where(Story.author_id == author_id, _active())
        .order_by(Story.created_at.desc(), Story.id.desc()).limit(limit).offset(offset)
    )).scalars())


async def feed(session: AsyncSession, viewer_id: int, *, limit: int,
               offset: int) -> list[Story]:
    """The active stories of the viewer and of the users they follow, newest first."""
    return list((await session.execute(
        select(Story)
        .where(_active(), or_(Story.author_id == viewer_id,
                              Story.author_id.in_(follows.followees_of(viewer_id))),
               blocks.sees_content_of(viewer_id, Story.author_id))
        .order_by(Story.created_at.desc(), Story.id.desc()).limit(limit).offset(offset)
    )).scalars())


async def delete_story(session: AsyncSession, story_id: int, user_id: int) -> None:
    """The author deletes their story (pending too); event ``story.deleted``,
    from which core clears ``has_active_story``."""
    story = await session.get(Story, story_id, with_for_update=True)
    if story is None or story.status == StoryStatus.rejected:
        raise NotFound("Story not found")
    if story.author_id != user_id:
        raise Forbidden("Not allowed to delete this story")
    await session.delete(story)
    await publish_event(session, StoryDeleted(story_id=story_id, author_id=user_id),
                        source=SOCIAL)


async def delete_by_author(session: AsyncSession, author_id: int) -> int:
    """Delete every story of ``author_id``; how many."""
    result = await session.execute(delete(Story).where(Story.author_id == author_id))
    return result.rowcount  # type: ignore[attr-defined,no-any-return]
