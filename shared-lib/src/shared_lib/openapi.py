"""What the OpenAPI document of a service says each route answers.

A route declares what is its own (``responses=errors(403, 404)``, and
``accepted(...)`` for a saga-backed write that answers 202 while the saga runs);
:func:`document_routers`, called before an app includes its routers, adds to every route
what its dependencies make possible, so no router repeats it:

* a body: 400 (unreadable), 413 (too large), 422;
* a query, path or header parameter: 422;
* a bearer token: 401;
* a database session: 503 (the database is away, or no connection is free in time);
* a path the gateway throttles: 429.

Every error answer is ``{"detail": ...}``: :class:`~shared_lib.schemas.ErrorOut`, or
:class:`ValidationErrorOut` for 422 (a list of problems, without the input).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import Any

from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.utils import create_model_field
from pydantic import BaseModel, ConfigDict

from shared_lib.schemas import ErrorOut

Responses = dict[int | str, dict[str, Any]]

#: what each error status means, unless the route says more
DESCRIPTIONS: dict[int, str] = {
    400: "The request cannot be carried out (or its body cannot be read)",
    401: "No valid bearer token",
    403: "Not allowed",
    404: "Not found",
    409: "In conflict with the resource's current state",
    413: "The request body is too large",
    422: "The request is not valid",
    429: "Too many requests from this address (answered by the gateway)",
    503: "Temporarily unavailable; retry after Retry-After seconds",
}

_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying",
                                "schema": {"type": "integer"}}}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    429: _RETRY_AFTER,
    503: _RETRY_AFTER,
}


class ValidationIssue(BaseModel):
    """One problem with a request: where, what, and the constraint it broke (never the
    value that was sent)."""

    model_config = ConfigDict(extra="forbid")
    loc: list[str | int]
    msg: str
    type: str
    ctx: dict[str, str | int | float | bool | None] | None = None


class ValidationErrorOut(BaseModel):
    """The body of a 422: the problems found while reading the request, or a sentence
    when the request was read but cannot be carried out as it is."""

    detail: list[ValidationIssue] | str


def error(status: int, description: str | None = None) -> dict[str, Any]:
    """One error answer: its model, description and headers."""
    entry: dict[str, Any] = {
        "model": ValidationErrorOut if status == 422 else ErrorOut,
        "description": description or DESCRIPTIONS.get(status, "Error"),
    }
    if status in _HEADERS:
        entry["headers"] = _HEADERS[status]
    return entry


def errors(*statuses: int) -> Responses:
    """Error answers by status, with the standard descriptions:
    ``responses=errors(403, 404)``. (:func:`described` for descriptions of one's own.)"""
    return {status: error(status) for status in statuses}


def described(descriptions: Mapping[int, str]) -> Responses:
    """Error answers with the route's own descriptions: ``described({409: "..."})``."""
    return {status: error(status, text) for status, text in descriptions.items()}


def accepted(model: type[BaseModel] | None, location: str | None,
             description: str = "Accepted: still being carried out (a saga is running)"
             ) -> Responses:
    """The 202 of a saga-backed write: the body as it stands (if any), and where to look
    for the outcome."""
    entry: dict[str, Any] = {"description": description}
    if model is not None:
        entry["model"] = model
    if location is not None:
        entry["headers"] = {"Location": {"description": location, "required": True,
                                         "schema": {"type": "string"}}}
    return {202: entry}


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def _calls(dependant: Dependant) -> set[Callable[..., Any]]:
    return {d.call for d in _dependants(dependant) if d.call is not None}


def implied_statuses(route: APIRoute, *, authenticates: Collection[Callable[..., Any]],
                     database: Collection[Callable[..., Any]],
                     throttled: Collection[str] = ()) -> set[int]:
    """The error statuses a route can answer because of what it depends on."""
    statuses: set[int] = set()
    if route.body_field is not None:
        statuses |= {400, 413, 422}
    if any(d.query_params or d.path_params or d.header_params or d.cookie_params
           for d in _dependants(route.dependant)):
        statuses.add(422)
    calls = _calls(route.dependant)
    if calls & set(authenticates):
        statuses.add(401)
    if calls & set(database):
        statuses.add(503)
    if route.path in throttled:
        statuses.add(429)
    return statuses


def document_route(route: APIRoute, statuses: Collection[int]) -> None:
    """Add ``statuses`` to the route's answers (what the route declares stands) and give
    every error answer the error model."""
    responses: Responses = dict(route.responses)
    for status in statuses:
        responses.setdefault(status, error(status))
    for status, entry in list(responses.items()):
        code = int(status) if str(status).isdigit() else None
        if code is None or code < 400 or "model" in entry or "content" in entry:
            continue
        filled = error(code, entry.get("description"))
        responses[status] = {**filled, **entry, "model": filled["model"]}
    route.responses = dict(sorted(responses.items(), key=lambda kv: str(kv[0])))
    for status, entry in route.responses.items():
        if "model" in entry:
            route.response_fields[status] = create_model_field(
                name=f"Response_{status}_{route.unique_id}", type_=entry["model"],
                mode="serialization")


def document_routers(routers: Iterable[APIRouter], *,
                     authenticates: Collection[Callable[..., Any]],
                     database: Collection[Callable[..., Any]],
                     throttled: Collection[str] = (),
                     extra: Mapping[str, Responses] | None = None) -> None:
    """Document every route of ``routers`` before an app includes them (see the
    module's docstring); documenting a route twice changes nothing. ``authenticates``
    and ``database`` are the dependencies that read a bearer token and open a database
    session; ``throttled`` the paths the gateway rate-limits; ``extra`` more answers
    of a route, by ``"METHOD /path"`` (what the route declares itself stands)."""
    for router in routers:
        for route in router.routes:
            if not isinstance(route, APIRoute) or not route.include_in_schema:
                continue
            for method in route.methods:
                for status, entry in (extra or {}).get(f"{method} {route.path}", {}).items():
                    route.responses.setdefault(status, entry)
            document_route(route, implied_statuses(
                route, authenticates=authenticates, database=database, throttled=throttled))
