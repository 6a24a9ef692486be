"""social-service application factory: ``uvicorn social_service.main:create_app --factory``."""

from __future__ import annotations

from fastapi import FastAPI

from instasaga.asyncapi import asyncapi_document
from instasaga.services import SOCIAL
from instasaga.topology import system_topology
from shared_lib.app import create_service_app
from shared_lib.runtime import ServiceRuntime
from social_service.api import messages, notifications, search, stories
from social_service.handlers import SUBSCRIPTIONS
from social_service.sagas import all_sagas
from social_service.settings import SocialSettings


def create_app(settings: SocialSettings | None = None) -> FastAPI:
    settings = settings or SocialSettings()
    runtime = ServiceRuntime(service=SOCIAL, settings=settings, sagas=all_sagas(),
                             subscriptions=SUBSCRIPTIONS, topology=system_topology())
    return create_service_app(
        title="social-service", description="Messages, stories, notifications, hashtags, search",
        settings=settings, runtime=runtime, asyncapi=lambda: asyncapi_document(SOCIAL),
        routers=[messages.router, stories.router, notifications.router, search.router])
