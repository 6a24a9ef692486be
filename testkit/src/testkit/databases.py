"""A service's migrated database for integration tests: a template migrated once per
test session, and a copy of it for each test (as fresh as a migration of its own,
and much faster), reached both by ORM sessions and by the asyncpg ``Database`` of
the direct data path."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared_lib.database import Database
from shared_lib.db import make_engine

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
