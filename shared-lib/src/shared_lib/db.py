"""Engine and session factory, built by the service at start-up (never at import)."""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import Counter
from sqlalchemy import event, text
from sqlalchemy.engine.default import CACHE_HIT, CACHE_MISS
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    create_async_engine,
)
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

log = logging.getLogger(__name__)


def make_engine(url: str, pool_size: int = 20) -> AsyncEngine:
    """No ``pool_pre_ping`` (a round trip on every checkout, on the hot path): after
    a database restart a stale pooled connection fails once, is discarded by the
    pool, and the error is handled as transient (503 / consumer retry).

    No overflow: connections beyond the pool would be opened and closed again under
    every burst (a new server process each time, which cost more CPU than the
    requests themselves at 32 concurrent sagas); a burst waits for a pooled one.

    Each connection keeps up to 500 prepared statements (asyncpg's adapter keeps
    100 by default, fewer than a service's distinct statements: an evicted one is
    prepared again, a round trip)."""
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_recycle=1800,
        connect_args={"prepared_statement_cache_size": 500},
    )


_CACHE_OUTCOME = {CACHE_HIT: "hit", CACHE_MISS: "miss"}


def count_statements(engine: AsyncEngine, counter: Counter) -> None:
    """Count executed statements by compiled-cache outcome (``counter`` has the
    label ``compiled``: hit, miss or uncached)."""
    children = {name: counter.labels(name) for name in ("hit", "miss", "uncached")}

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _count(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        outcome = _CACHE_OUTCOME.get(getattr(context, "cache_hit", None), "uncached")
        children[outcome].inc()


async def wait_for_database(engine: AsyncEngine, max_seconds: float) -> None:
    async for attempt in AsyncRetrying(
        stop=stop_after_delay(max_seconds),
        wait=wait_exponential(multiplier=0.2, max=3),
        retry=retry_if_exception_type(Exception),
        reraise=True,
    ):
        with attempt:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            if attempt.retry_state.attempt_number > 1:
                log.info("database reachable")


#: SQLSTATEs that say "try again": serialization failure, deadlock, the server
#: shutting down or starting up, connection failures
_TRANSIENT_SQLSTATES = {"40001", "40P01", "57P01", "57P02", "57P03", "08000", "08001",
                        "08003", "08004", "08006"}


def is_transient_db_error(exc: BaseException) -> bool:
    """Whether an error means the database is (briefly) unavailable, not a bug."""
    if isinstance(exc, OperationalError | InterfaceError | ConnectionError | OSError
                  | PoolTimeout):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
        code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if code is None and orig is not None:
            # asyncpg's error as wrapped by SQLAlchemy's adapter
            code = getattr(getattr(orig, "__cause__", None), "sqlstate", None)
        return code in _TRANSIENT_SQLSTATES
    return False
