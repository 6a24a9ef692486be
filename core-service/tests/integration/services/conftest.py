"""Fixtures of the service modules' tests: a seeder of the rows a test starts from
(written directly, so that only the function under test changes counters and writes
events), on the test's own migrated database (``sessions`` and ``database``, from
``../conftest.py``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.domain.posts import PostStatus
from core_service.models import AuthSession, Post, User
from core_service.services.users import AccessToken
from shared_lib.security import PasswordHasher
from testkit.databases import RowSeed


@pytest.fixture(scope="session")
def hasher() -> PasswordHasher:
    """Fast bcrypt: the tests check what is hashed, not how slowly."""
    return PasswordHasher(rounds=4)


class Seed(RowSeed):
    """core's rows written directly, each call in a transaction of its own."""

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



@pytest.fixture
def seed(sessions: async_sessionmaker[AsyncSession]) -> Seed:
    return Seed(sessions)
