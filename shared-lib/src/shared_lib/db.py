"""Engine and session factory, built by the service at start-up (never at import)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import asyncpg
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


#: the engine events that are a round trip of transaction control each
_TRANSACTION_EVENTS = ("begin", "commit", "rollback", "savepoint", "rollback_savepoint",
                       "release_savepoint")


def count_statements(engine: AsyncEngine, counter: Counter,
                     round_trips: Counter | None = None) -> None:
    """Count executed statements by compiled-cache outcome (``counter`` has the
    label ``compiled``: hit, miss or uncached), and with ``round_trips`` (label
    ``path``) every statement and transaction control statement as ``session``."""
    children = {name: counter.labels(name) for name in ("hit", "miss", "uncached")}
    trips = round_trips.labels("session") if round_trips is not None else None

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _count(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        outcome = _CACHE_OUTCOME.get(getattr(context, "cache_hit", None), "uncached")
        children[outcome].inc()
        if trips is not None:
            trips.inc()

    if trips is not None:
        def _trip(*_args: Any) -> None:
            trips.inc()

        for name in _TRANSACTION_EVENTS:
            event.listen(engine.sync_engine, name, _trip)


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


#: SQLSTATE classes that say "try again later": connection exceptions (08) and
#: insufficient resources (53: too many connections, out of memory or disk)
_TRANSIENT_CLASSES = ("08", "53")
#: single SQLSTATEs that say the same: the server shutting down or starting up
#: (57P01-57P03), a serialization failure or a deadlock (40001, 40P01)
_TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "40001", "40P01"})


def is_transient_sqlstate(code: str | None) -> bool:
    return code is not None and (code[:2] in _TRANSIENT_CLASSES
                                 or code in _TRANSIENT_SQLSTATES)


def error_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every error behind it: the driver's error SQLAlchemy wraps (``orig``),
    causes and contexts, each once."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        error = stack.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        stack += [error.__context__, error.__cause__, getattr(error, "orig", None)]


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error: asyncpg's own, or one wrapped by SQLAlchemy's
    adapter (on ``orig``, or on its cause)."""
    for error in error_chain(exc):
        code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def is_transient_db_error(exc: BaseException) -> bool:
    """Whether an error means the database is (briefly) unavailable or overloaded,
    not a bug: it is classified by SQLSTATE (see above); an error without one is
    transient when it is about the connection (refused, dropped, a pool timeout, or
    asyncpg's protocol left mid-operation when the server ended the connection: its
    ``InternalClientError``, after which the connection is terminated)."""
    code = sqlstate_of(exc)
    if code is not None:
        return is_transient_sqlstate(code)
    if isinstance(exc, OperationalError | InterfaceError | ConnectionError | OSError
                  | PoolTimeout | asyncpg.InterfaceError | asyncpg.InternalClientError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated
