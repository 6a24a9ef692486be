"""social-service application factory: ``uvicorn social_service.main:create_app --factory``."""

from __future__ import annotations

from fastapi import FastAPI

from shared_lib.contracts import SOCIAL
from shared_lib.deps import runtime_lifespan
from shared_lib.logs import configure_logging
from shared_lib.ops import build_ops_router
from shared_lib.runtime import ServiceRuntime
from shared_lib.security import TokenVerifier
from shared_lib.web import install_common
from social_service.api import messages, notifications, search, stories
from social_service.handlers import handler_registry
from social_service.sagas import all_sagas
from social_service.settings import SocialSettings


def create_app(settings: SocialSettings | None = None) -> FastAPI:
    settings = settings or SocialSettings()
    configure_logging(f"{settings.service_name}-service", settings.log_level)
    runtime = ServiceRuntime(service=SOCIAL, settings=settings, sagas=all_sagas(),
                             handlers=handler_registry(settings))


    app = FastAPI(title="social-service", version="0.1.0", lifespan=runtime_lifespan(runtime),
                  description="Messages, stories, notifications, hashtags, search")
    app.state.settings = settings
    app.state.runtime = runtime
    app.state.verifier = TokenVerifier(settings.public_key_pem, settings.jwt_algorithm)
    install_common(app, settings.max_body_bytes, runtime.metrics)
    app.include_router(build_ops_router())
    app.include_router(messages.router)
    app.include_router(stories.router)
    app.include_router(notifications.router)
    app.include_router(search.router)
    return app
