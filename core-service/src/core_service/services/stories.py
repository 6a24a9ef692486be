"""Records of social's stories (social owns the stories; core keeps which user
has one that has not expired)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import StoryRecord


async def record_story(session: AsyncSession, story_id: int, author_id: int,
                       expires_at: datetime) -> None:
    await session.execute(
        pg_insert(StoryRecord)
        .values(story_id=story_id, author_id=author_id, expires_at=expires_at)
        .on_conflict_do_nothing()
    )


async def forget_story(session: AsyncSession, story_id: int) -> None:
    await session.execute(delete(StoryRecord).where(StoryRecord.story_id == story_id))
