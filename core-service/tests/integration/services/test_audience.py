"""services/audience: the relation between a viewer and an owner read from the
database, and the checks made with it (404 for a viewer the owner blocked, 403 for a
private account's stranger or for contact between blocked users)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.domain.audience import Relation
from core_service.models import Block, Follow
from core_service.services import audience
from shared_lib.database import Database
from shared_lib.errors import Forbidden, NotFound

if TYPE_CHECKING:
    from conftest import Seed


async def test_relation_reads_privacy_follows_and_blocks_both_ways(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob = await seed.user("alice", private=True), await seed.user("bob")
    gone = await seed.user("gone", active=False)
    await seed.rows(Follow, {"follower_id": bob.id, "followee_id": alice.id})
    await seed.rows(Block, {"blocker_id": alice.id, "blocked_id": bob.id},
                    {"blocker_id": bob.id, "blocked_id": alice.id})
    async with sessions() as s:
        assert await audience.relation(s, bob.id, alice.id) == Relation(
            bob.id, alice.id, owner_private=True, viewer_follows=True,
            owner_blocked_viewer=True, viewer_blocked_owner=True)
        assert await audience.relation(s, alice.id, bob.id) == Relation(
            alice.id, bob.id, owner_blocked_viewer=True, viewer_blocked_owner=True)
        assert await audience.relation(s, None, alice.id) == Relation(
            None, alice.id, owner_private=True)
        assert await audience.relation(s, bob.id, gone.id) is None
        assert await audience.relation(s, bob.id, gone.id + 1000) is None


async def test_require_profile_hides_an_owner_who_blocked_the_viewer(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob, carol = await seed.user("alice"), await seed.user("bob"), await seed.user("carol")
    gone = await seed.user("gone", active=False)
    await seed.rows(Block, {"blocker_id": alice.id, "blocked_id": bob.id})
    async with sessions() as s:
        for viewer, owner in ((bob, alice), (bob, gone)):
            with pytest.raises(NotFound):
                await audience.require_profile(s, viewer.id, owner.id)
        # the blocker still sees whom they blocked, and others see both
        assert (await audience.require_profile(s, alice.id, bob.id)).viewer_blocked_owner
        assert (await audience.require_profile(s, carol.id, alice.id)).owner_id == alice.id


async def test_require_content_refuses_a_private_accounts_strangers(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice = await seed.user("alice", private=True)
    fan, stranger = await seed.user("fan"), await seed.user("stranger")
    await seed.rows(Follow, {"follower_id": fan.id, "followee_id": alice.id})
    async with sessions() as s:
        for viewer in (stranger.id, None):
            with pytest.raises(Forbidden):
                await audience.require_content(s, viewer, alice.id)
            # the profile itself stays visible
            assert (await audience.require_profile(s, viewer, alice.id)).owner_private
        assert (await audience.require_content(s, fan.id, alice.id)).viewer_follows
        assert (await audience.require_content(s, alice.id, alice.id)).is_self


async def test_require_post_access_refuses_contact_between_blocked_users(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob, carol = await seed.user("alice"), await seed.user("bob"), await seed.user("carol")
    secret = await seed.user("secret", private=True)
    await seed.rows(Block, {"blocker_id": bob.id, "blocked_id": alice.id})
    async with sessions() as s:
        await audience.require_post_access(s, bob.id, alice.id)  # bob still sees alice
        with pytest.raises(Forbidden):
            await audience.require_post_access(s, bob.id, alice.id, contact=True)
        with pytest.raises(NotFound):  # alice does not see bob, who blocked her
            await audience.require_post_access(s, alice.id, bob.id)
        with pytest.raises(NotFound):
            await audience.require_post_access(s, carol.id, secret.id, contact=True)
        await audience.require_post_access(s, carol.id, alice.id, contact=True)
        await audience.require_post_access(s, secret.id, secret.id, contact=True)
        await audience.require_post_access(s, None, alice.id)


async def test_message_standing_holds_whichever_of_the_two_blocked(
        database: Database, seed: Seed) -> None:
    alice, bob, carol = await seed.user("alice"), await seed.user("bob"), await seed.user("carol")
    await seed.rows(Block, {"blocker_id": alice.id, "blocked_id": bob.id})
    async with database.transaction() as q:
        assert (await audience.message_standing(q, alice.id, bob.id)).blocked
        assert (await audience.message_standing(q, bob.id, alice.id)).blocked
        assert not (await audience.message_standing(q, alice.id, carol.id)).blocked
        assert not (await audience.message_standing(q, carol.id, bob.id)).blocked
