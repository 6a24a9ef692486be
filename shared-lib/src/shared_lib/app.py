"""The one way a service's FastAPI app is put together (its composition root
calls :func:`create_service_app`; nothing is built at import time)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline

from shared_lib.deps import get_database, get_session, runtime_lifespan
from shared_lib.logs import configure_logging
from shared_lib.openapi import Responses, document_routers
from shared_lib.ops import build_ops_router
from shared_lib.runtime import ServiceRuntime
from shared_lib.security import HashingBusy, TokenVerifier
from shared_lib.settings import ServiceSettings
from shared_lib.tracing import setup_tracing
from shared_lib.web import bearer_scheme, install_common


def create_service_app(
    *,
    title: str,
    description: str,
    settings: ServiceSettings,
    runtime: ServiceRuntime,
    routers: Sequence[APIRouter],
    state: dict[str, Any] | None = None,
    configure: Callable[[FastAPI], None] | None = None,
    throttled: Collection[str] = (),
    responses: Mapping[str, Responses] | None = None,
    asyncapi: Callable[[], dict[str, Any]] | None = None,
) -> FastAPI:
    """The app of one service: logging, the runtime in its lifespan, the token
    verifier, the common middleware and error answers, the ops routes, then
    ``routers``; ``state`` goes on ``app.state``, ``configure`` adds the rest
    (exception handlers of the service's own errors, say). Every route's answers are
    documented (:func:`shared_lib.openapi.document_routers`); ``throttled`` are the
    paths the gateway rate-limits (429), ``responses`` more answers of some routes, by
    ``"METHOD /path"``; ``asyncapi`` builds the service's AsyncAPI document (served
    at ``/asyncapi.json`` where the docs are)."""
    settings.check_deployable()
    configure_logging(f"{settings.service_name}-service", settings.log_level)
    tracing = setup_tracing(settings.otel_service_name or f"{settings.service_name}-service",
                            settings.otel_exporter_otlp_endpoint)
    docs = settings.serves_docs
    common: dict[str, Any] = {"title": title, "version": "0.1.0", "description": description,
                              "lifespan": runtime_lifespan(runtime, tracing)}
    # /docs and /redoc with their scripts and styles served by the service itself
    # (no CDN: they work offline); none of it in production unless asked for
    app = (FastAPIOffline(**common, static_url="/docs-assets") if docs
           else FastAPI(**common, docs_url=None, redoc_url=None, openapi_url=None))
    app.state.settings = settings
    app.state.runtime = runtime
    #: the paths the gateway rate-limits (its locations are generated from the apps)
    app.state.throttled = tuple(sorted(throttled))
    app.state.verifier = TokenVerifier(settings.public_key_pem, settings.jwt_algorithm)
    for name, value in (state or {}).items():
        setattr(app.state, name, value)
    install_common(app, settings.max_body_bytes, runtime.metrics)
    app.add_exception_handler(HashingBusy, _hashing_busy)
    ops_router = build_ops_router(settings)
    # every dependency that reads a bearer token reads it through ``bearer_scheme``
    document_routers([ops_router, *routers], authenticates=(bearer_scheme,),
                     database=(get_session, get_database), throttled=throttled, extra=responses)
    app.include_router(ops_router)
    if docs and asyncapi is not None:
        app.add_api_route("/asyncapi.json", _asyncapi_route(asyncapi),
                          include_in_schema=False)
    for router in routers:
        app.include_router(router)
    if configure is not None:
        configure(app)
    if tracing is not None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=tracing.provider, exclude_spans=["receive", "send"],
            excluded_urls="/health,/ready,/metrics")
    return app


async def _hashing_busy(_request: Request, _exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": "Too many sign-ins at once: try again shortly"},
                        status_code=503, headers={"Retry-After": "1"})


def _asyncapi_route(build: Callable[[], dict[str, Any]]) -> Callable[[], Any]:
    """``GET /asyncapi.json``: the service's messages as AsyncAPI 3.0 (built once)."""
    document: dict[str, Any] = {}

    async def asyncapi() -> dict[str, Any]:
        if not document:
            document.update(build())
        return document

    return asyncapi
