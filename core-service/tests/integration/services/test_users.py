"""services/users: the holder of a still good access token, active users and their
profiles, profile changes one version newer with their ``user.updated``, the post
counter, and the steps of an account's deletion."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.models import AuthSession, Post, StoryRecord, User
from core_service.services import users
from shared_lib.database import Database
from shared_lib.errors import NotFound

if TYPE_CHECKING:
    from conftest import Seed


async def test_token_holder_is_the_active_user_of_a_good_token_only(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob = await seed.user("alice", token_version=2), await seed.user("bob")
    sid, revoked = await seed.auth_session(alice), await seed.auth_session(alice, revoked=True)
    bobs = await seed.auth_session(bob)
    async with sessions() as s:
        holder = await users.token_holder(s, alice.id, 2, sid)
        assert holder is not None and (holder.id, holder.username) == (alice.id, "alice")
        for user_id, version, session_id in (
                (alice.id, 1, sid),  # issued before a password change
                (alice.id, 3, sid),
                (alice.id, 2, revoked),
                (alice.id, 2, uuid.uuid4()),
                (alice.id, 2, bobs),  # a session of someone else
                (bob.id, 1, sid)):
            assert await users.token_holder(s, user_id, version, session_id) is None
    async with sessions() as s, s.begin():
        await s.execute(update(User).where(User.id == alice.id).values(is_active=False))
    async with sessions() as s:
        assert await users.token_holder(s, alice.id, 2, sid) is None


async def test_profile_and_require_active_refuse_a_deactivated_or_missing_user(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice = await seed.user("alice", bio="hello")
    gone = await seed.user("gone", active=False)
    async with sessions() as s:
        assert await users.is_active(s, alice.id)
        await users.require_active(s, alice.id)
        found = await users.profile(s, alice.id)
        assert (found.user.username, found.user.bio, found.has_active_story) == (
            "alice", "hello", False)
        for user_id in (gone.id, gone.id + 1000):
            assert not await users.is_active(s, user_id)
            with pytest.raises(NotFound):
                await users.require_active(s, user_id)
            with pytest.raises(NotFound):
                await users.profile(s, user_id)


async def test_profile_has_an_active_story_while_a_record_has_not_expired(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    now = datetime.now(UTC)
    await seed.rows(StoryRecord,
                    {"story_id": 1, "author_id": alice.id, "expires_at": now + timedelta(hours=1)},
                    {"story_id": 2, "author_id": bob.id, "expires_at": now - timedelta(hours=1)})
    async with sessions() as s:
        assert (await users.profile(s, alice.id)).has_active_story
        assert not (await users.profile(s, bob.id)).has_active_story


async def test_update_profile_writes_the_changes_one_version_newer(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice = await seed.user("alice")
    async with sessions() as s, s.begin():
        assert await users.update_profile(s, alice, {}) is alice  # nothing to change
    assert (await seed.get(User, alice.id)).version == 1
    assert await seed.events() == []

    async with sessions() as s, s.begin():
        user = await s.get(User, alice.id)
        assert user is not None
        updated = await users.update_profile(s, user, {"full_name": "Alice A", "is_private": True})
        assert (updated.full_name, updated.is_private, updated.version) == ("Alice A", True, 2)
    stored = await seed.get(User, alice.id)
    assert (stored.full_name, stored.is_private, stored.version) == ("Alice A", True, 2)
    assert stored.updated_at > alice.updated_at
    [event] = await seed.events()
    assert event.type == "user.updated"
    assert {k: event.payload[k] for k in ("user_id", "full_name", "is_private", "seq")} == {
        "user_id": alice.id, "full_name": "Alice A", "is_private": True, "seq": 2}


async def test_set_active_changes_the_state_once_one_version_newer(
        database: Database, seed: Seed) -> None:
    alice = await seed.user("alice", full_name="Alice A", bio="hello", token_version=3)
    async with database.transaction() as q:
        off = await users.set_active(q, alice.id, False)
        assert off is not None and (off.id, off.is_active, off.version) == (alice.id, False, 2)
        assert await users.set_active(q, alice.id, False) is None  # inactive already
        on = await users.set_active(q, alice.id, True)
        assert on is not None and (on.is_active, on.version) == (True, 3)
        assert await users.set_active(q, alice.id + 1000, True) is None
    stored = await seed.get(User, alice.id)
    assert (stored.is_active, stored.version) == (True, 3)
    assert await seed.events() == []  # the saga step publishes its event itself
    # what the step publishes: the user's fields after the change
    event = users.user_updated_event(on)
    assert (event.seq, event.user_id, event.username, event.full_name, event.bio,
            event.is_active, event.is_private, event.token_version) == (
        3, alice.id, "alice", "Alice A", "hello", True, False, 3)


async def test_post_count_lock_version_and_delete_user(
        sessions: async_sessionmaker[AsyncSession], database: Database, seed: Seed) -> None:
    alice, bob = await seed.user("alice", version=4), await seed.user("bob")
    carol = await seed.user("carol")  # no story records
    await seed.post(alice)
    await seed.rows(StoryRecord, {"story_id": 7, "author_id": alice.id,
                                  "expires_at": datetime.now(UTC) + timedelta(hours=1)},
                    {"story_id": 8, "author_id": bob.id,
                     "expires_at": datetime.now(UTC) + timedelta(hours=1)})
    await seed.auth_session(alice)
    async with database.transaction() as q:
        assert await users.lock_version(q, alice.id) == 4
        async with sessions() as other:  # the row is locked until the transaction ends
            with pytest.raises(DBAPIError, match="could not obtain lock"):
                await other.execute(text("SELECT id FROM users WHERE id = :id FOR UPDATE NOWAIT"),
                                    {"id": alice.id})
        await users.delete_user(q, alice.id)
        assert await users.lock_version(q, alice.id) is None
        await users.delete_user(q, carol.id)
    assert await seed.all(select(User.id)) == [(bob.id,)]
    assert await seed.all(select(StoryRecord.story_id)) == [(8,)]
    assert await seed.all(select(Post)) == [] and await seed.all(select(AuthSession)) == []
