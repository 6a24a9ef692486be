"""Engine and session factory, built by the service at start-up (never at import)."""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    create_async_engine,
)
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

log = logging.getLogger(__name__)


def make_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    """No ``pool_pre_ping`` (a round trip on every checkout, on the hot path): after
    a database restart a stale pooled connection fails once, is discarded by the
    pool, and the error is handled as transient (503 / consumer retry)."""
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
    )


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
    if isinstance(exc, OperationalError | InterfaceError | ConnectionError | OSError):
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
