"""The saga waiter's listening connection is never left open behind it."""

from __future__ import annotations

import asyncio

import pytest

from shared_lib.saga import waiter as waiter_module
from shared_lib.saga.waiter import SagaWaiter


class FakeConnection:
    def __init__(self, fail_listen: bool) -> None:
        self.fail_listen = fail_listen
        self.closed = False

    async def add_listener(self, channel: str, callback: object) -> None:
        if self.fail_listen:
            raise OSError("LISTEN refused")

    def add_termination_listener(self, callback: object) -> None:
        pass

    def is_closed(self) -> bool:
        return self.closed

    async def close(self) -> None:
        self.closed = True


async def test_a_connection_whose_listen_fails_is_closed(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    made: list[FakeConnection] = []
    listening = asyncio.Event()

    async def connect(dsn: str) -> FakeConnection:
        made.append(FakeConnection(fail_listen=len(made) == 0))
        if len(made) == 2:
            listening.set()
        return made[-1]

    monkeypatch.setattr(waiter_module.asyncpg, "connect", connect)
    w = SagaWaiter("postgresql://unused", reconnect_seconds=0)
    await w.start()
    await asyncio.wait_for(listening.wait(), 5)
    await asyncio.sleep(0)  # let the second connection start listening
    await w.stop()
    assert made[0].closed, "the connection whose LISTEN failed was left open"
    assert made[1].closed, "the listening connection outlived stop()"

