"""HTTP plumbing both services use: body size limit, request ids and timing,
error shapes, ID types and bearer-token parsing. (Starting a saga from an
endpoint and waiting for it: :mod:`shared_lib.saga.http`.)"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Annotated, Any

import asyncpg
from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared_lib.db import error_chain, is_transient_db_error
from shared_lib.errors import USE_CASE_ERRORS
from shared_lib.logs import bound
from shared_lib.metrics import Metrics

log = logging.getLogger(__name__)

PG_BIGINT_MAX = 2**63 - 1

#: the deepest a list can be paged into by offset (past it, narrow the query instead)
MAX_OFFSET = 10_000

#: an integer id in a path; out of range is 422, never a database error
IdPath = Annotated[int, Path(ge=1, le=PG_BIGINT_MAX)]
Limit = Annotated[int, Query(ge=1, le=100, description="How many items, at most")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET,
                              description=f"How many items to skip (at most {MAX_OFFSET})")]

bearer_scheme = HTTPBearer(auto_error=False)


class BodySizeLimit:
    """Answer 413 to a request body over ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = True
                if too_big:
                    await _send_json(send, 413, {"detail": "Request body too large"})
                    return
        received = 0
        limit = self.max_bytes

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await _send_json(send, 413, {"detail": "Request body too large"})


class _BodyTooLarge(Exception):
    pass


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    import json

    raw = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(raw)).encode())]})
    await send({"type": "http.response.body", "body": raw})


class RequestContext:
    """Request id (``X-Request-ID``, or a new one) and correlation id bound for the
    request's logs, echoed in the response; duration recorded by route and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        rid = _as_uuid(given[:200])
        status_code = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", str(rid).encode())]
            await send(message)

        with bound(request_id=rid, correlation_id=rid):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                route = scope.get("route")
                template = getattr(route, "path", None) or "unmatched"
                elapsed = time.perf_counter() - started
                self.metrics.http_duration.labels(scope["method"], template,
                                                  str(status_code)).observe(elapsed)
                log.info("%s %s %s", scope["method"], scope["path"], status_code,
                         extra={"fields": {"route": template, "status": status_code,
                                           "ms": round(elapsed * 1000, 2)}})


def _as_uuid(value: str) -> uuid.UUID:
    if not value:
        return uuid.uuid4()
    try:
        return uuid.UUID(value)
    except ValueError:
        return uuid.uuid5(uuid.NAMESPACE_URL, value)


#: constraint values a validation problem may carry (they come from the schema, never
#: from the request)
_SAFE_CONTEXT = frozenset({"min_length", "max_length", "ge", "gt", "le", "lt", "multiple_of",
                           "max_digits", "decimal_places", "pattern", "expected"})


def _printable(value: str) -> str:
    """``value`` as text JSON can carry (a lone surrogate becomes '?')."""
    return value.encode("utf-8", "replace").decode("utf-8")


def validation_issue(error: dict[str, Any]) -> dict[str, Any]:
    """A validation problem as answered: where, what and the broken constraint, but
    neither the input nor anything made of it."""
    kind = str(error.get("type", "value_error"))
    msg = _printable(str(error.get("msg", "")))
    raw = error.get("input")
    if kind == "value_error" and ": " in msg and "email address" in msg:
        msg = msg.split(": ", 1)[0]  # email-validator's reason quotes the address
    if isinstance(raw, str) and len(raw) >= 3 and raw in msg:
        msg = "Value error"
    issue: dict[str, Any] = {
        "loc": [part if isinstance(part, int) else _printable(str(part))
                for part in error.get("loc", ())],
        "msg": msg,
        "type": _printable(kind),
    }
    context = error.get("ctx") or {}
    safe = {key: value if isinstance(value, int | float | bool) or value is None
            else _printable(str(value))
            for key, value in context.items()
            if key in _SAFE_CONTEXT or (kind == "json_invalid" and key == "error")}
    if safe:
        issue["ctx"] = safe
    return issue


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": [validation_issue(e) for e in exc.errors()]},
                        status_code=422)


async def _use_case_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=getattr(exc, "status_code", 400),
                        headers=getattr(exc, "headers", None))


def install_common(app: FastAPI, max_body_bytes: int, metrics: Metrics) -> None:
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.add_middleware(RequestContext, metrics=metrics)

    for error in USE_CASE_ERRORS:
        app.add_exception_handler(error, _use_case_error)
    # never the default answer, which echoes the input (and fails on a lone surrogate)
    app.add_exception_handler(RequestValidationError, _validation_error)

    @app.exception_handler(DBAPIError)
    @app.exception_handler(asyncpg.PostgresError)
    @app.exception_handler(asyncpg.InterfaceError)
    @app.exception_handler(asyncpg.InternalClientError)
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(ConnectionError)
    @app.exception_handler(OSError)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        if unstorable_text(exc):
            # text a request schema let through but the database cannot store: the
            # request's fault, refused as such
            return JSONResponse({"detail": [{
                "loc": ["body"], "type": "unsafe_text",
                "msg": "Text must not contain NUL characters or lone surrogates"}]},
                status_code=422)
        if is_transient_db_error(exc):
            # the database is restarting or unreachable: a retry later will do
            log.warning("%s %s: database unavailable (%r)", request.method, request.url.path,
                        exc)
            return JSONResponse({"detail": "Service temporarily unavailable"},
                                status_code=503, headers={"Retry-After": "1"})
        log.exception("database error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "Internal server error"}, status_code=500)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "Internal server error"}, status_code=500)


#: PostgreSQL's character_not_in_repertoire (NUL in text), untranslatable_character
_UNSTORABLE_SQLSTATES = frozenset({"22021", "22P05"})


def unstorable_text(exc: BaseException) -> bool:
    """Whether a database error is text PostgreSQL cannot take: a NUL character, or a
    lone surrogate the driver cannot encode."""
    return any(isinstance(error, UnicodeEncodeError)
               or getattr(error, "sqlstate", None) in _UNSTORABLE_SQLSTATES
               for error in error_chain(exc))


def bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    if credentials is None or credentials.scheme.lower() != "bearer":
        return None
    return credentials.credentials
