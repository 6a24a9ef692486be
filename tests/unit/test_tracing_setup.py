"""Tracing is set up by the app factory only when an endpoint is configured: without
one, no tracer exists and the app is not instrumented."""

from __future__ import annotations

import importlib

import pytest

from shared_lib import tracing


@pytest.mark.parametrize("package", ["core_service", "social_service"])
def test_without_an_endpoint_nothing_is_instrumented(package: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    app = importlib.import_module(f"{package}.main").create_app()  # no lifespan
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
    assert tracing.active() is None


@pytest.mark.parametrize("package", ["core_service", "social_service"])
def test_with_an_endpoint_the_app_is_traced_as_its_service(
        package: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    app = importlib.import_module(f"{package}.main").create_app()
    active = tracing.active()
    try:
        assert active is not None
        assert getattr(app, "_is_instrumented_by_opentelemetry", False)
        service = package.replace("_", "-")
        assert active.provider.resource.attributes["service.name"] == service
    finally:
        tracing.shutdown_tracing(active)
    assert tracing.active() is None


def test_the_service_name_can_be_overridden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "core-canary")
    importlib.import_module("core_service.main").create_app()
    active = tracing.active()
    try:
        assert active is not None
        assert active.provider.resource.attributes["service.name"] == "core-canary"
    finally:
        tracing.shutdown_tracing(active)
