"""services/follows: follows with exact counters on both users, follow requests of
private accounts, and the followers and following lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.models import Block, Follow, FollowRequest, User
from core_service.services import follows
from core_service.services.follows import FollowState
from shared_lib.database import Database
from shared_lib.errors import BadRequest, Forbidden, NotFound, Unauthorized

if TYPE_CHECKING:
    from conftest import Seed


async def _counts(seed: Seed, *users: User) -> list[tuple[int, int]]:
    """(follower_count, following_count) of each user, read again."""
    return [((u := await seed.get(User, user.id)).follower_count, u.following_count)
            for user in users]


async def test_following_a_public_account_twice_makes_one_counted_edge(
        sessions: async_sessionmaker[AsyncSession], database: Database, seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    token = await seed.token(bob)
    for _ in range(2):
        async with database.transaction() as q:
            assert await follows.follow(q, token, alice.id) == FollowState(following=True)
    assert await seed.all(select(Follow.follower_id, Follow.followee_id)) == [(bob.id, alice.id)]
    assert await _counts(seed, alice, bob) == [(1, 0), (0, 1)]
    assert await seed.event_types() == ["user.followed"]

    for _ in range(2):  # and the unfollow uncounts it once
        async with sessions() as s, s.begin():
            await follows.unfollow(s, bob, alice.id)
    assert await seed.all(select(Follow)) == []
    assert await _counts(seed, alice, bob) == [(0, 0), (0, 0)]
    assert await seed.event_types() == ["user.followed", "user.unfollowed"]


async def test_following_a_private_account_asks_and_an_approval_makes_the_edge(
        sessions: async_sessionmaker[AsyncSession], database: Database, seed: Seed) -> None:
    alice, bob = await seed.user("alice", private=True), await seed.user("bob")
    token = await seed.token(bob)
    for _ in range(2):
        async with database.transaction() as q:
            assert await follows.follow(q, token, alice.id) == FollowState(False, requested=True)
    assert await seed.all(select(Follow)) == []
    assert await seed.all(select(FollowRequest.requester_id, FollowRequest.target_id)) == [
        (bob.id, alice.id)]
    async with sessions() as s:
        assert [u.id for u in await follows.requests_to(s, alice.id, 10, 0)] == [bob.id]

    async with sessions() as s, s.begin():
        await follows.approve(s, alice, bob.id)
    assert await seed.all(select(Follow.follower_id, Follow.followee_id)) == [(bob.id, alice.id)]
    assert await seed.all(select(FollowRequest)) == []
    assert await _counts(seed, alice, bob) == [(1, 0), (0, 1)]
    events = await seed.events()
    assert [e.type for e in events] == ["follow.requested", "user.followed", "follow.accepted"]
    assert events[0].payload["requester_username"] == "bob"
    assert events[2].payload["target_username"] == "alice"
    assert events[0].payload["seq"] < events[1].payload["seq"] < events[2].payload["seq"]
    async with sessions() as s:
        with pytest.raises(NotFound):  # approved already
            await follows.approve(s, alice, bob.id)


async def test_a_declined_or_withdrawn_request_leaves_no_edge(
        sessions: async_sessionmaker[AsyncSession], database: Database, seed: Seed) -> None:
    alice, bob = await seed.user("alice", private=True), await seed.user("bob")
    token = await seed.token(bob)
    async with database.transaction() as q:
        await follows.follow(q, token, alice.id)
    async with sessions() as s, s.begin():
        await follows.decline(s, alice, bob.id)
    assert await seed.all(select(FollowRequest)) == []
    async with database.transaction() as q:
        await follows.follow(q, token, alice.id)
    async with sessions() as s, s.begin():
        await follows.unfollow(s, bob, alice.id)
    assert await seed.all(select(FollowRequest)) == []
    assert await seed.all(select(Follow)) == []
    assert await _counts(seed, alice, bob) == [(0, 0), (0, 0)]
    assert await seed.event_types() == ["follow.requested", "follow.requested"]
    async with sessions() as s:
        with pytest.raises(NotFound):
            await follows.decline(s, alice, bob.id)


async def test_follow_is_refused_to_oneself_between_blocked_users_and_to_the_missing(
        database: Database, seed: Seed) -> None:
    alice, bob, carol = await seed.user("alice"), await seed.user("bob"), await seed.user("carol")
    gone = await seed.user("gone", active=False)
    await seed.rows(Block, {"blocker_id": alice.id, "blocked_id": bob.id})
    # a deactivated follower's token is no longer good (a follower deactivated while
    # the follow waits for the lock is refused with 403: test_events.py)
    refusals: list[tuple[User, int, type[Exception]]] = [
        (alice, alice.id, BadRequest), (alice, bob.id, Forbidden), (bob, alice.id, Forbidden),
        (carol, gone.id, NotFound), (carol, carol.id + 1000, NotFound),
        (gone, carol.id, Unauthorized)]
    for follower, followee_id, error in refusals:
        token = await seed.token(follower)
        async with database.transaction() as q:
            with pytest.raises(error):
                await follows.follow(q, token, followee_id)
    assert await seed.all(select(Follow)) == []
    assert await seed.events() == []


async def test_follow_with_a_token_no_longer_good_is_unauthorized_and_writes_nothing(
        database: Database, seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    secret = await seed.user("secret", private=True)
    for token in await seed.tokens_no_longer_good(bob):  # revoked session, stale version
        for followee in (alice, secret):  # neither an edge nor a request
            async with database.transaction() as q:  # committed: nothing was written
                with pytest.raises(Unauthorized):
                    await follows.follow(q, token, followee.id)
    assert await seed.all(select(Follow)) == []
    assert await seed.all(select(FollowRequest)) == []
    assert await _counts(seed, alice, bob) == [(0, 0), (0, 0)]
    assert await seed.events() == []
    async with database.transaction() as q:  # a token of bob's that is good
        assert await follows.follow(q, await seed.token(bob), alice.id) == FollowState(True)


async def test_approve_all_accepts_the_requests_of_active_users(
        sessions: async_sessionmaker[AsyncSession], database: Database, seed: Seed) -> None:
    alice = await seed.user("alice", private=True)
    bob, carol, gone = await seed.user("bob"), await seed.user("carol"), await seed.user("gone")
    for requester in (carol, bob, gone):
        token = await seed.token(requester)
        async with database.transaction() as q:
            await follows.follow(q, token, alice.id)
    async with sessions() as s, s.begin():
        await s.execute(User.__table__.update().where(User.id == gone.id)
                        .values(is_active=False))
    async with sessions() as s, s.begin():
        await follows.approve_all(s, alice.id, "alice")
    assert sorted(await seed.all(select(Follow.follower_id, Follow.followee_id))) == [
        (bob.id, alice.id), (carol.id, alice.id)]
    assert await seed.all(select(FollowRequest)) == []
    assert await _counts(seed, alice, carol, bob, gone) == [(2, 0), (0, 1), (0, 1), (0, 0)]
    accepted = [e.payload["requester_id"] for e in await seed.events()
                if e.type == "follow.accepted"]
    assert accepted == [carol.id, bob.id]  # oldest request first


async def test_followers_and_following_list_active_users_latest_first(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob, carol = await seed.user("alice"), await seed.user("bob"), await seed.user("carol")
    gone = await seed.user("gone", active=False)
    now = datetime.now(UTC)
    await seed.rows(Follow, *(
        {"follower_id": f.id, "followee_id": t.id, "created_at": now - timedelta(hours=h)}
        for f, t, h in ((bob, alice, 1), (carol, alice, 2), (gone, alice, 0),
                        (alice, bob, 3), (alice, carol, 1), (alice, gone, 0))))
    async with sessions() as s:
        assert [u.username for u in await follows.followers(s, alice.id, 10, 0)] == [
            "bob", "carol"]
        assert [u.username for u in await follows.following(s, alice.id, 10, 0)] == [
            "carol", "bob"]
        assert [u.username for u in await follows.followers(s, alice.id, 1, 1)] == ["carol"]
        for people in (follows.followers, follows.following):
            with pytest.raises(NotFound):
                await people(s, gone.id, 10, 0)


async def test_remove_all_follows_removes_both_ways_with_exact_counters_and_seqs(
        database: Database, seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    carol, dave = await seed.user("carol"), await seed.user("dave")
    for follower, followee in ((alice, bob), (bob, alice), (alice, carol), (dave, alice),
                               (bob, carol)):
        async with database.transaction() as q:
            await follows.follow(q, await seed.token(follower), followee.id)
    followed = {(e.payload["follower_id"], e.payload["followee_id"]): e.payload["seq"]
                for e in await seed.events()}
    async with database.transaction() as q:
        unfollowed = await follows.remove_all_follows(q, alice.id, "alice")
    # the edges alice made (by followee), then those made to her (by follower), each
    # newer than its follow, in that order
    assert [(e.follower_id, e.follower_username, e.followee_id) for e in unfollowed] == [
        (alice.id, "alice", bob.id), (alice.id, "alice", carol.id),
        (bob.id, "bob", alice.id), (dave.id, "dave", alice.id)]
    seqs = [e.seq for e in unfollowed]
    assert seqs == sorted(set(seqs)) and seqs[0] > max(followed.values())
    assert await seed.all(select(Follow.follower_id, Follow.followee_id)) == [
        (bob.id, carol.id)]
    # bob both followed and was followed: one less of each; alice's own are left alone
    assert await _counts(seed, alice, bob, carol, dave) == [(2, 2), (0, 1), (1, 0), (0, 0)]
    # returned for the saga step to publish, not written here
    assert (await seed.event_types()).count("user.unfollowed") == 0

    async with database.transaction() as q:  # nothing left to remove
        assert await follows.remove_all_follows(q, alice.id, "alice") == []
