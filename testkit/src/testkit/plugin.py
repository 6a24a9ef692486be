"""pytest fixtures over real PostgreSQL and RabbitMQ (registered by the root conftest)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .infra import Infra, provide_infra
from .otlp import OtlpReceiver
from .stack import Stack, running_stack


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with provide_infra() as endpoints:
        yield endpoints


def _named(create: Callable[[str], str], remove: Callable[[str], None]
           ) -> Iterator[Callable[[], str]]:
    """A factory of resources with fresh names, all removed afterwards."""
    names: list[str] = []

    def make() -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        names.append(name)
        return create(name)

    yield make
    for name in names:
        remove(name)


@pytest.fixture
def new_database(infra: Infra) -> Iterator[Callable[[], str]]:
    """A factory of empty databases (their URLs), dropped after the test."""
    yield from _named(infra.create_database, infra.drop_database)


@pytest.fixture
def new_vhost(infra: Infra) -> Iterator[Callable[[], str]]:
    """A factory of fresh RabbitMQ vhosts (their AMQP URLs), deleted after the test."""
    yield from _named(infra.create_vhost, infra.delete_vhost)


@pytest.fixture(scope="module")
def stack(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Core, social and the gateway, shared by the tests of one module."""
    log_dir: Path = tmp_path_factory.mktemp("stack")
    with running_stack(infra, log_dir, env={"BANNED_HASHTAGS": "forbidden,spam"}) as s:
        yield s


@pytest.fixture(scope="module")
def otlp() -> Iterator[OtlpReceiver]:
    """An OTLP/HTTP receiver the services of one module export their spans to."""
    with OtlpReceiver() as receiver:
        yield receiver


_LAYERS = {"unit": 0, "integration": 1, "e2e": 2, "browser": 2, "faults": 3}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the fast layers first: unit, integration, end to end (and browser), faults."""

    def layer(item: pytest.Item) -> int:
        parts = Path(str(item.path)).parts
        return next((rank for name, rank in _LAYERS.items() if name in parts), 0)

    items.sort(key=layer)
