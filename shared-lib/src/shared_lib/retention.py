"""Removal of old bookkeeping rows: sent outbox rows, inbox records and idempotency
keys past their window.

Each batch is one short transaction deleting at most ``batch`` rows picked
with ``FOR UPDATE SKIP LOCKED``, so the clean-up never waits on (or blocks)
the relay or a consumer, and the tables do not grow without limit. The inbox
window must be longer than any redelivery can take: a duplicate older than
that would be handled again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Column, ColumnElement, Table, delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from shared_lib.db import is_transient_db_error
from shared_lib.supervisor import cancelled_by_us
from shared_lib.tables import idempotency_keys, inbox, outbox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionPolicy:
    outbox_window: timedelta = timedelta(days=7)
    inbox_window: timedelta = timedelta(days=7)
    idempotency_window: timedelta = timedelta(days=1)
    batch: int = 1000
    interval_seconds: float = 60.0


@dataclass(frozen=True)
class _Kept:
    """A table's rows past a window: which column dates them, which rows count."""

    table: Table
    dated_by: Column[Any]
    only: ColumnElement[bool] | None = None


#: outbox rows are removed once sent (an unsent row is never removed)
_KEPT = {
    "outbox": _Kept(outbox, outbox.c.sent_at, outbox.c.sent_at.is_not(None)),
    "inbox": _Kept(inbox, inbox.c.processed_at),
    "idempotency_keys": _Kept(idempotency_keys, idempotency_keys.c.created_at),
}


async def _purge_batch(engine: AsyncEngine, kept: _Kept, window: timedelta, batch: int) -> int:
    key = tuple_(*kept.table.primary_key.columns)
    old = select(*kept.table.primary_key.columns).where(kept.dated_by < func.now() - window)
    if kept.only is not None:
        old = old.where(kept.only)
    old = old.limit(batch).with_for_update(skip_locked=True)
    async with engine.begin() as conn:
        result = await conn.execute(delete(kept.table).where(key.in_(old)))
    return result.rowcount or 0


async def purge_once(engine: AsyncEngine, policy: RetentionPolicy) -> dict[str, int]:
    """Delete everything past its window, batch after batch; returns the counts."""
    windows = {"outbox": policy.outbox_window, "inbox": policy.inbox_window,
               "idempotency_keys": policy.idempotency_window}
    removed = dict.fromkeys(_KEPT, 0)
    for name, kept in _KEPT.items():
        while True:
            n = await _purge_batch(engine, kept, windows[name], policy.batch)
            removed[name] += n
            if n < policy.batch:
                break
            await asyncio.sleep(0)  # let the relay and consumers in between batches
    return removed


async def run_retention(engine: AsyncEngine, policy: RetentionPolicy) -> None:
    while True:
        try:
            removed = await purge_once(engine, policy)
            if any(removed.values()):
                log.info("retention removed %s", removed)
        except asyncio.CancelledError:
            if cancelled_by_us():
                raise
            log.warning("retention cycle was cancelled from inside")
        except Exception as exc:
            if not is_transient_db_error(exc):
                log.exception("retention cycle failed")
            else:
                log.warning("retention cycle stopped: database unavailable (%r); next in "
                            "%.0f s", exc, policy.interval_seconds)
        await asyncio.sleep(policy.interval_seconds)
