"""Fixtures of the service modules' tests: a seeder of the rows a test starts from
(written directly, so that only the function under test changes counters and writes
events), on the test's own migrated database (``sessions`` and ``database``, from
``../conftest.py``)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.domain.posts import PostStatus
from core_service.models import AuthSession, Post, User
from core_service.services.users import AccessToken
from shared_lib.security import PasswordHasher
from shared_lib.tables import outbox


@pytest.fixture(scope="session")
def hasher() -> PasswordHasher:
    """Fast bcrypt: the tests check what is hashed, not how slowly."""
    return PasswordHasher(rounds=4)


@dataclass(frozen=True)
class Event:
    type: str
    payload: dict[str, Any]
    source: str


class Seed:
    """Rows written directly, each call in a transaction of its own."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def user(self, name: str, *, private: bool = False, active: bool = True,
                   hashed_password: str = "x", **values: Any) -> User:
        async with self.sessions() as s, s.begin():
            return (await s.execute(
                insert(User).values(username=name, email=f"{name}@example.com",
                                    hashed_password=hashed_password, is_private=private,
                                    is_active=active, **values)
                .returning(User))).scalar_one()

    async def post(self, author: User | int, *, status: PostStatus = PostStatus.published,
                   content: str | None = "hi", created_at: datetime | None = None,
                   **values: Any) -> int:
        author_id = author if isinstance(author, int) else author.id
        if created_at is not None:
            values["created_at"] = created_at
        async with self.sessions() as s, s.begin():
            post_id = await s.scalar(
                insert(Post).values(author_id=author_id, content=content,
                                    status=status.value, **values)
                .returning(Post.id))
        assert post_id is not None
        return int(post_id)

    async def auth_session(self, user: User | int, *, revoked: bool = False) -> uuid.UUID:
        """A login session of the user (open for a day, or already revoked)."""
        sid = uuid.uuid4()
        now = datetime.now(UTC)
        await self.rows(AuthSession, {
            "id": sid, "user_id": user if isinstance(user, int) else user.id,
            "secret_hash": b"x", "expires_at": now + timedelta(days=1),
            "revoked_at": now if revoked else None})
        return sid

    async def token(self, user: User | int, *, revoked: bool = False) -> AccessToken:
        """An access token of the user at their current token version, of a new login
        session (or of one already revoked)."""
        user_id = user if isinstance(user, int) else user.id
        sid = await self.auth_session(user_id, revoked=revoked)
        return AccessToken(user_id, (await self.get(User, user_id)).token_version, sid)

    async def tokens_no_longer_good(self, user: User | int) -> list[AccessToken]:
        """Two access tokens of the user that are no longer good: one of a revoked login
        session, and one of an open session whose token version is stale (the user's
        moved on since, as a password change moves it)."""
        revoked = await self.token(user, revoked=True)
        stale = await self.token(user)
        async with self.sessions() as s, s.begin():
            await s.execute(update(User).where(User.id == stale.user_id)
                            .values(token_version=User.token_version + 1))
        return [revoked, stale]

    async def rows(self, model: type[Any], *values: dict[str, Any]) -> None:
        async with self.sessions() as s, s.begin():
            for row in values:
                await s.execute(insert(model).values(**row))

    async def get(self, model: type[Any], key: Any) -> Any:
        """A fresh read of one row (None when it is gone)."""
        async with self.sessions() as s:
            return await s.get(model, key)

    async def all(self, stmt: Any) -> list[Any]:
        async with self.sessions() as s:
            return list((await s.execute(stmt)).all())

    async def events(self) -> list[Event]:
        """What was written to the outbox, oldest first."""
        async with self.sessions() as s:
            rows = (await s.execute(select(outbox.c.message_type, outbox.c.body)
                                    .order_by(outbox.c.id))).all()
        events = []
        for message_type, body in rows:
            envelope = json.loads(body)
            assert envelope["type"] == message_type
            events.append(Event(message_type, envelope["payload"], envelope["source"]))
        return events

    async def event_types(self) -> list[str]:
        return [e.type for e in await self.events()]


@pytest.fixture
def seed(sessions: async_sessionmaker[AsyncSession]) -> Seed:
    return Seed(sessions)
