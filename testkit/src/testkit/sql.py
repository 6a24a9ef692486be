"""Direct SQL on a service's database, for tests that inspect or tamper with state."""

from __future__ import annotations

import asyncpg

from .infra import run_sync


def scalar(database_url: str, sql: str) -> object:
    """Run one statement and return the first column of the first row (or None)."""

    async def go() -> object:
        conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    return run_sync(go())
