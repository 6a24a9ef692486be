"""Fixtures of core-service's integration tests: a migrated core database of each
test's own, reached both by ORM sessions and by the asyncpg ``Database`` of the
direct data path."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.models import AuthSession, User
from core_service.services.users import AccessToken
from shared_lib.database import Database
from testkit.databases import MigratedDatabase, copy_of, migrated_template
from testkit.infra import Infra


@pytest.fixture(scope="session")
def core_template(infra: Infra) -> Iterator[str]:
    """A database migrated to core's schema once: each test's database is a copy."""
    with migrated_template(infra, "core_service") as name:
        yield name


@pytest.fixture
async def core_db(infra: Infra, core_template: str) -> AsyncIterator[MigratedDatabase]:
    """A new migrated core database for the test, dropped after it."""
    async with copy_of(infra, core_template) as db:
        yield db


@pytest.fixture
def sessions(core_db: MigratedDatabase) -> async_sessionmaker[AsyncSession]:
    """Sessions on this test's migrated core database (the one ``database`` reads)."""
    return core_db.sessions


@pytest.fixture
def database(core_db: MigratedDatabase) -> Database:
    """The direct data path's pool on this test's database."""
    return core_db.database


@pytest.fixture
def login(sessions: async_sessionmaker[AsyncSession]
          ) -> Callable[[User], Awaitable[AccessToken]]:
    """An access token of a user, of a new login session (open for a day) and the
    user's current token version."""

    async def login(user: User) -> AccessToken:
        sid = uuid.uuid4()
        async with sessions() as s, s.begin():
            s.add(AuthSession(id=sid, user_id=user.id, secret_hash=b"x",
                              expires_at=datetime.now(UTC) + timedelta(days=1)))
            version = await s.scalar(select(User.token_version).where(User.id == user.id))
        assert version is not None
        return AccessToken(user.id, version, sid)

    return login
