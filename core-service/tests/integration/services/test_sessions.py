"""services/sessions: login sessions whose refresh token (stored as a SHA-256 of its
secret) rotates on every use; a rotated token presented again revokes its session, and
every revocation is announced."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.models import AuthSession, User
from core_service.services import sessions as auth_sessions
from core_service.services.sessions import Grant, InvalidRefreshToken

if TYPE_CHECKING:
    from conftest import Seed

DAY, ACCESS = timedelta(days=1), timedelta(minutes=15)


async def _open(sessions: async_sessionmaker[AsyncSession], user: User,
                lifetime: timedelta = DAY) -> Grant:
    async with sessions() as s, s.begin():
        return await auth_sessions.open_session(s, user.id, user.username, user.token_version,
                                                lifetime)


async def _rotate(sessions: async_sessionmaker[AsyncSession], token: str) -> Grant:
    """Rotate in a transaction that is committed even when the token is refused (a
    reused token's revocation is kept)."""
    async with sessions() as s:
        try:
            return await auth_sessions.rotate(s, token, DAY, ACCESS)
        finally:
            await s.commit()


async def test_open_session_stores_only_the_digest_of_the_secret(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice = await seed.user("alice", token_version=3)
    before = datetime.now(UTC)
    grant = await _open(sessions, alice)
    sid, _, secret = grant.refresh_token.partition(".")
    assert (grant.user_id, grant.username, grant.token_version, grant.session_id.hex) == (
        alice.id, "alice", 3, sid)
    stored = await seed.get(AuthSession, grant.session_id)
    assert stored.user_id == alice.id and stored.revoked_at is None
    assert stored.secret_hash == hashlib.sha256(secret.encode()).digest()
    assert before + DAY <= stored.expires_at <= datetime.now(UTC) + DAY
    assert await seed.events() == []


async def test_rotate_replaces_the_secret_and_extends_the_session(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice = await seed.user("alice")
    first = await _open(sessions, alice, timedelta(hours=1))
    async with sessions() as s, s.begin():  # a password change since: the new version
        await s.execute(update(User).where(User.id == alice.id).values(token_version=2))
    second = await _rotate(sessions, first.refresh_token)
    assert second.session_id == first.session_id
    assert second.refresh_token != first.refresh_token
    assert (second.user_id, second.username, second.token_version) == (alice.id, "alice", 2)
    stored = await seed.get(AuthSession, first.session_id)
    secret = second.refresh_token.partition(".")[2]
    assert stored.secret_hash == hashlib.sha256(secret.encode()).digest()
    assert stored.refreshed_at is not None
    assert stored.expires_at > datetime.now(UTC) + timedelta(hours=23)
    third = await _rotate(sessions, second.refresh_token)  # the new one rotates in turn
    assert third.session_id == first.session_id
    assert await seed.events() == []


async def test_a_reused_refresh_token_revokes_its_session(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice = await seed.user("alice")
    first = await _open(sessions, alice)
    second = await _rotate(sessions, first.refresh_token)
    with pytest.raises(InvalidRefreshToken):
        await _rotate(sessions, first.refresh_token)  # copied, presented again
    assert (await seed.get(AuthSession, first.session_id)).revoked_at is not None
    with pytest.raises(InvalidRefreshToken):  # the current one ends with its session
        await _rotate(sessions, second.refresh_token)
    events = await seed.events()
    assert [e.type for e in events] == ["session.revoked"]
    assert (events[0].payload["user_id"], events[0].payload["session_id"]) == (
        alice.id, str(first.session_id))
    until = datetime.fromisoformat(events[0].payload["until"])
    assert datetime.now(UTC) < until <= datetime.now(UTC) + ACCESS


async def test_rotate_refuses_malformed_unknown_expired_and_deactivated_tokens(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    expired = await _open(sessions, alice, timedelta(seconds=-1))
    of_bob = await _open(sessions, bob)
    async with sessions() as s, s.begin():
        await s.execute(update(User).where(User.id == bob.id).values(is_active=False))
    refused = ["", "no-dot", f"{uuid.uuid4().hex}.", "not-a-uuid.secret",
               f"{uuid.uuid4().hex}.secret", expired.refresh_token, of_bob.refresh_token]
    for token in refused:
        with pytest.raises(InvalidRefreshToken):
            await _rotate(sessions, token)
    # none of these was a reuse: nothing was revoked
    assert await seed.all(select(AuthSession.id).where(AuthSession.revoked_at.is_not(None))
                          ) == []
    assert await seed.events() == []


async def test_log_out_and_revoke_all_revoke_each_session_once(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    phone, laptop, tablet = [await _open(sessions, alice) for _ in range(3)]
    bobs = await _open(sessions, bob)
    await _rotate(sessions, phone.refresh_token)
    async with sessions() as s, s.begin():  # with the rotated token: it ends all the same
        await auth_sessions.log_out(s, phone.refresh_token, ACCESS)
        await auth_sessions.log_out(s, phone.refresh_token, ACCESS)
    async with sessions() as s, s.begin():
        await auth_sessions.revoke_all(s, alice.id, ACCESS)
    revoked = {row.id for row in await seed.all(
        select(AuthSession.id).where(AuthSession.revoked_at.is_not(None)))}
    assert revoked == {phone.session_id, laptop.session_id, tablet.session_id}
    events = await seed.events()  # one each: the second log_out found nothing to revoke
    assert [e.type for e in events] == ["session.revoked"] * 3
    assert events[0].payload["session_id"] == str(phone.session_id)
    assert sorted(e.payload["session_id"] for e in events[1:]) == sorted(
        [str(laptop.session_id), str(tablet.session_id)])
    assert {e.payload["user_id"] for e in events} == {alice.id}
    assert (await seed.get(AuthSession, bobs.session_id)).revoked_at is None
