"""services/post_counters: a published post's row is locked before its counters
change, and each change makes it one version newer."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.domain.posts import PostStatus
from core_service.models import Post
from core_service.services import post_counters
from core_service.services.post_counters import LockedPost
from shared_lib.errors import NotFound

if TYPE_CHECKING:
    from conftest import Seed


async def test_lock_published_post_finds_only_a_published_post(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice = await seed.user("alice")
    published = await seed.post(alice, status=PostStatus.published)
    others = [await seed.post(alice, status=status) for status in PostStatus
              if status != PostStatus.published]
    async with sessions() as s:
        assert await post_counters.lock_published_post(s, published) == LockedPost(
            published, alice.id)
        for post_id in [*others, published + 1000]:
            with pytest.raises(NotFound):
                await post_counters.lock_published_post(s, post_id)


async def test_lock_published_post_holds_the_row_until_the_transaction_ends(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    post_id = await seed.post(await seed.user("alice"))
    nowait = text("SELECT id FROM posts WHERE id = :id FOR UPDATE NOWAIT")
    async with sessions() as locking:
        await post_counters.lock_published_post(locking, post_id)
        async with sessions() as other:
            with pytest.raises(DBAPIError, match="could not obtain lock"):
                await other.execute(nowait, {"id": post_id})
        await locking.commit()
    async with sessions() as other:  # released with the transaction
        assert await other.scalar(nowait, {"id": post_id}) == post_id


async def test_change_locked_counters_adds_the_deltas_one_version_newer(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    post_id = await seed.post(await seed.user("alice"), like_count=3, comment_count=1)
    async with sessions() as s, s.begin():
        post = await post_counters.lock_published_post(s, post_id)
        first = await post_counters.change_locked_counters(s, post, like_count=1)
        second = await post_counters.change_locked_counters(s, post, like_count=-2,
                                                            comment_count=2)
    assert (first.version, first.like_count, first.comment_count) == (2, 4, 1)
    assert (second.version, second.like_count, second.comment_count) == (3, 2, 3)
    stored = await seed.get(Post, post_id)
    assert (stored.version, stored.like_count, stored.comment_count) == (3, 2, 3)


async def test_change_locked_counters_of_a_post_gone_meanwhile_is_not_found(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice = await seed.user("alice")
    async with sessions() as s, s.begin():
        with pytest.raises(NotFound):
            await post_counters.change_locked_counters(s, LockedPost(1000, alice.id),
                                                       like_count=1)
