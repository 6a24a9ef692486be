"""services/auth: registration (names and addresses unique in any case), sign-in by
username or e-mail, re-authentication, and a password change that refuses every older
token and ends every login session."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.models import AuthSession, User
from core_service.services import auth
from core_service.services.auth import Credentials
from shared_lib.errors import BadRequest, Forbidden
from shared_lib.security import PasswordHasher

if TYPE_CHECKING:
    from conftest import Seed

ACCESS = timedelta(minutes=15)


async def _register(sessions: async_sessionmaker[AsyncSession], hasher: PasswordHasher,
                    username: str, email: str, password: str = "correct horse") -> User:
    async with sessions() as s:
        user = await auth.register(s, hasher, username=username, email=email,
                                   password=password, full_name=f"{username} full")
        await s.commit()
        return user


async def test_register_stores_the_user_with_a_hashed_password_and_announces_it(
        sessions: async_sessionmaker[AsyncSession], seed: Seed, hasher: PasswordHasher) -> None:
    user = await _register(sessions, hasher, "Alice", "Alice@Example.COM")
    stored = await seed.get(User, user.id)
    assert (stored.username, stored.email, stored.full_name, stored.is_active) == (
        "Alice", "alice@example.com", "Alice full", True)
    assert stored.hashed_password != "correct horse"
    assert hasher.verify("correct horse", stored.hashed_password)
    events = await seed.events()
    assert [(e.type, e.source) for e in events] == [("user.registered", "core")]
    assert {k: events[0].payload[k] for k in ("user_id", "username", "full_name", "seq",
                                              "token_version", "is_active")} == {
        "user_id": user.id, "username": "Alice", "full_name": "Alice full", "seq": 1,
        "token_version": 1, "is_active": True}


async def test_register_refuses_a_taken_username_or_email_in_any_case(
        sessions: async_sessionmaker[AsyncSession], seed: Seed, hasher: PasswordHasher) -> None:
    await _register(sessions, hasher, "alice", "alice@example.com")
    for username, email, problem in (
            ("ALICE", "other@example.com", "Username already taken"),
            ("other", "Alice@EXAMPLE.com", "Email already registered"),
            ("Alice", "ALICE@example.com", "Email already registered")):
        async with sessions() as s:
            with pytest.raises(BadRequest, match=problem):
                await auth.register(s, hasher, username=username, email=email,
                                    password="whatever", full_name=None)
    assert await seed.all(select(User.username)) == [("alice",)]
    assert await seed.event_types() == ["user.registered"]


async def test_authenticate_an_active_user_by_username_or_email(
        sessions: async_sessionmaker[AsyncSession], seed: Seed, hasher: PasswordHasher) -> None:
    alice = await _register(sessions, hasher, "alice", "alice@example.com")
    async with sessions() as s, s.begin():
        await s.execute(update(User).where(User.id == alice.id).values(token_version=4))
    async with sessions() as s:
        for login in ("alice", "ALICE", "Alice@Example.com"):
            assert await auth.authenticate(s, hasher, login, "correct horse") == Credentials(
                alice.id, "alice", 4)
            assert not s.in_transaction()
        assert await auth.authenticate(s, hasher, "alice", "Correct horse") is None
        assert await auth.authenticate(s, hasher, "nobody", "correct horse") is None
    async with sessions() as s, s.begin():
        await s.execute(update(User).where(User.id == alice.id).values(is_active=False))
    async with sessions() as s:
        assert await auth.authenticate(s, hasher, "alice", "correct horse") is None


async def test_check_password_refuses_a_wrong_or_missing_password(
        sessions: async_sessionmaker[AsyncSession], hasher: PasswordHasher) -> None:
    await _register(sessions, hasher, "alice", "alice@example.com")
    for password in ("wrong horse", "", None):
        async with sessions() as s:
            user = await s.scalar(select(User))
            assert user is not None
            with pytest.raises(Forbidden):
                await auth.check_password(s, hasher, user, password)
    async with sessions() as s:
        user = await s.scalar(select(User))
        assert user is not None
        await auth.check_password(s, hasher, user, "correct horse")
        assert not s.in_transaction()


async def test_change_password_raises_the_token_version_and_ends_every_session(
        sessions: async_sessionmaker[AsyncSession], seed: Seed, hasher: PasswordHasher) -> None:
    alice = await _register(sessions, hasher, "alice", "alice@example.com")
    bob = await seed.user("bob")
    open_ones = [await seed.auth_session(alice) for _ in range(2)]
    await seed.auth_session(alice, revoked=True)
    bobs = await seed.auth_session(bob)
    async with sessions() as s:
        user = await s.get(User, alice.id)
        assert user is not None
        await auth.change_password(s, hasher, user, "correct horse", "new horse!", ACCESS)
        await s.commit()

    stored = await seed.get(User, alice.id)
    assert (stored.token_version, stored.version) == (2, 2)
    async with sessions() as s:
        assert await auth.authenticate(s, hasher, "alice", "new horse!") == Credentials(
            alice.id, "alice", 2)
        assert await auth.authenticate(s, hasher, "alice", "correct horse") is None
    still_open = await seed.all(select(AuthSession.id).where(AuthSession.revoked_at.is_(None)))
    assert still_open == [(bobs,)]
    events = (await seed.events())[1:]  # after user.registered
    assert [e.type for e in events] == ["session.revoked", "session.revoked", "user.updated"]
    assert sorted(e.payload["session_id"] for e in events[:2]) == sorted(map(str, open_ones))
    assert (events[2].payload["token_version"], events[2].payload["seq"]) == (2, 2)


async def test_change_password_with_a_wrong_current_password_changes_nothing(
        sessions: async_sessionmaker[AsyncSession], seed: Seed, hasher: PasswordHasher) -> None:
    alice = await _register(sessions, hasher, "alice", "alice@example.com")
    sid = await seed.auth_session(alice)
    async with sessions() as s:
        user = await s.get(User, alice.id)
        assert user is not None
        with pytest.raises(Forbidden):
            await auth.change_password(s, hasher, user, "wrong horse", "new horse!", ACCESS)
        await s.commit()
    stored = await seed.get(User, alice.id)
    assert (stored.token_version, stored.version) == (1, 1)
    assert hasher.verify("correct horse", stored.hashed_password)
    assert (await seed.get(AuthSession, sid)).revoked_at is None
    assert await seed.event_types() == ["user.registered"]
