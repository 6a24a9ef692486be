"""The hot paths' direct database access on a real PostgreSQL: autocommit reads
in one round trip, transactions that commit or roll back, the round trips
counted, and the failures a request answers as 503 classified as transient."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from prometheus_client import CollectorRegistry, Counter

from shared_lib.database import Database, Statement, asyncpg_dsn
from shared_lib.db import is_transient_db_error

CREATE = Statement("create", "CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)")
INSERT = Statement("insert", "INSERT INTO notes (id, body) VALUES ($1, $2)")
BODY = Statement("body", "SELECT body FROM notes WHERE id = $1")
BACKEND = Statement("backend", "SELECT pg_backend_pid()")


class Counted:
    def __init__(self) -> None:
        registry = CollectorRegistry()
        self.statements = Counter("sql_statements_total", "", ["compiled"], registry=registry)
        self.round_trips = Counter("db_round_trips_total", "", ["path"], registry=registry)
        self.registry = registry

    def value(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def db(new_database) -> AsyncIterator[tuple[Database, Counted]]:  # type: ignore[no-untyped-def]
    counted = Counted()
    database = Database(new_database(), size=2, acquire_timeout=0.5,
                        statements=counted.statements, round_trips=counted.round_trips)
    await database.open()
    await database.execute(CREATE)
    try:
        yield database, counted
    finally:
        await database.close()


async def test_a_read_outside_a_transaction_is_one_autocommit_round_trip(db) -> None:
    database, counted = db
    before = counted.value("db_round_trips_total", path="direct")
    await database.execute(INSERT, 1, "committed by itself")
    assert await database.fetchval(BODY, 1) == "committed by itself"
    assert counted.value("db_round_trips_total", path="direct") == before + 2
    assert counted.value("sql_statements_total", compiled="direct") == 3  # with CREATE
    # no transaction was left open: another connection sees the row
    other = await asyncpg.connect(database.dsn)
    try:
        assert await other.fetchval(BODY.sql, 1) == "committed by itself"
    finally:
        await other.close()


async def test_a_transaction_commits_or_rolls_back_as_a_whole(db) -> None:
    database, counted = db
    before = counted.value("db_round_trips_total", path="direct")
    async with database.transaction() as tx:
        await tx.execute(INSERT, 1, "kept")
        await tx.execute(INSERT, 2, "kept too")
    # BEGIN, two statements, COMMIT
    assert counted.value("db_round_trips_total", path="direct") == before + 4
    with pytest.raises(asyncpg.UniqueViolationError):
        async with database.transaction() as tx:
            await tx.execute(INSERT, 3, "gone with the rollback")
            await tx.execute(INSERT, 1, "a duplicate")
    assert await database.fetchval(BODY, 1) == "kept"
    assert await database.fetchval(BODY, 3) is None


async def test_a_full_pool_times_out_as_a_transient_error(db) -> None:
    database, _ = db
    async with database.transaction(), database.transaction():  # both connections held
        with pytest.raises(TimeoutError) as caught:
            await database.fetchval(BODY, 1)
    assert is_transient_db_error(caught.value)
    assert await database.fetchval(BODY, 1) is None  # and the pool serves again


async def test_a_connection_the_server_dropped_is_a_transient_error(db) -> None:
    database, _ = db
    with pytest.raises(Exception) as caught:
        async with database.transaction() as tx:
            pid = await tx.fetchval(BACKEND)
            admin = await asyncpg.connect(database.dsn)
            try:
                # pg_terminate_backend(pid, timeout) waits until the backend is gone
                assert await admin.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
            finally:
                await admin.close()
            await asyncio.wait_for(tx.fetchval(BODY, 1), 10)
    assert is_transient_db_error(caught.value), repr(caught.value)
    # the pool replaces the dropped connection
    assert await database.fetchval(BODY, 1) is None


def test_a_sqlalchemy_url_is_given_to_asyncpg_without_its_driver() -> None:
    assert asyncpg_dsn("postgresql+asyncpg://u@h:5432/d") == "postgresql://u@h:5432/d"
    assert asyncpg_dsn("postgresql://u@h/d") == "postgresql://u@h/d"


async def test_a_savepoint_undoes_its_block_only(db) -> None:
    database, _ = db
    async with database.transaction() as tx:
        await tx.execute(INSERT, 1, "kept")
        with pytest.raises(asyncpg.UniqueViolationError):
            async with tx.savepoint():
                await tx.execute(INSERT, 2, "undone with the savepoint")
                await tx.execute(INSERT, 1, "a duplicate")
        await tx.execute(INSERT, 3, "after the savepoint")
    assert [await database.fetchval(BODY, i) for i in (1, 2, 3)] == [
        "kept", None, "after the savepoint"]


async def test_after_commit_runs_once_after_a_commit_and_never_after_a_rollback(db) -> None:
    database, _ = db
    calls: list[str] = []

    def woken() -> None:
        calls.append("woken")

    async with database.transaction() as tx:
        tx.after_commit(woken)
        tx.after_commit(woken)  # the same callable once
        await tx.execute(INSERT, 1, "committed")
        assert calls == []  # not before the commit
    assert calls == ["woken"]
    with pytest.raises(asyncpg.UniqueViolationError):
        async with database.transaction() as tx:
            tx.after_commit(woken)
            await tx.execute(INSERT, 1, "a duplicate")
    assert calls == ["woken"]


async def test_json_values_are_python_objects_both_ways(db) -> None:
    database, _ = db
    value = {"outcome": "accepted", "data": {"ids": [1, 2]}, "note": None}
    assert await database.fetchval(Statement("json", "SELECT $1::jsonb"), value) == value
