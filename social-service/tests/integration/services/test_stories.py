"""services/stories: a story's life in the create_story saga (pending, then active or
rejected, each change only from pending; expiring a lifetime after its creation),
who sees which active stories, and their deletion by their author alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from instasaga.services import SOCIAL
from shared_lib.database import Database
from shared_lib.errors import Forbidden, NotFound
from social_service.domain.stories import STORY_LIFETIME
from social_service.models import FollowEdge, Story, StoryStatus
from social_service.services import stories

if TYPE_CHECKING:
    from conftest import Seed

NOW = datetime.now(UTC)


def at(minutes: int) -> datetime:
    """A time ``minutes`` before the module was loaded (0 is the most recent)."""
    return NOW - timedelta(minutes=minutes)


async def test_insert_pending_stores_a_pending_story_expiring_a_lifetime_after_its_creation(
        database: Database, seed: Seed) -> None:
    alice = await seed.user("alice")
    async with database.transaction() as q:
        pending = await stories.insert_pending(q, author_id=alice.id, author_username="alice",
                                               image_url="/s.jpg", content=None)
    record = await stories.story_record(database, pending.id)
    assert (record.id, record.author_id, record.author_username, record.image_url,
            record.content) == (pending.id, alice.id, "alice", "/s.jpg", None)
    assert (record.status, record.rejection_reason) == (StoryStatus.pending, None)
    assert record.expires_at == pending.expires_at
    assert record.expires_at - record.created_at == STORY_LIFETIME
    assert abs(record.created_at - datetime.now(UTC)) < timedelta(minutes=1)


async def test_activate_and_reject_change_only_a_story_still_pending(
        database: Database, seed: Seed) -> None:
    alice = await seed.user("alice")
    active = await seed.story(alice, status=StoryStatus.pending)
    refused = await seed.story(alice, status=StoryStatus.pending)
    async with database.transaction() as q:
        assert await stories.activate(q, active) is True
        await stories.reject(q, refused, "nudity")
    async with database.transaction() as q:
        assert await stories.activate(q, active) is False  # active already
        assert await stories.activate(q, refused) is False  # rejected: never active
        await stories.reject(q, active, "too late")  # an active story stays active
        await stories.reject(q, refused, "another reason")  # the first reason stays
    active_record = await stories.story_record(database, active)
    refused_record = await stories.story_record(database, refused)
    assert (active_record.status, active_record.rejection_reason) == (StoryStatus.active, None)
    assert (refused_record.status, refused_record.rejection_reason) == (
        StoryStatus.rejected, "nudity")


async def test_story_record_of_a_story_that_is_gone_is_not_found(
        database: Database, seed: Seed) -> None:
    alice = await seed.user("alice")
    story_id = await seed.story(alice)
    assert (await stories.story_record(database, story_id)).status == StoryStatus.active
    with pytest.raises(NotFound):
        await stories.story_record(database, story_id + 1)


async def test_active_of_has_the_authors_unexpired_active_stories_newest_first(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    old = await seed.story(alice, created_at=at(30))
    new = await seed.story(alice, created_at=at(10))
    middle = await seed.story(alice, created_at=at(20))
    await seed.story(alice, status=StoryStatus.pending, created_at=at(0))
    await seed.story(alice, status=StoryStatus.rejected, created_at=at(0))
    await seed.story(alice, created_at=at(60 * 25), expires_at=at(60))  # expired
    await seed.story(bob, created_at=at(0))
    async with sessions() as s:
        found = await stories.active_of(s, alice.id, limit=20, offset=0)
        page = await stories.active_of(s, alice.id, limit=1, offset=1)
    assert [st.id for st in found] == [new, middle, old]
    assert [st.id for st in page] == [middle]


async def test_feed_has_the_viewers_and_followed_authors_active_stories_newest_first(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob, carol, dave = [await seed.user(n) for n in ("alice", "bob", "carol", "dave")]
    await seed.follow(alice, bob)
    await seed.follow(alice, carol, active=False)  # unfollowed since
    await seed.follow(dave, alice)  # dave follows alice, not the reverse
    own = await seed.story(alice, created_at=at(20))
    bobs = await seed.story(bob, created_at=at(10))
    bobs_old = await seed.story(bob, created_at=at(30))
    await seed.story(bob, status=StoryStatus.pending, created_at=at(0))
    await seed.story(bob, created_at=at(60 * 25), expires_at=at(1))  # expired
    await seed.story(carol, created_at=at(0))
    await seed.story(dave, created_at=at(0))
    async with sessions() as s:
        found = await stories.feed(s, alice.id, limit=20, offset=0)
        page = await stories.feed(s, alice.id, limit=2, offset=1)
    assert [st.id for st in found] == [bobs, own, bobs_old]
    assert [st.id for st in page] == [own, bobs_old]


async def test_feed_leaves_out_authors_who_blocked_the_viewer_and_private_ones_not_followed(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    viewer = await seed.user("viewer", private=True)
    public, blocker, unblocked = (await seed.user("public"), await seed.user("blocker"),
                                  await seed.user("unblocked"))
    private = await seed.user("private", private=True)
    for author in (public, blocker, unblocked, private):
        await seed.follow(viewer, author)
    await seed.block(blocker, viewer)  # still followed (as a late event may leave it)
    await seed.block(unblocked, viewer, active=False)
    own = await seed.story(viewer, created_at=at(50))  # private, but one's own
    publics = await seed.story(public, created_at=at(40))
    await seed.story(blocker, created_at=at(30))
    unblockeds = await seed.story(unblocked, created_at=at(20))
    privates = await seed.story(private, created_at=at(10))
    async with sessions() as s:
        found = await stories.feed(s, viewer.id, limit=20, offset=0)
    assert [st.id for st in found] == [privates, unblockeds, publics, own]
    async with sessions() as s, s.begin():  # the follow of the private account ends
        await s.execute(update(FollowEdge).where(FollowEdge.follower_id == viewer.id,
                                                 FollowEdge.followee_id == private.id)
                        .values(active=False, version=2))
    async with sessions() as s:
        found = await stories.feed(s, viewer.id, limit=20, offset=0)
    assert [st.id for st in found] == [unblockeds, publics, own]


async def test_delete_story_by_its_author_deletes_it_pending_too_with_story_deleted(
        sessions: async_sessionmaker[AsyncSession], database: Database, seed: Seed) -> None:
    alice = await seed.user("alice")
    active = await seed.story(alice)
    pending = await seed.story(alice, status=StoryStatus.pending)
    expired = await seed.story(alice, created_at=at(60 * 25), expires_at=at(60))
    for story_id in (active, pending, expired):
        async with sessions() as s, s.begin():
            await stories.delete_story(s, story_id, alice.id)
    assert await seed.all(select(Story.id)) == []
    assert [(e.type, e.payload["story_id"], e.payload["author_id"], e.source)
            for e in await seed.events()] == [
        ("story.deleted", story_id, alice.id, SOCIAL)
        for story_id in (active, pending, expired)]
    async with database.transaction() as q:  # the saga then finds it no longer pending
        assert await stories.activate(q, pending) is False


async def test_delete_story_is_forbidden_to_others_and_not_found_when_rejected_or_gone(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    story_id = await seed.story(alice)
    rejected = await seed.story(alice, status=StoryStatus.rejected)
    with pytest.raises(Forbidden):
        async with sessions() as s, s.begin():
            await stories.delete_story(s, story_id, bob.id)
    for missing in (rejected, story_id + 100):
        with pytest.raises(NotFound):
            async with sessions() as s, s.begin():
                await stories.delete_story(s, missing, alice.id)
    assert sorted(await seed.all(select(Story.id))) == [(story_id,), (rejected,)]
    assert await seed.events() == []


async def test_delete_by_author_deletes_every_story_of_the_author_and_counts_them(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    for status in StoryStatus:
        await seed.story(alice, status=status)
    kept = await seed.story(bob)
    async with sessions() as s, s.begin():
        assert await stories.delete_by_author(s, alice.id) == 3
    assert await seed.all(select(Story.id)) == [(kept,)]
