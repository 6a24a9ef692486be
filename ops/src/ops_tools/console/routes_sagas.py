"""Saga search across both services, saga detail with its timeline, and retry."""

from __future__ import annotations

import asyncio
import uuid
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query

from ops_tools.console.audit import session_ref
from ops_tools.console.deps import ActingSession, Console, ConsoleDep, CurrentSession
from ops_tools.console.models import ActionResult, SagaDetailOut, SagaListOut, SagaRef
from ops_tools.console.timeline import build_timeline
from ops_tools.console.upstream import UpstreamError

router = APIRouter(prefix="/api", tags=["sagas"])

Service = Annotated[str, Path(pattern="^(core|social)$")]


class SearchField(StrEnum):
    any = "any"
    saga = "saga"
    user = "user"
    post = "post"


class Status(StrEnum):
    running = "running"
    compensating = "compensating"
    completed = "completed"
    compensated = "compensated"
    failed = "failed"


def search_params(field: SearchField, q: str | None) -> list[dict[str, Any]]:
    """The /ops/sagas queries one search box entry stands for (several: a number may
    be a user or a post)."""
    q = (q or "").strip()
    if not q:
        return [{}]
    try:
        saga_id = uuid.UUID(q)
    except ValueError:
        saga_id = None
    if saga_id is not None and field in (SearchField.any, SearchField.saga):
        return [{"id": str(saga_id)}]
    if not q.isdigit() or int(q) < 1 or field == SearchField.saga:
        raise HTTPException(422, "Enter a saga id (UUID), or a user or post id (a number)")
    if field == SearchField.user:
        return [{"user_id": q}]
    if field == SearchField.post:
        return [{"post_id": q}]
    return [{"user_id": q}, {"post_id": q}]


async def _search(state: Console, queries: list[dict[str, Any]]) -> SagaListOut:
    up = state.up
    found: dict[str, SagaRef] = {}
    errors: dict[str, str] = {}

    async def one(service: str, params: dict[str, Any]) -> None:
        try:
            rows = await up.ops(service, "GET", "/ops/sagas", params=params)
        except UpstreamError as exc:
            errors[service] = str(exc)
            return
        for row in rows:
            found.setdefault(row["id"], SagaRef(service=service, saga=row))

    await asyncio.gather(*(one(s, p) for s in up.services for p in queries))
    sagas = sorted(found.values(), key=lambda r: r.saga["created_at"], reverse=True)
    return SagaListOut(sagas=sagas, errors=errors)


@router.get("/sagas", response_model=SagaListOut)
async def search_sagas(
    state: ConsoleDep, _: CurrentSession,
    q: Annotated[str | None, Query(max_length=64)] = None,
    field: SearchField = SearchField.any,
    status: Status | None = None,
    stuck: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> SagaListOut:
    """Sagas of both services, newest first: by saga id, user id or post id, status."""
    extra: dict[str, Any] = {"limit": limit}
    if status is not None:
        extra["status"] = status.value
    if stuck:
        extra["stuck"] = "true"
    return await _search(state, [{**p, **extra} for p in search_params(field, q)])


@router.get("/attention", response_model=SagaListOut)
async def needing_attention(state: ConsoleDep, _: CurrentSession) -> SagaListOut:
    """Sagas an operator should look at: failed (a compensation that gave up) and
    stuck (running or compensating past their deadline)."""
    return await _search(state, [{"status": "failed", "limit": 100},
                                 {"stuck": "true", "limit": 100}])


async def saga_types(state: Console, service: str) -> list[dict[str, Any]]:
    if service not in state.saga_types:
        state.saga_types[service] = await state.up.ops(service, "GET", "/ops/saga-types")
    return state.saga_types[service]


@router.get("/saga-types")
async def all_saga_types(state: ConsoleDep, _: CurrentSession) -> dict[str, Any]:
    """Each service's saga definitions (steps, handlers, compensations, timeouts)."""
    out: dict[str, Any] = {}
    for service in state.up.services:
        try:
            out[service] = await saga_types(state, service)
        except UpstreamError as exc:
            out[service] = {"error": str(exc)}
    return out


@router.get("/sagas/{service}/{saga_id}", response_model=SagaDetailOut)
async def saga_detail(state: ConsoleDep, _: CurrentSession, service: Service,
                      saga_id: uuid.UUID) -> SagaDetailOut:
    """The saga, its step log, its type's definition, and the timeline they make."""
    try:
        saga = await state.up.ops(service, "GET", f"/ops/sagas/{saga_id}")
        types = await saga_types(state, service)
    except UpstreamError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    definition = next((t for t in types if t["type"] == saga["type"]), None)
    return SagaDetailOut(service=service, saga=saga, definition=definition,
                         timeline=build_timeline(saga, definition, service))


@router.post("/sagas/{service}/{saga_id}/retry", response_model=ActionResult)
async def retry_saga(state: ConsoleDep, session: ActingSession, service: Service,
                     saga_id: uuid.UUID) -> ActionResult:
    """Retry a saga whose compensation gave up (the service's POST /ops/sagas/{id}/retry)."""
    target = f"{service}/saga/{saga_id}"
    try:
        saga = await state.up.ops(service, "POST", f"/ops/sagas/{saga_id}/retry")
    except UpstreamError as exc:
        state.audit.record(operator=session.operator, session=session_ref(session.id),
                           action="saga.retry", target=target, result=f"refused: {exc}")
        return ActionResult(ok=False, message=str(exc))
    state.audit.record(operator=session.operator, session=session_ref(session.id),
                       action="saga.retry", target=target, result=f"ok: {saga['status']}")
    return ActionResult(ok=True, message=f"Retried: the saga is {saga['status']}", saga=saga)
