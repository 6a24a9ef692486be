"""The console's clients: both services' /ops endpoints (with X-Ops-Token) and the
RabbitMQ management API."""

from __future__ import annotations

import urllib.parse
from typing import Any

import httpx

from ops_tools.console.settings import ConsoleSettings

DLQ_SUFFIX = ".dlq"


class UpstreamError(Exception):
    """A service or the management API could not be read, or refused."""

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.status = status


class Upstream:
    def __init__(self, settings: ConsoleSettings,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.services = {"core": settings.core_url.rstrip("/"),
                         "social": settings.social_url.rstrip("/")}
        self.vhost = settings.vhost
        self._ops = httpx.AsyncClient(
            headers={"X-Ops-Token": settings.ops_token.get_secret_value()},
            timeout=settings.upstream_timeout_seconds, transport=transport)
        self._rabbit = httpx.AsyncClient(
            base_url=settings.rabbitmq_api.rstrip("/"),
            auth=(settings.rabbitmq_user, settings.rabbitmq_password.get_secret_value()),
            timeout=settings.upstream_timeout_seconds, transport=transport)

    async def close(self) -> None:
        await self._ops.aclose()
        await self._rabbit.aclose()

    # -------------------------------------------------------------- services
    def _url(self, service: str, path: str) -> str:
        base = self.services.get(service)
        if base is None:
            raise UpstreamError(f"no service {service!r}", 404)
        return base + path

    async def ops(self, service: str, method: str, path: str,
                  params: dict[str, Any] | None = None) -> Any:
        try:
            r = await self._ops.request(method, self._url(service, path), params=params)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"{service}: {type(exc).__name__}: {exc}") from exc
        if r.status_code >= 400:
            raise UpstreamError(f"{service} answered {r.status_code}: {_detail(r)}",
                                r.status_code if r.status_code in (404, 409) else 502)
        return r.json() if r.content else None

    # -------------------------------------------------------------- rabbitmq
    def _vhost_path(self, suffix: str = "") -> str:
        return f"/api/queues/{urllib.parse.quote(self.vhost, safe='')}{suffix}"

    async def rabbit(self, method: str, path: str, json: Any = None) -> Any:
        try:
            r = await self._rabbit.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"RabbitMQ management API: {type(exc).__name__}: {exc}"
                                ) from exc
        if r.status_code >= 400:
            raise UpstreamError(f"RabbitMQ management API answered {r.status_code}: "
                                f"{_detail(r)}", 404 if r.status_code == 404 else 502)
        return r.json() if r.content else None

    async def queues(self) -> list[dict[str, Any]]:
        return list(await self.rabbit("GET", self._vhost_path()))

    async def peek(self, queue: str, count: int) -> list[dict[str, Any]]:
        """Up to ``count`` messages of ``queue``, put back where they were."""
        name = urllib.parse.quote(queue, safe="")
        return list(await self.rabbit("POST", self._vhost_path(f"/{name}/get"), json={
            "count": count, "ackmode": "reject_requeue_true", "encoding": "auto",
            "truncate": 50_000}))


def _detail(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return r.text[:300]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("reason") or body)[:300]
    return str(body)[:300]
