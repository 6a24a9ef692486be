"""The supervisor restarts a background task however it ends, except when asked to stop."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Counter, Gauge

from shared_lib.supervisor import Supervisor, cancelled_by_us


def _supervisor() -> tuple[Supervisor, Counter, Gauge]:
    r = CollectorRegistry()
    restarts = Counter("restarts", "", ["task"], registry=r)
    up = Gauge("up", "", ["task"], registry=r)
    return Supervisor(restarts, up, min_backoff=0.001, max_backoff=0.01), restarts, up


async def test_a_task_that_crashes_returns_or_is_cancelled_from_inside_is_restarted() -> None:
    sup, restarts, up = _supervisor()
    runs = 0
    again = asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise RuntimeError("boom")
        if runs == 2:
            return
        if runs == 3:
            # what aiormq does to a pending confirm: a CancelledError nobody asked for
            raise asyncio.CancelledError
        again.set()
        await asyncio.Event().wait()

    sup.start("flaky", flaky)
    await asyncio.wait_for(again.wait(), 5)
    assert runs == 4
    assert restarts.labels("flaky")._value.get() == 3
    assert up.labels("flaky")._value.get() == 1
    assert sup.down() == []
    await sup.stop()
    assert sup.states == []


async def test_a_task_is_reported_down_until_it_runs_again() -> None:
    r = CollectorRegistry()
    sup = Supervisor(Counter("c", "", ["task"], registry=r), Gauge("g", "", ["task"], registry=r),
                     min_backoff=0.2)
    crashed = asyncio.Event()

    async def crash() -> None:
        crashed.set()
        raise RuntimeError("boom")

    sup.start("crash", crash)
    await asyncio.wait_for(crashed.wait(), 5)
    await asyncio.sleep(0.01)
    assert sup.down() == ["crash"]
    await sup.stop()


async def test_stop_cancels_for_good() -> None:
    sup, restarts, _ = _supervisor()
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    sup.start("forever", forever)
    await asyncio.wait_for(started.wait(), 5)
    await sup.stop()
    assert restarts.labels("forever")._value.get() == 0


async def test_cancelled_by_us_tells_own_cancellation_from_a_library_one() -> None:
    seen: list[bool] = []

    async def inner() -> None:
        raise asyncio.CancelledError  # a library's

    async def outer() -> None:
        try:
            await inner()
        except asyncio.CancelledError:
            seen.append(cancelled_by_us())
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append(cancelled_by_us())
            raise

    task = asyncio.create_task(outer())
    await asyncio.sleep(0.01)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    assert seen == [False, True]
