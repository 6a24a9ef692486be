"""core-service application factory: ``uvicorn core_service.main:create_app --factory``."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from core_service.api import auth, feed, follow, posts, users
from core_service.handlers import SUBSCRIPTIONS
from core_service.sagas import all_sagas
from core_service.settings import CoreSettings
from instasaga.asyncapi import asyncapi_document
from instasaga.services import CORE
from instasaga.topology import system_topology
from shared_lib.app import create_service_app
from shared_lib.openapi import described
from shared_lib.runtime import ServiceRuntime
from shared_lib.security import PasswordHasher, TokenIssuer

#: the paths the gateway rate-limits per client address (429)
THROTTLED = ("/api/auth/register", "/api/auth/login", "/api/auth/token", "/api/auth/refresh")
#: answers of routes beyond what their dependencies imply
RESPONSES = {
    "POST /api/auth/login": described({401: "Incorrect email or password"}),
    "POST /api/auth/token": described({401: "Incorrect username (e-mail) or password"}),
}


def create_app(settings: CoreSettings | None = None) -> FastAPI:
    settings = settings or CoreSettings()
    runtime = ServiceRuntime(service=CORE, settings=settings, sagas=all_sagas(),
                             subscriptions=SUBSCRIPTIONS, topology=system_topology())
    return create_service_app(
        title="core-service", description="Auth, users, posts, comments, likes, follows, feed",
        settings=settings, runtime=runtime, asyncapi=lambda: asyncapi_document(CORE),
        routers=[auth.router, users.router, posts.router, follow.router, feed.router],
        throttled=THROTTLED, responses=RESPONSES,
        state={"hasher": PasswordHasher(rounds=settings.bcrypt_rounds,
                                        concurrency=settings.password_hash_concurrency,
                                        max_waiting=settings.password_hash_queue),
               "issuer": TokenIssuer(settings.private_key_pem, settings.jwt_algorithm,
                                     timedelta(minutes=settings.access_token_minutes))})
