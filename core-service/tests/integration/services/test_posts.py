"""services/posts: one post as a viewer may see it, and a user's published posts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.domain.posts import PostStatus
from core_service.models import Block, Follow
from core_service.services import posts
from shared_lib.errors import NotFound

if TYPE_CHECKING:
    from conftest import Seed


async def test_visible_post_shows_a_published_post_to_all_and_others_to_the_author_only(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    published = await seed.post(alice, content="out", status=PostStatus.published)
    hidden = {status: await seed.post(alice, status=status) for status in PostStatus
              if status != PostStatus.published}
    async with sessions() as s:
        for viewer in (None, bob.id, alice.id):
            found = await posts.visible_post(s, published, viewer)
            assert (found.post.id, found.post.content, found.author_username) == (
                published, "out", "alice")
        for status, post_id in hidden.items():
            assert (await posts.visible_post(s, post_id, alice.id)).post.status == status
            for viewer in (None, bob.id):
                with pytest.raises(NotFound):
                    await posts.visible_post(s, post_id, viewer)
        with pytest.raises(NotFound):
            await posts.visible_post(s, published + 1000, alice.id)


async def test_visible_post_is_hidden_from_a_viewer_the_author_blocked(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob, carol = await seed.user("alice"), await seed.user("bob"), await seed.user("carol")
    post_id = await seed.post(alice)
    await seed.rows(Block, {"blocker_id": alice.id, "blocked_id": bob.id},
                    {"blocker_id": carol.id, "blocked_id": alice.id})
    async with sessions() as s:
        with pytest.raises(NotFound):
            await posts.visible_post(s, post_id, bob.id)
        # sight is one way: carol blocked alice, and still sees her posts
        assert (await posts.visible_post(s, post_id, carol.id)).post.id == post_id


async def test_visible_post_of_a_private_or_deactivated_author(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice = await seed.user("alice", private=True)
    fan, stranger = await seed.user("fan"), await seed.user("stranger")
    gone = await seed.user("gone", active=False)
    private_post, gone_post = await seed.post(alice), await seed.post(gone)
    await seed.rows(Follow, {"follower_id": fan.id, "followee_id": alice.id})
    async with sessions() as s:
        assert (await posts.visible_post(s, private_post, fan.id)).post.id == private_post
        assert (await posts.visible_post(s, private_post, alice.id)).post.id == private_post
        for viewer in (stranger.id, None):
            with pytest.raises(NotFound):
                await posts.visible_post(s, private_post, viewer)
        with pytest.raises(NotFound):
            await posts.visible_post(s, gone_post, fan.id)


async def test_published_posts_of_lists_only_published_posts_newest_first(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    now = datetime.now(UTC)
    # ids in another order than creation times: the order must come from created_at
    old = await seed.post(alice, content="old", created_at=now - timedelta(hours=3))
    new = await seed.post(alice, content="new", created_at=now - timedelta(hours=1))
    middle = await seed.post(alice, content="middle", created_at=now - timedelta(hours=2))
    for status in (PostStatus.pending, PostStatus.rejected, PostStatus.deleting):
        await seed.post(alice, status=status, created_at=now)
    await seed.post(bob, created_at=now)
    async with sessions() as s:
        page = await posts.published_posts_of(s, alice.id, 10, 0)
        assert [(p.post.id, p.author_username) for p in page] == [
            (new, "alice"), (middle, "alice"), (old, "alice")]
        assert [p.post.id for p in await posts.published_posts_of(s, alice.id, 1, 1)] == [
            middle]


async def test_published_posts_of_a_deactivated_or_missing_user_is_not_found(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    gone = await seed.user("gone", active=False)
    await seed.post(gone)
    async with sessions() as s:
        for user_id in (gone.id, gone.id + 1000):
            with pytest.raises(NotFound):
                await posts.published_posts_of(s, user_id, 10, 0)
