"""The compose tests run last: they start a Docker engine, and the other tests choose
between local servers and containers (testkit.infra) by whether one answers."""

from __future__ import annotations

import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("compose") is not None)
