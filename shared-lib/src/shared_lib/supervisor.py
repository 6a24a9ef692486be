"""Supervision of a service's long-running background tasks.

The outbox relay, the saga deadline scanner, the retention sweeper, the saga
waiter's LISTEN loop and the broker's connection keeper are each meant to run
for as long as the process does. A bug, or a library that ends a task in a way
its loop does not expect, would otherwise leave the process serving with one
of them gone for good. Each is started through :class:`Supervisor`: when its
coroutine returns or raises, that is logged, counted
(``background_task_restarts_total{task}``) and the task is started again
after a growing pause; while it is not running the service reports itself not
ready (``/ready`` answers 503).

A ``CancelledError`` is the task's own cancellation only when the task was
asked to stop (``Task.cancelling()``); any other one (aiormq cancels pending
publisher confirms when its heartbeat monitor gives a stalled connection up)
is a failure like any exception. :func:`cancelled_by_us` tells the two apart
for loops that catch errors themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge

log = logging.getLogger(__name__)


def cancelled_by_us() -> bool:
    """Whether the running task has been asked to stop (so a ``CancelledError`` it
    sees is its own cancellation, to be re-raised, and not a library's)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


@dataclass
class TaskState:
    """What the supervisor knows of one task."""

    name: str
    running: bool = False
    restarts: int = 0
    last_error: str | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class Supervisor:
    """Runs named coroutines for ever, restarting each one that ends."""

    def __init__(self, restarts: Counter | None = None, up: Gauge | None = None, *,
                 min_backoff: float = 0.1, max_backoff: float = 5.0) -> None:
        self._restarts = restarts
        self._up = up
        self._min = min_backoff
        self._max = max_backoff
        self._tasks: dict[str, TaskState] = {}

    def start(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run ``run()`` as the task ``name``, and again whenever it ends."""
        if name in self._tasks:
            raise ValueError(f"a background task {name!r} is already supervised")
        state = TaskState(name)
        self._tasks[name] = state
        state.task = asyncio.create_task(self._keep(state, run), name=name)

    @property
    def states(self) -> list[TaskState]:
        return list(self._tasks.values())

    def down(self) -> list[str]:
        """The tasks not running now (between a crash and their restart)."""
        return [s.name for s in self._tasks.values() if not s.running]

    async def _keep(self, state: TaskState, run: Callable[[], Awaitable[None]]) -> None:
        pause = self._min
        loop = asyncio.get_running_loop()
        while True:
            self._set_running(state, True)
            started = loop.time()
            try:
                await run()
                state.last_error = "returned"
                log.error("background task %s returned; restarting it in %.1fs",
                          state.name, pause)
            except asyncio.CancelledError:
                if cancelled_by_us():
                    self._set_running(state, False)
                    raise
                state.last_error = "cancelled by a library"
                log.error("background task %s was cancelled from inside; restarting it in "
                          "%.1fs", state.name, pause)
            except Exception as exc:
                state.last_error = repr(exc)[:500]
                log.exception("background task %s crashed; restarting it in %.1fs",
                              state.name, pause)
            self._set_running(state, False)
            state.restarts += 1
            if self._restarts is not None:
                self._restarts.labels(state.name).inc()
            if loop.time() - started > 60:  # it ran well for a while: a fresh failure
                pause = self._min
            await asyncio.sleep(pause)
            pause = min(pause * 2, self._max)

    def _set_running(self, state: TaskState, running: bool) -> None:
        state.running = running
        if self._up is not None:
            self._up.labels(state.name).set(1 if running else 0)

    async def stop(self) -> None:
        tasks = [s.task for s in self._tasks.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
