"""The overview: both services' saga statistics, outboxes and tasks, and the queues."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from ops_tools.console.audit import AuditRecord
from ops_tools.console.deps import ConsoleDep, CurrentSession
from ops_tools.console.models import OverviewOut, QueueOut, ServiceOverview
from ops_tools.console.upstream import Upstream, UpstreamError

router = APIRouter(prefix="/api", tags=["overview"])


def _rate(stats: dict[str, Any], key: str) -> float:
    return float((stats.get(f"{key}_details") or {}).get("rate") or 0.0)


def queue_out(raw: dict[str, Any]) -> QueueOut:
    stats = raw.get("message_stats") or {}
    return QueueOut(
        name=raw["name"], messages=int(raw.get("messages") or 0),
        ready=int(raw.get("messages_ready") or 0),
        unacked=int(raw.get("messages_unacknowledged") or 0),
        consumers=int(raw.get("consumers") or 0), publish_rate=_rate(stats, "publish"),
        deliver_rate=_rate(stats, "deliver_get"), ack_rate=_rate(stats, "ack"))


async def _service(up: Upstream, service: str) -> ServiceOverview:
    try:
        stats, outbox, tasks = await asyncio.gather(
            up.ops(service, "GET", "/ops/sagas/stats"), up.ops(service, "GET", "/ops/outbox"),
            up.ops(service, "GET", "/ops/tasks"))
    except UpstreamError as exc:
        return ServiceOverview(service=service, error=str(exc))
    return ServiceOverview(service=service, stats=stats, outbox=outbox, tasks=tasks)


@router.get("/overview", response_model=OverviewOut)
async def overview(state: ConsoleDep, _: CurrentSession) -> OverviewOut:
    up = state.up
    services = await asyncio.gather(*(_service(up, s) for s in up.services))
    queues: list[QueueOut] = []
    error = None
    try:
        queues = sorted((queue_out(q) for q in await up.queues()), key=lambda q: q.name)
    except UpstreamError as exc:
        error = str(exc)
    return OverviewOut(services=list(services), queues=queues, queues_error=error,
                       at=datetime.now(UTC))


@router.get("/audit", response_model=list[AuditRecord], tags=["audit"])
async def audit_trail(state: ConsoleDep, _: CurrentSession) -> list[AuditRecord]:
    """The latest actions taken through this console (newest first)."""
    return state.audit.recent()
