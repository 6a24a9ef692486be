"""Fixtures of the service modules' tests: a migrated core database of each test's own,
reached both by ORM sessions and by the asyncpg ``Database`` of the hot reads, and a
seeder of the rows a test starts from (written directly, so that only the function
under test changes counters and writes events)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.domain.posts import PostStatus
from core_service.models import AuthSession, Post, User
from shared_lib.database import Database
from shared_lib.db import make_engine
from shared_lib.security import PasswordHasher
from shared_lib.tables import outbox
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
    return core_db.database


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
