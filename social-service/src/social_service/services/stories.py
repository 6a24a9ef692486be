"""Stories: stored ``pending`` by the create_story saga, ``active`` until they
expire, deleted by their author."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from instasaga.messages import StoryDeleted
from instasaga.services import SOCIAL
from shared_lib.errors import Forbidden, NotFound
from shared_lib.outbox import publish_event
from social_service.domain.stories import STORY_LIFETIME
from social_service.models import Story, StoryStatus
from social_service.projections import blocks, follows


@dataclass(frozen=True)
class PendingStory:
    id: int
    expires_at: datetime


async def insert_pending(session: AsyncSession, *, author_id: int, author_username: str,
                         image_url: str | None, content: str | None) -> PendingStory:
    """Store a story ``pending``, expiring STORY_LIFETIME after its creation."""
    row = (await session.execute(
        insert(Story)
        .values(author_id=author_id, author_username=author_username,
                image_url=image_url, content=content, status=StoryStatus.pending.value,
                # now() is the transaction's time, the same as created_at's default
                expires_at=func.now() + STORY_LIFETIME)
        .returning(Story.id, Story.expires_at))).one()
    return PendingStory(id=row.id, expires_at=row.expires_at)


async def reject(session: AsyncSession, story_id: int, reason: str | None) -> None:
    """A story still ``pending`` becomes ``rejected`` with ``reason``."""
    await session.execute(
        update(Story)
        .where(Story.id == story_id, Story.status == StoryStatus.pending.value)
        .values(status=StoryStatus.rejected.value, rejection_reason=reason))


async def activate(session: AsyncSession, story_id: int) -> bool:
    """A story still ``pending`` becomes ``active``; False when it is no longer
    pending (deleted by its author meanwhile)."""
    done = await session.scalar(
        update(Story)
        .where(Story.id == story_id, Story.status == StoryStatus.pending.value)
        .values(status=StoryStatus.active.value).returning(Story.id))
    return done is not None


async def get_story(session: AsyncSession, story_id: int) -> Story:
    story = await session.get(Story, story_id)
    if story is None:
        raise NotFound("Story not found")
    return story


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
