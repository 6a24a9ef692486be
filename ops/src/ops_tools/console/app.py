"""The console's app factory: nothing is built at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from ops_tools.console import routes_auth, routes_dlqs, routes_overview, routes_sagas
from ops_tools.console.audit import AuditLog
from ops_tools.console.deps import Console
from ops_tools.console.sessions import LoginThrottle, SessionStore
from ops_tools.console.settings import ConsoleSettings
from ops_tools.console.upstream import Upstream

#: the page loads only its own scripts, styles and images
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def create_app(settings: ConsoleSettings | None = None) -> FastAPI:
    settings = settings or ConsoleSettings()  # type: ignore[call-arg]
    state = Console(settings=settings,
                    sessions=SessionStore(settings.session_seconds),
                    throttle=LoginThrottle(settings.login_failures,
                                           settings.login_window_seconds),
                    audit=AuditLog())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.upstream = Upstream(settings)
        try:
            yield
        finally:
            await state.upstream.close()

    app = FastAPI(title="instasaga operator console", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)
    app.state.console = state

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response: Response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    app.include_router(routes_auth.router)
    app.include_router(routes_overview.router)
    app.include_router(routes_sagas.router)
    app.include_router(routes_dlqs.router)
    app.mount("/static", StaticFiles(directory=routes_auth.STATIC), name="static")
    return app
