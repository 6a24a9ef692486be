"""The compose tests run last: they start a Docker engine, and the other tests choose
between local servers and containers (testkit.infra) by whether one answers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testkit.compose import engine_answers, start_engine, stop_engine


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("compose") is not None)


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[None]:
    """A Docker engine that answers (the test skipped when none can be started); one
    started here is stopped again at the end of the session."""
    was_running = engine_answers()
    reason = start_engine()
    if reason is not None:
        pytest.skip(reason)
    try:
        yield
    finally:
        if not was_running:
            stop_engine()
