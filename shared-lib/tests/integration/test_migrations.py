"""Each service's migrations, its own branch plus the shared ``messaging`` branch, on
real PostgreSQL: a fresh database ends up exactly as the models say (autogenerate
would find nothing), and a database from before the shared branch existed (the shared
tables made by the service's first revision) is upgraded without failing or losing
rows."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, insert, pool, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from shared_lib.migrations import MESSAGING_BRANCH, alembic_config, upgrade
from shared_lib.tables import inbox, messaging_metadata, outbox, saga_steps, sagas
from testkit.infra import run_sync
from testkit.processes import run_migrations


class Service(NamedTuple):
    package: str
    branch: str  # the branch label of the service's own revisions

    @property
    def script_location(self) -> str:
        return f"{self.package}:migrations"

    def metadata(self) -> list[MetaData]:
        """What the service's ``env.py`` gives autogenerate."""
        models = importlib.import_module(f"{self.package}.models")
        return [models.Base.metadata, messaging_metadata]

    def heads(self, branch: str = "heads") -> set[str]:
        script = ScriptDirectory.from_config(alembic_config(self.script_location))
        spec = branch if branch == "heads" else f"{branch}@head"
        return {rev.revision for rev in script.get_revisions(spec) if rev is not None}


SERVICES = (Service("core_service", "core"), Service("social_service", "social"))
by_service = pytest.mark.parametrize("service", SERVICES, ids=[s.branch for s in SERVICES])


def _on(url: str, work: Callable[[Connection], Any]) -> Any:
    """``work`` on a sync connection to the database, committed."""

    async def go() -> Any:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        try:
            async with engine.begin() as conn:
                return await conn.run_sync(work)
        finally:
            await engine.dispose()

    return run_sync(go())


def _differences(url: str, metadata: list[MetaData]) -> list[Any]:
    """What ``alembic revision --autogenerate`` would write for this database."""
    return _on(url, lambda conn: compare_metadata(MigrationContext.configure(conn), metadata))


def _versions(url: str) -> set[str]:
    return set(_on(url, lambda conn: conn.execute(
        text("SELECT version_num FROM alembic_version")).scalars().all()))


def test_the_shared_branch_is_one_of_each_services_heads() -> None:
    messaging = SERVICES[0].heads(MESSAGING_BRANCH)
    assert len(messaging) == 1
    for service in SERVICES:
        own = service.heads(service.branch)
        assert len(own) == 1 and own.isdisjoint(messaging)
        assert service.heads() == own | messaging
        assert service.heads(MESSAGING_BRANCH) == messaging


@by_service
def test_a_fresh_database_matches_the_models(service: Service, new_database) -> None:  # type: ignore[no-untyped-def]
    url = new_database()
    run_migrations(service.package, url)  # python -m <service>.migrate
    assert _versions(url) == service.heads()
    assert _differences(url, service.metadata()) == []


@by_service
def test_a_database_from_before_the_shared_branch_is_upgraded(
        service: Service, new_database) -> None:  # type: ignore[no-untyped-def]
    url = new_database()
    # the old layout: the service's tables and the shared ones, one alembic_version row
    upgrade(service.script_location, url, f"{service.branch}@head")
    saga_id = uuid.uuid4()

    def old_layout(conn: Connection) -> None:
        # the shared tables as they were then (later ones come with later revisions)
        messaging_metadata.create_all(conn, tables=[outbox, inbox, sagas, saga_steps])
        conn.execute(text("ALTER TABLE outbox DROP COLUMN parked_at"))  # came later
        conn.execute(text("ALTER TABLE sagas DROP COLUMN retry_round"))  # came later
        conn.execute(text("ALTER TABLE outbox DROP COLUMN traceparent"))  # came later
        conn.execute(text("ALTER TABLE sagas DROP COLUMN trace_id, "
                          "DROP COLUMN trace_span_id"))  # came later
        conn.execute(insert(outbox).values(
            message_id=uuid.uuid4(), exchange="x", routing_key="k", message_type="t", body="{}"))
        # an operator retry's round was kept in the saga's data then
        conn.execute(text("INSERT INTO sagas (id, type, status, step_index, data) "
                          "VALUES (:id, 't', 'running', 0, :data)"),
                     {"id": saga_id, "data": '{"user_id": 7, "_retry_round": 2}'})

    _on(url, old_layout)
    assert _versions(url) == service.heads(service.branch)

    run_migrations(service.package, url)  # python -m <service>.migrate
    assert _versions(url) == service.heads()
    assert _differences(url, service.metadata()) == []
    counts = _on(url, lambda conn: (conn.execute(select(outbox.c.id)).all(),
                                    conn.execute(select(sagas.c.id)).scalars().all()))
    assert (len(counts[0]), counts[1]) == (1, [saga_id])
    saga = _on(url, lambda conn: conn.execute(
        select(sagas.c.retry_round, sagas.c.data)).one())
    assert tuple(saga) == (2, {"user_id": 7})

    run_migrations(service.package, url)  # again: nothing left to do
    assert _versions(url) == service.heads()
