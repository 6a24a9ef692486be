"""What every request pays before its endpoint runs: no dependency of either app is a
plain function (FastAPI would run it in its threadpool, a thread hop per request)."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)  # an included router
        if included is not None:
            yield from _routes(included.routes)


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _dependencies(sub)


def _is_async(call: Any) -> bool:
    if inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call):
        return True
    method = type(call).__call__  # a callable object: HTTPBearer
    return not inspect.isfunction(call) and (inspect.iscoroutinefunction(method)
                                             or inspect.isasyncgenfunction(method))


@pytest.mark.parametrize("package", ["core_service", "social_service"])
def test_every_dependency_runs_on_the_event_loop(package: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "test")  # the development keys are accepted
    app = importlib.import_module(f"{package}.main").create_app()  # no lifespan
    routes = list(_routes(app.routes))
    plain = {f"{route.path}: {getattr(d.call, '__qualname__', d.call)}"
             for route in routes
             for d in _dependencies(route.dependant) if d.call is not None
             and not _is_async(d.call)}
    assert plain == set()
    assert sum(1 for r in routes if r.dependant.dependencies) > 10
