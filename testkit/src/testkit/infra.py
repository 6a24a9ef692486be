"""Where the test PostgreSQL and RabbitMQ are, and per-test databases and vhosts."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import time
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
    amqp_url: str  # the server's default vhost (a cluster: every node's, comma-separated)
    rabbitmq_api_url: str  # management HTTP API, with credentials

    def database_url(self, name: str, driver: str = "postgresql+asyncpg") -> str:
        parts = urllib.parse.urlsplit(self.postgres_url)
        return urllib.parse.urlunsplit((driver, parts.netloc, f"/{name}", "", ""))

    def vhost_url(self, vhost: str) -> str:
        """The vhost's AMQP URL (on a cluster, each node's, comma-separated)."""
        def one(url: str) -> str:
            parts = urllib.parse.urlsplit(url.strip())
            return urllib.parse.urlunsplit(
                (parts.scheme, parts.netloc, "/" + urllib.parse.quote(vhost, safe=""), "", ""))

        return ",".join(one(url) for url in self.amqp_url.split(",") if url.strip())

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
        user = urllib.parse.urlsplit(self.amqp_url.split(",")[0]).username or "guest"
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


#: the images of TEST_USE_CONTAINERS's servers (TEST_POSTGRES_IMAGE, TEST_RABBITMQ_IMAGE to
#: change): docker-compose.yml's, which `python3 scripts/compose_stack.py images` (or
#: `make up`) builds as local stand-ins from Debian packages where no registry answers.
#: RabbitMQ's must have the management plugin (its HTTP API makes the vhosts).
POSTGRES_IMAGE = "postgres:15-bookworm"
RABBITMQ_IMAGE = "rabbitmq:3.13-management"


def _docker_client() -> Any:
    """A client of a Docker engine that answers, or None."""
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return client
    except Exception:  # no engine is an answer, not an error
        return None


def _image_available(client: Any, name: str) -> bool:
    """The image is there, or can be pulled."""
    try:
        client.images.get(name)
        return True
    except Exception:
        pass
    try:
        client.images.pull(name)
        return True
    except Exception:
        return False


def _containers_wanted() -> tuple[str, str] | None:
    """The two images when the servers run in containers; None for local servers.

    TEST_USE_CONTAINERS: unset or ``never`` (the default: the local servers, or those
    TEST_POSTGRES_URL and TEST_AMQP_URL name); ``1``/``always`` (an engine and both
    images are required); ``auto``: containers when an engine answers, no server is
    named and both images are there or can be pulled.
    """
    mode = os.environ.get("TEST_USE_CONTAINERS", "never").strip().lower()
    named = any(os.environ.get(v) for v in ("TEST_POSTGRES_URL", "TEST_AMQP_URL"))
    if mode in ("never", "0", "false", "no") or (mode == "auto" and named):
        return None
    required = mode != "auto"
    images = (os.environ.get("TEST_POSTGRES_IMAGE", POSTGRES_IMAGE),
              os.environ.get("TEST_RABBITMQ_IMAGE", RABBITMQ_IMAGE))
    client = _docker_client()
    if client is None:
        if required:
            raise RuntimeError("TEST_USE_CONTAINERS is set but no Docker engine answers")
        return None
    try:
        missing = [name for name in images if not _image_available(client, name)]
        if missing:
            if required:
                raise RuntimeError(
                    f"TEST_USE_CONTAINERS: the images {missing} can be neither found nor "
                    "pulled; `python3 scripts/compose_stack.py images` builds local "
                    "stand-ins (or set TEST_POSTGRES_IMAGE / TEST_RABBITMQ_IMAGE)")
            log.warning("Docker answers but %s cannot be had: using local servers", missing)
            return None
        from testcontainers.core.config import testcontainers_config

        if not testcontainers_config.ryuk_disabled \
                and not _image_available(client, testcontainers_config.ryuk_image):
            # no registry: the containers are removed by the context managers alone
            testcontainers_config.ryuk_disabled = True
        return images
    finally:
        client.close()


def _wait_for_management_api(api_url: str, timeout: float = 60) -> None:
    """The broker answers AMQP before its management API may: wait for the API too."""
    parts = urllib.parse.urlsplit(api_url)
    deadline = time.monotonic() + timeout
    while True:
        try:
            r = httpx.get(f"{parts.scheme}://{parts.hostname}:{parts.port}/api/overview",
                          auth=(parts.username or "guest", parts.password or "guest"),
                          timeout=5)
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"RabbitMQ's management API does not answer at {api_url}")
        time.sleep(0.5)


@contextlib.contextmanager
def provide_infra() -> Iterator[Infra]:
    """Servers in containers (see :func:`_containers_wanted`), else local servers."""
    images = _containers_wanted()
    if images is not None:
        from testcontainers.community.postgres import PostgresContainer
        from testcontainers.community.rabbitmq import RabbitMqContainer

        postgres_image, rabbitmq_image = images
        with PostgresContainer(postgres_image, driver=None) as pg, \
                RabbitMqContainer(rabbitmq_image).with_exposed_ports(5672, 15672) as mq:
            pg_url = pg.get_connection_url()
            host = mq.get_container_host_ip()
            api_url = f"http://guest:guest@{host}:{mq.get_exposed_port(15672)}"
            _wait_for_management_api(api_url)
            yield Infra(
                postgres_url=pg_url,
                amqp_url=f"amqp://guest:guest@{host}:{mq.get_exposed_port(5672)}/",
                rabbitmq_api_url=api_url,
            )
        return
    yield Infra(
        postgres_url=os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        amqp_url=os.environ.get("TEST_AMQP_URL", DEFAULT_AMQP_URL),
        rabbitmq_api_url=os.environ.get("TEST_RABBITMQ_API_URL", DEFAULT_RABBITMQ_API_URL),
    )
