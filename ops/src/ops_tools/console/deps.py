"""The console's state and its FastAPI dependencies: the session, and the checks an
action passes (CSRF token, Origin)."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request

from ops_tools.console.audit import AuditLog
from ops_tools.console.sessions import LoginThrottle, Session, SessionStore
from ops_tools.console.settings import ConsoleSettings
from ops_tools.console.upstream import Upstream

COOKIE = "console_session"


@dataclass
class Console:
    settings: ConsoleSettings
    sessions: SessionStore
    throttle: LoginThrottle
    audit: AuditLog
    upstream: Upstream | None = None
    #: each service's saga definitions (/ops/saga-types), read once
    saga_types: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def up(self) -> Upstream:
        assert self.upstream is not None, "the console's lifespan has not started"
        return self.upstream


def console(request: Request) -> Console:
    return request.app.state.console  # type: ignore[no-any-return]


ConsoleDep = Annotated[Console, Depends(console)]


def current_session(request: Request, state: ConsoleDep) -> Session:
    session = state.sessions.get(request.cookies.get(COOKIE))
    if session is None:
        raise HTTPException(401, "Log in first")
    return session


CurrentSession = Annotated[Session, Depends(current_session)]


def same_origin(request: Request) -> bool:
    """Whether the request's Origin (when it sends one) is the console itself."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    parts = urllib.parse.urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == host


def acting_session(
    request: Request, session: CurrentSession,
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> Session:
    """The session of an action: its CSRF token in X-CSRF-Token, from this origin."""
    if not same_origin(request):
        raise HTTPException(403, "Cross-origin request refused")
    if not session.csrf_matches(x_csrf_token):
        raise HTTPException(403, "Missing or wrong X-CSRF-Token")
    return session


ActingSession = Annotated[Session, Depends(acting_session)]
