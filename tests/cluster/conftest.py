"""The cluster tests run last: they start three RabbitMQ nodes of their own."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: "cluster" in Path(str(item.path)).parts)  # stable
