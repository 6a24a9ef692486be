"""Direct SQL on a service's database, for tests that inspect or tamper with state."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

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


class HeldConnections:
    """The connections :func:`connections_exhausted` holds; :meth:`fetchval` runs a
    statement on one of them (nobody else can connect meanwhile)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.conns: list[asyncpg.Connection] = []

    def fetchval(self, sql: str) -> object:
        return asyncio.run_coroutine_threadsafe(self.conns[0].fetchval(sql),
                                                self._loop).result(30)


@contextmanager
def connections_exhausted(admin_url: str) -> Iterator[HeldConnections]:
    """Take every free connection slot of the server (as a superuser, the reserved
    ones too) and keep taking each one that frees up, until the block ends: meanwhile
    every new connection anyone opens is refused with 53300 (too many connections)."""
    loop = asyncio.new_event_loop()
    held = HeldConnections(loop)
    stop = threading.Event()
    full = threading.Event()

    async def hold() -> None:
        try:
            while not stop.is_set():
                try:
                    held.conns.append(await asyncpg.connect(admin_url, timeout=5))
                    continue
                except asyncpg.TooManyConnectionsError:
                    full.set()
                except (OSError, asyncpg.PostgresError):
                    pass
                await asyncio.sleep(0.02)
        finally:
            for conn in held.conns:
                with contextlib.suppress(Exception):
                    await conn.close()

    thread = threading.Thread(target=lambda: loop.run_until_complete(hold()), daemon=True,
                              name="connection-hog")
    thread.start()
    try:
        if not full.wait(60):
            raise TimeoutError("the server's connection slots could not be filled")
        yield held
    finally:
        stop.set()
        thread.join(60)
        loop.close()
