"""Alembic glue shared by the services.

Each service keeps its own migrations package (``<service>/migrations``);
its ``env.py`` calls :func:`run_env`, which reads the URL from the service's
settings (``DATABASE_URL``) unless one was passed in the Alembic config, and
holds a PostgreSQL advisory lock while migrating, so replicas that start
together migrate once, one after the other.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.ext.asyncio import create_async_engine

from shared_lib.tables import messaging_metadata

MIGRATION_LOCK_KEY = 0x6D696772  # "migr"


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
    cfg = Config()
    cfg.set_main_option("script_location", script_location)
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(script_location: str, url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(script_location, url), revision)
