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

from sqlalchemy import delete, func, select, tuple_
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


async def _purge_outbox_batch(engine: AsyncEngine, window: timedelta, batch: int) -> int:
    old = (select(outbox.c.id)
           .where(outbox.c.sent_at.is_not(None), outbox.c.sent_at < func.now() - window)
           .order_by(outbox.c.id).limit(batch).with_for_update(skip_locked=True))
    async with engine.begin() as conn:
        result = await conn.execute(delete(outbox).where(outbox.c.id.in_(old.scalar_subquery())))
    return result.rowcount or 0


async def _purge_inbox_batch(engine: AsyncEngine, window: timedelta, batch: int) -> int:
    old = (select(inbox.c.consumer, inbox.c.message_id)
           .where(inbox.c.processed_at < func.now() - window)
           .limit(batch).with_for_update(skip_locked=True))
    async with engine.begin() as conn:
        result = await conn.execute(
            delete(inbox).where(tuple_(inbox.c.consumer, inbox.c.message_id).in_(old)))
    return result.rowcount or 0


async def _purge_idempotency_batch(engine: AsyncEngine, window: timedelta, batch: int) -> int:
    old = (select(idempotency_keys.c.scope, idempotency_keys.c.key)
           .where(idempotency_keys.c.created_at < func.now() - window)
           .limit(batch).with_for_update(skip_locked=True))
    async with engine.begin() as conn:
        result = await conn.execute(
            delete(idempotency_keys)
            .where(tuple_(idempotency_keys.c.scope, idempotency_keys.c.key).in_(old)))
    return result.rowcount or 0


async def purge_once(engine: AsyncEngine, policy: RetentionPolicy) -> dict[str, int]:
    """Delete everything past its window, batch after batch; returns the counts."""
    removed = {"outbox": 0, "inbox": 0, "idempotency_keys": 0}
    for table, purge, window in (
            ("outbox", _purge_outbox_batch, policy.outbox_window),
            ("inbox", _purge_inbox_batch, policy.inbox_window),
            ("idempotency_keys", _purge_idempotency_batch, policy.idempotency_window)):
        while True:
            n = await purge(engine, window, policy.batch)
            removed[table] += n
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
