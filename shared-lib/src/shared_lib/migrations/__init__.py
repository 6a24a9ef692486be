"""Alembic glue shared by the services, and the shared tables' migrations.

Each service keeps its own migrations package (``<service>/migrations``) for
its own tables; the tables every service has (outbox, inbox, sagas,
saga_steps: :mod:`shared_lib.tables`) are created by the revisions in
``shared_lib/migrations/versions``, an Alembic branch labelled ``messaging``.
:func:`alembic_config` lists both version directories, so one upgrade to
``heads`` migrates a service's database on both branches, recorded in that
database's own ``alembic_version`` (one row per branch).

A service's ``env.py`` calls :func:`run_env`, which reads the URL from the
service's settings (``DATABASE_URL``) unless one was passed in the Alembic
config, and holds a PostgreSQL advisory lock while migrating, so replicas that
start together migrate once, one after the other.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from alembic.util import coerce_resource_to_filename
from sqlalchemy import MetaData, pool, text
from sqlalchemy.ext.asyncio import create_async_engine

from shared_lib.tables import messaging_metadata

MIGRATION_LOCK_KEY = 0x6D696772  # "migr"
#: the shared tables' revisions (branch label ``messaging``)
MESSAGING_VERSIONS = Path(__file__).resolve().parent / "versions"
MESSAGING_BRANCH = "messaging"


def run_env(service_metadata: MetaData, default_url: str) -> None:
    """Body of a service's Alembic ``env.py`` (its tables plus the shared ones)."""
    target_metadata = [service_metadata, messaging_metadata]
    url = context.config.get_main_option("sqlalchemy.url") or default_url
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(url, target_metadata))


def _do_run(connection: Any, target_metadata: list[MetaData]) -> None:
    connection.execute(text(f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
    try:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        connection.execute(text(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
        connection.commit()


async def _run_online(url: str, target_metadata: list[MetaData]) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_do_run, target_metadata)
    await engine.dispose()


def alembic_config(script_location: str, url: str | None = None) -> Config:
    """The config of a service's migrations (``"core_service:migrations"``): its own
    ``versions`` directory plus the shared branch's."""
    cfg = Config()
    cfg.set_main_option("script_location", script_location)
    service_versions = coerce_resource_to_filename(script_location) / "versions"
    # os.pathsep-separated: "path_separator" for Alembic >= 1.16, the older name before
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_path_separator", "os")
    locations = os.pathsep.join(str(p) for p in (service_versions, MESSAGING_VERSIONS))
    cfg.set_main_option("version_locations", locations.replace("%", "%%"))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(script_location: str, url: str | None = None, revision: str = "heads") -> None:
    """Upgrade a service's database; ``heads`` is the service's branch and the shared one."""
    command.upgrade(alembic_config(script_location, url), revision)
