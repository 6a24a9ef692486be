"""Fixtures of core-service's integration tests: a migrated database of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared_lib.db import make_engine
from testkit.processes import run_migrations


@pytest.fixture
async def sessions(new_database) -> AsyncIterator[async_sessionmaker[AsyncSession]]:  # type: ignore[no-untyped-def]
    """Sessions on a new database migrated to core's schema."""
    url = new_database()
    run_migrations("core_service", url)
    engine = make_engine(url, pool_size=4)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()
