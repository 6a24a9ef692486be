"""services/blocks: a block ends follows and follow requests both ways, once; an
unblock brings none of them back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.models import Block, Follow, FollowRequest, User
from core_service.services import blocks, follows
from shared_lib.database import Database
from shared_lib.errors import BadRequest, Forbidden, NotFound

if TYPE_CHECKING:
    from conftest import Seed


async def test_a_block_ends_follows_and_requests_both_ways(
        sessions: async_sessionmaker[AsyncSession], database: Database, seed: Seed) -> None:
    alice, bob, carol = await seed.user("alice"), await seed.user("bob"), await seed.user("carol")
    tokens = {u.id: await seed.token(u) for u in (alice, bob, carol)}
    async with database.transaction() as q:
        for follower, followee in ((alice, bob), (bob, alice), (carol, alice)):
            await follows.follow(q, tokens[follower.id], followee.id)
    await seed.rows(FollowRequest, {"requester_id": alice.id, "target_id": bob.id},
                    {"requester_id": bob.id, "target_id": alice.id},
                    {"requester_id": carol.id, "target_id": bob.id})
    async with sessions() as s, s.begin():
        await blocks.block(s, alice, bob.id)

    assert await seed.all(select(Block.blocker_id, Block.blocked_id)) == [(alice.id, bob.id)]
    assert await seed.all(select(Follow.follower_id, Follow.followee_id)) == [
        (carol.id, alice.id)]
    assert await seed.all(select(FollowRequest.requester_id, FollowRequest.target_id)) == [
        (carol.id, bob.id)]
    counts = {u.username: (u.follower_count, u.following_count)
              for u in [await seed.get(User, x.id) for x in (alice, bob, carol)]}
    assert counts == {"alice": (1, 0), "bob": (0, 0), "carol": (0, 1)}
    events = (await seed.events())[3:]  # after the three follows
    assert [(e.type, e.payload.get("follower_id"), e.payload.get("followee_id"))
            for e in events] == [("user.unfollowed", alice.id, bob.id),
                                 ("user.unfollowed", bob.id, alice.id),
                                 ("user.blocked", None, None)]
    assert (events[-1].payload["blocker_id"], events[-1].payload["blocked_id"]) == (
        alice.id, bob.id)
    assert events[1].payload["seq"] < events[2].payload["seq"]


async def test_a_second_block_changes_nothing(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    for _ in range(2):
        async with sessions() as s, s.begin():
            await blocks.block(s, alice, bob.id)
    assert await seed.all(select(Block.blocker_id, Block.blocked_id)) == [(alice.id, bob.id)]
    assert await seed.event_types() == ["user.blocked"]


async def test_block_is_refused_for_oneself_and_between_inactive_users(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, gone = await seed.user("alice"), await seed.user("gone", active=False)
    for blocker, blocked_id, error in ((alice, alice.id, BadRequest), (alice, gone.id, NotFound),
                                       (alice, alice.id + 1000, NotFound),
                                       (gone, alice.id, Forbidden)):
        async with sessions() as s, s.begin():
            with pytest.raises(error):
                await blocks.block(s, blocker, blocked_id)
    async with sessions() as s:
        with pytest.raises(BadRequest):
            await blocks.unblock(s, alice, alice.id)
    assert await seed.all(select(Block)) == []
    assert await seed.events() == []


async def test_unblock_lifts_the_block_once_and_restores_no_follow(
        sessions: async_sessionmaker[AsyncSession], database: Database, seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    token = await seed.token(bob)
    async with database.transaction() as q:
        await follows.follow(q, token, alice.id)
    async with sessions() as s, s.begin():
        await blocks.block(s, alice, bob.id)
    for _ in range(2):
        async with sessions() as s, s.begin():
            await blocks.unblock(s, alice, bob.id)
    assert await seed.all(select(Block)) == []
    assert await seed.all(select(Follow)) == []
    events = await seed.events()
    assert [e.type for e in events] == [
        "user.followed", "user.unfollowed", "user.blocked", "user.unblocked"]
    assert events[-1].payload["seq"] > events[-2].payload["seq"]


async def test_blocked_by_lists_the_active_users_blocked_latest_first(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob, carol = await seed.user("alice"), await seed.user("bob"), await seed.user("carol")
    gone = await seed.user("gone", active=False)
    now = datetime.now(UTC)
    await seed.rows(Block, *(
        {"blocker_id": blocker.id, "blocked_id": blocked.id,
         "created_at": now - timedelta(hours=h)}
        for blocker, blocked, h in ((alice, bob, 2), (alice, carol, 1), (alice, gone, 0),
                                    (bob, carol, 0))))
    async with sessions() as s:
        assert [u.username for u in await blocks.blocked_by(s, alice.id, 10, 0)] == [
            "carol", "bob"]
        assert [u.username for u in await blocks.blocked_by(s, alice.id, 1, 1)] == ["bob"]
        assert await blocks.blocked_by(s, carol.id, 10, 0) == []
