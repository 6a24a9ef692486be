"""Direct database access for the hot paths: an asyncpg pool, statements written
once, one round trip per statement.

The request and message paths that run on every call (the sagas, likes, comments
and follows, the hot consumers, the reads with their token check fused in) skip
the ORM session: a :class:`Statement` is SQL text kept beside the service's
tables, executed by
asyncpg as a prepared statement (its per-connection statement cache prepares it
on first use). A read outside :meth:`Database.transaction` runs in autocommit:
one round trip, no BEGIN and no ROLLBACK; :meth:`Database.transaction` gives the
statements of one transaction (:class:`Queries`), with savepoints and callbacks
run after its commit. The SQLAlchemy tables stay the schema (Alembic migrates
it); errors are the driver's own, classified by
:func:`shared_lib.db.is_transient_db_error` like the session's, and a connection
an error shows to be lost is terminated rather than handed out again.

SQLAlchemy is not used for these paths because its async session costs three to
five times asyncpg's CPU per statement here, and its connection pool's checkout
another round of bookkeeping; what these paths need from it (a schema) stays.

Every statement and every round trip is counted (``sql_statements_total`` with
``compiled="direct"``, ``db_round_trips_total`` with ``path="direct"``). With
tracing on (:mod:`shared_lib.tracing`), each transaction of a ``traced`` database is
a span.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
from prometheus_client import Counter

from shared_lib.tracing import SpanKind, Tracing, active

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Statement:
    """One SQL statement with ``$n`` parameters; ``name`` says what it is for
    (logs, tests)."""

    name: str
    sql: str


#: a use case's transaction while the paths move to this module: the ORM session of a
#: path not moved yet, or this module's :class:`Queries`; a function that takes it
#: states its rule once and keeps one statement for each (``isinstance(tx, Queries)``)
Transaction: TypeAlias = "AsyncSession | Queries"


def is_connection_lost(exc: BaseException) -> bool:
    """Whether an error of asyncpg's says the connection itself is no longer usable:
    the server ended it or is shutting down (SQLSTATE class 08, 57P01-57P03), the
    socket broke, or the driver's protocol was left mid-operation by such a break."""
    code = getattr(exc, "sqlstate", None)
    if isinstance(code, str):
        return code.startswith("08") or code in ("57P01", "57P02", "57P03")
    return isinstance(exc, asyncpg.InterfaceError | asyncpg.InternalClientError | OSError)


#: key in an ORM session's ``info`` of the outbox messages its transaction wrote (handed
#: to the outbox dispatcher after the commit: :mod:`shared_lib.outbox`)
SESSION_OUTBOX = "outbox_pending"


def session_outbox(session: AsyncSession) -> list[Any]:
    """The outbox messages the session's transaction has written so far."""
    pending: list[Any] = session.info.setdefault(SESSION_OUTBOX, [])
    return pending


def savepoint(tx: Transaction) -> AbstractAsyncContextManager[Any]:
    """A SAVEPOINT in either kind of transaction; the outbox messages written inside
    one that is rolled back are forgotten with it."""
    if isinstance(tx, Queries):
        return tx.savepoint()
    return _session_savepoint(tx)


@asynccontextmanager
async def _session_savepoint(session: AsyncSession) -> AsyncIterator[None]:
    pending = session_outbox(session)
    mark = len(pending)
    try:
        async with session.begin_nested():
            yield
    except BaseException:
        del pending[mark:]
        raise


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+asyncpg://``) as libpq/asyncpg takes it."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


async def _json_codecs(conn: asyncpg.Connection) -> None:
    """``json`` and ``jsonb`` values as Python objects both ways (as the ORM has them)."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads,
                                  schema="pg_catalog")


async def _nothing_to_reset(conn: asyncpg.Connection) -> None:
    """A connection goes back to the pool as it is: this path keeps no session state
    (no SET, LISTEN, cursor or session-level advisory lock; an open transaction is
    still rolled back by the pool), so the reset query asyncpg would send on every
    release, a round trip each time, has nothing to do."""


class Queries:
    """Statement execution on one connection, counted; inside
    :meth:`Database.transaction`, the transaction's statements."""

    def __init__(self, conn: asyncpg.Connection, db: Database) -> None:
        self._conn = conn
        self._db = db
        #: run once the transaction has committed (never after a rollback)
        self._after_commit: list[Callable[[], None]] = []
        #: the outbox rows this transaction wrote, as the six arrays of each INSERT
        self._outbox: list[Sequence[Sequence[Any]]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once this transaction has committed (each callable once)."""
        if callback not in self._after_commit:
            self._after_commit.append(callback)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A SAVEPOINT: what the block wrote is undone when it raises (and the
        transaction goes on)."""
        nested = self._conn.transaction()
        await nested.start()
        self._db.counted(0, 1)
        mark = len(self._outbox)
        try:
            yield
        except BaseException:
            self._db.counted(0, 1)
            del self._outbox[mark:]  # those rows are rolled back: never to be published
            await nested.rollback()
            raise
        self._db.counted(0, 1)
        await nested.commit()

    def wrote_outbox(self, arrays: Sequence[Sequence[Any]]) -> None:
        """This transaction added these outbox rows (the six arrays of
        :func:`shared_lib.outbox.row_arrays`): they are handed to the database's
        ``outbox_dispatch`` once it commits, to be published at once."""
        if self._db.outbox_dispatch is not None:
            self._outbox.append(arrays)

    async def executemany(self, stmt: Statement, args: Iterable[Sequence[Any]]) -> None:
        """One statement for many rows of arguments, in one round trip."""
        self._db.counted(1)
        await self._conn.executemany(stmt.sql, args)

    async def fetch(self, stmt: Statement, *args: Any) -> list[asyncpg.Record]:
        self._db.counted(1)
        return await self._conn.fetch(stmt.sql, *args)

    async def fetchrow(self, stmt: Statement, *args: Any) -> asyncpg.Record | None:
        self._db.counted(1)
        return await self._conn.fetchrow(stmt.sql, *args)

    async def fetchval(self, stmt: Statement, *args: Any) -> Any:
        self._db.counted(1)
        return await self._conn.fetchval(stmt.sql, *args)

    async def execute(self, stmt: Statement, *args: Any) -> str:
        self._db.counted(1)
        return await self._conn.execute(stmt.sql, *args)


class Database:
    """An asyncpg pool of its own (``size`` connections at most, opened on demand
    after the first), for one kind of work: the HTTP paths have theirs, so a
    backlog of messages cannot take their connections."""

    def __init__(self, url: str, *, size: int = 5, statement_cache_size: int = 500,
                 acquire_timeout: float = 10.0, statements: Counter | None = None,
                 round_trips: Counter | None = None, traced: bool = True) -> None:
        self._dsn = asyncpg_dsn(url)
        #: how long a caller waits for a connection of a full pool (then TimeoutError,
        #: answered as the database being unavailable)
        self._acquire_timeout = acquire_timeout
        self._size = size
        self._statement_cache_size = statement_cache_size
        self._pool: asyncpg.Pool | None = None
        self._statements = statements.labels("direct") if statements is not None else None
        self._round_trips = round_trips.labels("direct") if round_trips is not None else None
        #: each transaction a span when tracing is on (not for the background work's
        #: polling, which would make a trace of every poll)
        self._traced = traced
        #: given the outbox rows of a transaction that has committed (each INSERT's
        #: arrays), to publish them right away (:class:`shared_lib.outbox.OutboxDispatcher`)
        self.outbox_dispatch: Callable[[list[Sequence[Sequence[Any]]]], None] | None = None

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(
            self._dsn, min_size=1, max_size=self._size,
            statement_cache_size=self._statement_cache_size,
            # a connection idle this long is closed (the pool opens one again on demand)
            max_inactive_connection_lifetime=300, init=_json_codecs, reset=_nothing_to_reset)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def dsn(self) -> str:
        return self._dsn

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the database has not been opened")
        return self._pool

    def counted(self, statements: int, extra_round_trips: int = 0) -> None:
        if self._statements is not None and statements:
            self._statements.inc(statements)
        if self._round_trips is not None:
            self._round_trips.inc(statements + extra_round_trips)

    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; one that an error shows to be lost (the server ended
        it, the socket broke, its protocol is confused) is terminated rather than
        handed back, so the pool never gives it out again (a new one is opened)."""
        async with self.pool.acquire(timeout=self._acquire_timeout) as conn:
            try:
                yield conn
            except BaseException as exc:
                if conn.is_closed() or is_connection_lost(exc):
                    conn.terminate()
                raise

    # autocommit: each statement is its own transaction, one round trip

    async def fetch(self, stmt: Statement, *args: Any) -> list[asyncpg.Record]:
        self.counted(1)
        async with self._acquire() as conn:
            return await conn.fetch(stmt.sql, *args)

    async def fetchrow(self, stmt: Statement, *args: Any) -> asyncpg.Record | None:
        self.counted(1)
        async with self._acquire() as conn:
            return await conn.fetchrow(stmt.sql, *args)

    async def fetchval(self, stmt: Statement, *args: Any) -> Any:
        self.counted(1)
        async with self._acquire() as conn:
            return await conn.fetchval(stmt.sql, *args)

    async def execute(self, stmt: Statement, *args: Any) -> str:
        self.counted(1)
        async with self._acquire() as conn:
            return await conn.execute(stmt.sql, *args)

    def transaction(self) -> AbstractAsyncContextManager[Queries]:
        """A transaction: committed when the block ends, rolled back when it raises."""
        tracing = active() if self._traced else None
        if tracing is None:
            return self._transaction()
        return self._traced_transaction(tracing)

    @asynccontextmanager
    async def _traced_transaction(self, tracing: Tracing) -> AsyncIterator[Queries]:
        with tracing.span("transaction", kind=SpanKind.CLIENT,
                          attributes={"db.system": "postgresql"}):
            async with self._transaction() as q:
                yield q

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Queries]:
        async with self._acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            self.counted(0, 1)
            queries = Queries(conn, self)
            try:
                yield queries
            except BaseException:
                self.counted(0, 1)
                try:
                    if not conn.is_closed():
                        await tx.rollback()
                except (asyncpg.PostgresError, asyncpg.InterfaceError,
                        asyncpg.InternalClientError, OSError) as exc:
                    # the connection is gone, and the server rolled back with it: it is
                    # terminated; the error that ended the block is the one raised
                    log.warning("rollback failed (%r): the connection is discarded", exc)
                    conn.terminate()
                raise
            self.counted(0, 1)
            await tx.commit()
            if queries._outbox and self.outbox_dispatch is not None:
                self.outbox_dispatch(queries._outbox)
            for callback in queries._after_commit:
                callback()
