"""Lets an HTTP request wait for the end of a saga, whichever replica ends it.

The engine announces a finished saga with ``pg_notify('saga_finished', id)``
in the transaction that finishes it; every replica LISTENs on one dedicated
connection and wakes the requests waiting for that id. If the listening
connection is down, waiters fall back to reading the saga row every
``poll_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable

import asyncpg

from shared_lib.supervisor import cancelled_by_us

from .store import SAGA_FINISHED_CHANNEL

log = logging.getLogger(__name__)


class SagaWaiter:
    def __init__(self, dsn: str, poll_seconds: float = 0.5,
                 reconnect_seconds: float = 1.0) -> None:
        self._dsn = dsn
        self._poll = poll_seconds
        self._reconnect = reconnect_seconds
        self._waiting: dict[uuid.UUID, list[asyncio.Future[str | None]]] = {}
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        """Listen in a task of the waiter's own (a service supervises :meth:`run`
        instead)."""
        self._task = asyncio.create_task(self.run(), name="saga-waiter")

    async def stop(self) -> None:
        self._stopping = True
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    @property
    def listening(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def run(self) -> None:
        """LISTEN for finished sagas until stopped, connecting again after a loss."""
        while not self._stopping:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._dsn)
                await conn.add_listener(SAGA_FINISHED_CHANNEL, self._on_notify)
                closed = asyncio.Event()
                conn.add_termination_listener(lambda _c, ev=closed: ev.set())
                self._conn = conn
                await closed.wait()
            except asyncio.CancelledError:
                if cancelled_by_us():
                    raise
                log.warning("saga waiter's connection attempt was cancelled; retrying")
            except Exception as exc:
                log.warning("saga waiter cannot listen (%r); retrying", exc)
            finally:
                self._conn = None
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close()
            await asyncio.sleep(self._reconnect)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        raw_id, _, status = payload.partition(":")
        try:
            saga_id = uuid.UUID(raw_id)
        except ValueError:
            return
        for fut in self._waiting.pop(saga_id, []):
            if not fut.done():
                fut.set_result(status or None)

    def expect(self, saga_id: uuid.UUID) -> asyncio.Future[str | None]:
        """Register interest before the saga's first commit, so no NOTIFY is missed.
        The future's result is the saga's final status."""
        fut: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(saga_id, []).append(fut)
        return fut

    def forget(self, saga_id: uuid.UUID, fut: asyncio.Future[str | None]) -> None:
        futs = self._waiting.get(saga_id)
        if futs and fut in futs:
            futs.remove(fut)
            if not futs:
                del self._waiting[saga_id]

    async def wait(
        self, saga_id: uuid.UUID, fut: asyncio.Future[str | None], timeout: float,
        is_finished: Callable[[], Awaitable[bool]],
    ) -> str | bool:
        """The final status when the saga ended within ``timeout`` seconds (True when
        it was seen ended by polling), False otherwise."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        try:
            while True:
                remaining = end - loop.time()
                if remaining <= 0:
                    return await is_finished()
                try:
                    status = await asyncio.wait_for(asyncio.shield(fut),
                                                    min(remaining, self._poll))
                    return status or True
                except TimeoutError:
                    if await is_finished():
                        return True
        finally:
            self.forget(saga_id, fut)
