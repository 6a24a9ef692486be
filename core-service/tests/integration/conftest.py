"""Fixtures of core-service's integration tests: a migrated core database of each
test's own, reached both by ORM sessions and by the asyncpg ``Database`` of the
direct data path."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.models import AuthSession, User
from core_service.services.users import AccessToken
from shared_lib.database import Database
from shared_lib.db import make_engine
from testkit.infra import Infra
from testkit.processes import run_migrations


@dataclass(frozen=True)
class CoreDatabase:
    """A migrated core database: ORM sessions and an asyncpg pool on it."""

    url: str
    sessions: async_sessionmaker[AsyncSession]
    database: Database


async def _admin(infra: Infra, sql: str) -> None:
    conn = await asyncpg.connect(infra.postgres_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def core_template(infra: Infra) -> Iterator[str]:
    """A database migrated to core's schema once (``run_migrations``): each test's
    database is a copy of it, as fresh as a migration of its own and much faster."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    run_migrations("core_service", infra.create_database(name))
    yield name
    infra.drop_database(name)


@pytest.fixture
async def core_db(infra: Infra, core_template: str) -> AsyncIterator[CoreDatabase]:
    """A new migrated core database for the test, dropped after it."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    await _admin(infra, f'CREATE DATABASE "{name}" TEMPLATE "{core_template}"')
    url = infra.database_url(name)
    engine = make_engine(url, pool_size=4)
    database = Database(url, size=2)
    try:
        await database.open()
        yield CoreDatabase(url, async_sessionmaker(engine, expire_on_commit=False), database)
    finally:
        await database.close()
        await engine.dispose()
        await _admin(infra, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sessions(core_db: CoreDatabase) -> async_sessionmaker[AsyncSession]:
    """Sessions on this test's migrated core database (the one ``database`` reads)."""
    return core_db.sessions


@pytest.fixture
def database(core_db: CoreDatabase) -> Database:
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
