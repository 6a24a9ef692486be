"""services/stories: core's records of social's stories, written once and forgotten
one by one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.models import StoryRecord
from core_service.services import stories, users
from shared_lib.database import Database

if TYPE_CHECKING:
    from conftest import Seed


async def test_record_story_is_idempotent_and_keeps_the_first_record(
        sessions: async_sessionmaker[AsyncSession], database: Database, seed: Seed) -> None:
    alice = await seed.user("alice")
    expires = datetime.now(UTC) + timedelta(hours=24)
    async with database.transaction() as q:
        assert await stories.record_story(q, 10, alice.id, expires)
    async with database.transaction() as q:  # the record_story command delivered again
        assert await stories.record_story(q, 10, alice.id, expires + timedelta(hours=1))
    assert await seed.all(select(StoryRecord.story_id, StoryRecord.author_id,
                                 StoryRecord.expires_at)) == [(10, alice.id, expires)]
    async with sessions() as s:
        assert (await users.profile(s, alice.id)).has_active_story


async def test_forget_story_removes_that_story_only(
        sessions: async_sessionmaker[AsyncSession], database: Database, seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    expires = datetime.now(UTC) + timedelta(hours=24)
    async with database.transaction() as q:
        for story_id, author in ((1, alice), (2, alice), (3, bob)):
            await stories.record_story(q, story_id, author.id, expires)
    async with database.transaction() as q:
        await stories.forget_story(q, 1)
        await stories.forget_story(q, 1)  # gone already: nothing happens
        await stories.forget_story(q, 99)
    assert sorted(await seed.all(select(StoryRecord.story_id))) == [(2,), (3,)]
    async with database.transaction() as q:
        await stories.forget_story(q, 2)
    async with sessions() as s:
        assert not (await users.profile(s, alice.id)).has_active_story
        assert (await users.profile(s, bob.id)).has_active_story
