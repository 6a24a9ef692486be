"""Where the test PostgreSQL and RabbitMQ are, and per-test databases and vhosts."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import urllib.parse
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import httpx

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_RABBITMQ_API_URL = "http://guest:guest@127.0.0.1:15672"


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even inside a running loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclass(frozen=True)
class Infra:
    postgres_url: str  # an admin connection (any database) on the server
    amqp_url: str  # the server's default vhost
    rabbitmq_api_url: str  # management HTTP API, with credentials

    def database_url(self, name: str, driver: str = "postgresql+asyncpg") -> str:
        parts = urllib.parse.urlsplit(self.postgres_url)
        return urllib.parse.urlunsplit((driver, parts.netloc, f"/{name}", "", ""))

    def vhost_url(self, vhost: str) -> str:
        parts = urllib.parse.urlsplit(self.amqp_url)
        return urllib.parse.urlunsplit(
            (parts.scheme, parts.netloc, "/" + urllib.parse.quote(vhost, safe=""), "", ""))

    # -------------------------------------------------------------- postgres
    def create_database(self, name: str) -> str:
        async def go() -> None:
            conn = await asyncpg.connect(self.postgres_url)
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        run_sync(go())
        return self.database_url(name)

    def drop_database(self, name: str) -> None:
        async def go() -> None:
            conn = await asyncpg.connect(self.postgres_url)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()

        run_sync(go())

    # -------------------------------------------------------------- rabbitmq
    def _api(self) -> httpx.Client:
        parts = urllib.parse.urlsplit(self.rabbitmq_api_url)
        base = urllib.parse.urlunsplit(
            (parts.scheme, f"{parts.hostname}:{parts.port or 15672}", "", "", ""))
        return httpx.Client(base_url=base, auth=(parts.username or "guest",
                                                 parts.password or "guest"), timeout=30)

    def create_vhost(self, vhost: str) -> str:
        user = urllib.parse.urlsplit(self.amqp_url).username or "guest"
        q = urllib.parse.quote(vhost, safe="")
        with self._api() as api:
            api.put(f"/api/vhosts/{q}").raise_for_status()
            api.put(f"/api/permissions/{q}/{user}",
                    json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
        return self.vhost_url(vhost)

    def delete_vhost(self, vhost: str) -> None:
        with self._api() as api:
            r = api.delete(f"/api/vhosts/{urllib.parse.quote(vhost, safe='')}")
            if r.status_code not in (204, 404):
                r.raise_for_status()


def _docker_reachable() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:  # no engine is an answer, not an error
        return False


@contextlib.contextmanager
def provide_infra() -> Iterator[Infra]:
    """Containers when Docker is reachable and no server was named; else local servers."""
    named = any(os.environ.get(v) for v in ("TEST_POSTGRES_URL", "TEST_AMQP_URL"))
    if not named and os.environ.get("TEST_USE_CONTAINERS", "auto") != "never" \
            and _docker_reachable():
        from testcontainers.postgres import PostgresContainer
        from testcontainers.rabbitmq import RabbitMqContainer

        with PostgresContainer("postgres:15-alpine", driver=None) as pg, \
                RabbitMqContainer("rabbitmq:3.13-management").with_exposed_ports(
                    5672, 15672) as mq:
            pg_url = pg.get_connection_url()
            host = mq.get_container_host_ip()
            yield Infra(
                postgres_url=pg_url,
                amqp_url=f"amqp://guest:guest@{host}:{mq.get_exposed_port(5672)}/",
                rabbitmq_api_url=f"http://guest:guest@{host}:{mq.get_exposed_port(15672)}",
            )
        return
    yield Infra(
        postgres_url=os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        amqp_url=os.environ.get("TEST_AMQP_URL", DEFAULT_AMQP_URL),
        rabbitmq_api_url=os.environ.get("TEST_RABBITMQ_API_URL", DEFAULT_RABBITMQ_API_URL),
    )
