"""The deadline scanner: handles sagas whose remote step got no reply in time.

Each due saga is claimed (``FOR UPDATE SKIP LOCKED``, so replicas share the
work) and handled in a transaction of its own: its command re-sent, or the
saga compensated or failed (see :meth:`SagaOrchestrator.handle_due`).

* A transient database error (deadlock, the database restarting) rolls that
  transaction back and ends the scan: the saga is still due and the next scan
  handles it. It never fails a saga.
* Any other error parks the saga as ``failed`` with the error as its reason
  (the operator can retry it) and the scan goes on with the next one. A saga
  that cannot even be failed normally (its type retired by a deploy, say) is
  parked by a plain update, so one bad saga never stops the scanner.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from shared_lib.database import Database, savepoint
from shared_lib.db import is_transient_db_error
from shared_lib.supervisor import cancelled_by_us
from shared_lib.tracing import active, format_traceparent

from .engine import SagaOrchestrator
from .store import SagaState, SqlSagaStore

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DeadlineScanner:
    def __init__(self, db: Database, orchestrator: SagaOrchestrator,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self._db = db
        self._orchestrator = orchestrator
        self._clock = clock

    async def run(self, interval_seconds: float) -> None:
        while True:
            try:
                await self.scan_once()
            except asyncio.CancelledError:
                if cancelled_by_us():
                    raise
                log.warning("saga deadline scan was cancelled from inside; next scan in %.1fs",
                            interval_seconds)
            except Exception as exc:
                log.warning("saga deadline scan stopped (%r); next scan in %.1fs", exc,
                            interval_seconds)
            await asyncio.sleep(interval_seconds)

    async def scan_once(self, limit: int = 100) -> int:
        """Handle up to ``limit`` due sagas; returns how many were handled or parked.
        Raises on a transient database error (the rest waits for the next scan)."""
        handled = 0
        while handled < limit:
            saga_id: uuid.UUID | None = None
            try:
                async with self._db.transaction() as q:
                    store = SqlSagaStore(q)
                    due = await store.claim_due(self._clock(), 1)
                    if not due:
                        break
                    saga_id = due[0].id
                    await self._handle_due(store, due[0])
            except Exception as exc:
                if saga_id is None or is_transient_db_error(exc):
                    raise
                log.exception("saga %s failed while handling its deadline; parked", saga_id)
                await self._park(saga_id, f"error: {exc!r}")
            handled += 1
        return handled

    async def _handle_due(self, store: SqlSagaStore, st: SagaState) -> None:
        """:meth:`SagaOrchestrator.handle_due`, with tracing on in a span of the trace the
        saga started in (what it sends goes on in that trace)."""
        tracing = active()
        if tracing is None or st.trace_id is None or st.trace_span_id is None:
            await self._orchestrator.handle_due(store, st)
            return
        parent = format_traceparent(int(st.trace_id, 16), int(st.trace_span_id, 16))
        with tracing.span(f"saga {st.type} deadline", parent=parent,
                          attributes={"saga.id": str(st.id), "saga.step_index": st.step_index}):
            await self._orchestrator.handle_due(store, st)

    async def _park(self, saga_id: uuid.UUID, reason: str) -> None:
        async with self._db.transaction() as q:
            store = SqlSagaStore(q)
            try:
                async with savepoint(q):
                    await self._orchestrator.fail(store, saga_id, reason)
                return
            except Exception as exc:
                if is_transient_db_error(exc):
                    raise
                log.exception("saga %s could not be failed normally; parked as it is",
                              saga_id)
            await store.park(saga_id, reason)
