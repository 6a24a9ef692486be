"""core-service application factory: ``uvicorn core_service.main:create_app --factory``."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from core_service.api import auth, feed, follow, posts, users
from core_service.api.errors import install_error_handlers
from core_service.handlers import handler_registry
from core_service.sagas import all_sagas
from core_service.settings import CoreSettings
from shared_lib.contracts import CORE
from shared_lib.deps import runtime_lifespan
from shared_lib.logs import configure_logging
from shared_lib.ops import build_ops_router
from shared_lib.runtime import ServiceRuntime
from shared_lib.security import PasswordHasher, TokenIssuer, TokenVerifier
from shared_lib.web import install_common


def create_app(settings: CoreSettings | None = None) -> FastAPI:
    settings = settings or CoreSettings()
    configure_logging(f"{settings.service_name}-service", settings.log_level)
    runtime = ServiceRuntime(service=CORE, settings=settings, sagas=all_sagas(),
                             handlers=handler_registry())


    app = FastAPI(title="core-service", version="0.1.0", lifespan=runtime_lifespan(runtime),
                  description="Auth, users, posts, comments, likes, follows, feed")
    app.state.settings = settings
    app.state.runtime = runtime
    app.state.hasher = PasswordHasher(rounds=settings.bcrypt_rounds)
    app.state.issuer = TokenIssuer(settings.private_key_pem, settings.jwt_algorithm,
                                   timedelta(minutes=settings.access_token_minutes))
    app.state.verifier = TokenVerifier(settings.public_key_pem, settings.jwt_algorithm)
    install_common(app, settings.max_body_bytes, runtime.metrics)
    app.include_router(build_ops_router())
    app.include_router(auth.router)
    app.include_router(users.router)
    app.include_router(posts.router)
    app.include_router(follow.router)
    app.include_router(feed.router)
    install_error_handlers(app)
    return app
