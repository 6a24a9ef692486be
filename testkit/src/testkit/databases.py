"""A service's migrated database for integration tests: a template migrated once per
test session, and a copy of it for each test (as fresh as a migration of its own,
and much faster), reached both by ORM sessions and by the asyncpg ``Database`` of
the direct data path."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared_lib.database import Database
from shared_lib.db import make_engine
from shared_lib.tables import outbox

from .infra import Infra
from .processes import run_migrations


@dataclass(frozen=True)
class MigratedDatabase:
    """A test's migrated database: ORM sessions and an asyncpg pool on it."""

    url: str
    sessions: async_sessionmaker[AsyncSession]
    database: Database


@contextmanager
def migrated_template(infra: Infra, service_package: str) -> Iterator[str]:
    """A database migrated to the service's schema (``run_migrations``), dropped after;
    its name."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    run_migrations(service_package, infra.create_database(name))
    try:
        yield name
    finally:
        infra.drop_database(name)


async def _admin(infra: Infra, sql: str) -> None:
    conn = await asyncpg.connect(infra.postgres_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@asynccontextmanager
async def copy_of(infra: Infra, template: str) -> AsyncIterator[MigratedDatabase]:
    """A new database copied from ``template``, dropped after."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    await _admin(infra, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    url = infra.database_url(name)
    engine = make_engine(url, pool_size=4)
    database = Database(url, size=2)
    try:
        await database.open()
        yield MigratedDatabase(url, async_sessionmaker(engine, expire_on_commit=False),
                               database)
    finally:
        await database.close()
        await engine.dispose()
        await _admin(infra, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class Event:
    """An event as the outbox holds it."""

    type: str
    payload: dict[str, Any]
    source: str


class RowSeed:
    """Rows written and read directly, each call in a transaction of its own (a test's
    seeder subclasses it with the rows of its service)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

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
