"""Health, readiness, saga inspection and parked outbox rows (not exposed by the gateway).

``/health`` and ``/ready`` are open (they tell nothing but up or down);
``/metrics`` and ``/ops/*`` are for operators: with ``OPS_TOKEN`` set they ask for
it in the ``X-Ops-Token`` header, without it they are open in development and
test and refused in production.
"""

from __future__ import annotations

import hmac
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, StringConstraints
from sqlalchemy import select, text

from shared_lib.openapi import described
from shared_lib.ops_insight import (
    OutboxOut,
    SagaStatsOut,
    SagaTypeOut,
    TasksOut,
    describe_definitions,
    saga_stats,
    search_filters,
    task_out,
    tasks_out,
)
from shared_lib.outbox import outbox_backlog, parked_rows, republish
from shared_lib.saga import SagaStatus, SqlSagaStore, UnknownSaga
from shared_lib.settings import ServiceSettings
from shared_lib.tables import saga_steps, sagas
from shared_lib.text import SAFE_LINE


class HealthOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    """Whether the service can serve: its database, its broker, and every background
    task and consumer running."""

    status: str
    database: bool
    broker: bool
    #: background tasks and consumers that are down now
    down: list[str] = []


class StepLogOut(BaseModel):
    step: str
    action: str
    detail: str | None
    compensation: bool
    at: datetime


class SagaOut(BaseModel):
    id: uuid.UUID
    type: str
    status: str
    step: str | None
    step_index: int
    attempts: int
    reason: str | None
    deadline: datetime | None
    created_at: datetime
    updated_at: datetime
    data: dict[str, Any]
    steps: list[StepLogOut] | None = None
    #: the trace the saga runs in (tracing on; None otherwise)
    trace_id: str | None = None


class ParkedOut(BaseModel):
    """An outbox row given up on after too many failed deliveries."""

    id: int
    message_id: uuid.UUID
    message_type: str
    exchange: str
    routing_key: str
    attempts: int
    last_error: str | None
    created_at: datetime
    parked_at: datetime


def _runtime(request: Request) -> Any:
    return request.app.state.runtime


def _saga_out(runtime: Any, row: Any, steps: list[Any] | None = None) -> SagaOut:
    definition = runtime.orchestrator.definitions.get(row.type)
    step = None
    if definition is not None and 0 <= row.step_index < len(definition.steps):
        step = definition.steps[row.step_index].name
    return SagaOut(
        id=row.id, type=row.type, status=row.status, step=step, step_index=row.step_index,
        attempts=row.attempts, reason=row.reason, deadline=row.deadline,
        created_at=row.created_at, updated_at=row.updated_at, data=row.data,
        trace_id=row.trace_id,
        steps=[StepLogOut(step=s.step, action=s.action, detail=s.detail,
                          compensation=s.compensation, at=s.at) for s in steps]
        if steps is not None else None,
    )


def operator_guard(settings: ServiceSettings) -> Any:
    """A dependency that lets an operator through (see the module's docstring)."""
    expected = settings.ops_token.get_secret_value().encode() if settings.ops_token else None
    closed = expected is None and settings.is_production

    async def require_operator(
        x_ops_token: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> None:
        if closed:
            raise HTTPException(403, "Operator endpoints are closed: set OPS_TOKEN")
        if expected is not None and not hmac.compare_digest(
                (x_ops_token or "").encode("utf-8", "replace"), expected):
            raise HTTPException(401, "A valid X-Ops-Token header is required")

    return require_operator


#: what an operator endpoint answers besides its own
_OPERATOR = described({401: "OPS_TOKEN is set and the X-Ops-Token header does not match",
                       403: "Production without OPS_TOKEN: operator endpoints are closed"})
_SAGA_STORE = described({503: "The database is unavailable; retry after Retry-After"})


def build_ops_router(settings: ServiceSettings) -> APIRouter:
    router = APIRouter()
    operator = [Depends(operator_guard(settings))]

    @router.get("/health", tags=["ops"], response_model=HealthOut)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/ready", tags=["ops"], response_model=ReadyOut,
                responses={503: {"model": ReadyOut,
                                 "description": "The database or the broker is unreachable, "
                                                "or a background task is down"}})
    async def ready(request: Request) -> JSONResponse:
        runtime = _runtime(request)
        checks = {"database": False, "broker": False}
        try:
            async with runtime.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = True
        except Exception:
            checks["database"] = False
        checks["broker"] = runtime.broker is not None and runtime.broker.is_connected
        down = runtime.not_running()
        ok = all(checks.values()) and not down
        return JSONResponse({"status": "ready" if ok else "not ready", **checks, "down": down},
                            status_code=200 if ok else 503)

    @router.get("/metrics", tags=["ops"], dependencies=operator, response_class=Response,
                responses={200: {"description": "Prometheus text exposition format",
                                 "content": {CONTENT_TYPE_LATEST.split(";")[0]:
                                             {"schema": {"type": "string"}}}},
                           **_OPERATOR})
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(_runtime(request).metrics.registry),
                        media_type=CONTENT_TYPE_LATEST)

    @router.get("/ops/sagas", response_model=list[SagaOut], tags=["ops"], dependencies=operator,
                responses={**_OPERATOR, **_SAGA_STORE})
    async def list_sagas(
        request: Request,
        status: SagaStatus | None = None,
        type: Annotated[Annotated[str, StringConstraints(max_length=64), SAFE_LINE] | None,
                        Query()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        id: Annotated[uuid.UUID | None, Query(description="The saga's id")] = None,
        user_id: Annotated[int | None, Query(ge=1, le=2**63 - 1,
                                             description="A user its data names")] = None,
        post_id: Annotated[int | None, Query(ge=1, le=2**63 - 1,
                                             description="A post its data names")] = None,
        stuck: Annotated[bool, Query(description="Only running or compensating sagas "
                                                 "past their deadline")] = False,
    ) -> list[SagaOut]:
        runtime = _runtime(request)
        q = select(sagas).order_by(sagas.c.created_at.desc()).limit(limit)
        q = search_filters(q, saga_id=id, user_id=user_id, post_id=post_id, stuck=stuck)
        if status is not None:
            q = q.where(sagas.c.status == status.value)
        if type is not None:
            q = q.where(sagas.c.type == type)
        async with runtime.sessions() as session:
            rows = (await session.execute(q)).all()
        return [_saga_out(runtime, r) for r in rows]

    @router.get("/ops/sagas/stats", response_model=SagaStatsOut, tags=["ops"],
                dependencies=operator, responses={**_OPERATOR, **_SAGA_STORE})
    async def saga_statistics(request: Request) -> SagaStatsOut:
        """Sagas by type and status, those started in the last 5 and 60 minutes, and
        those running or compensating past their deadline (stuck)."""
        runtime = _runtime(request)
        async with runtime.engine.connect() as conn:
            return await saga_stats(conn, runtime.service, runtime.orchestrator.definitions)

    @router.get("/ops/saga-types", response_model=list[SagaTypeOut], tags=["ops"],
                dependencies=operator, responses=_OPERATOR)
    async def saga_types(request: Request) -> list[SagaTypeOut]:
        """Each saga this service runs: its steps in order, the service handling each,
        whether it has a compensation, and how long a command's reply is awaited."""
        runtime = _runtime(request)
        orchestrator = runtime.orchestrator
        return describe_definitions(orchestrator.definitions.values(), runtime.service,
                                    orchestrator.step_timeout.total_seconds())

    @router.get("/ops/outbox", response_model=OutboxOut, tags=["ops"],
                dependencies=operator, responses={**_OPERATOR, **_SAGA_STORE})
    async def outbox_health(request: Request) -> OutboxOut:
        """The outbox's backlog (unsent rows, the oldest one's age, parked rows) and
        whether its relay and dispatcher run."""
        runtime = _runtime(request)
        async with runtime.engine.connect() as conn:
            backlog = await outbox_backlog(conn)
        states = {s.name: task_out(s) for s in runtime.supervisor.states}
        relay, dispatcher = states.get("outbox-relay"), states.get("outbox-dispatcher")
        healthy = (relay is not None and relay.running
                   and dispatcher is not None and dispatcher.running)
        return OutboxOut(service=runtime.service, unsent=backlog.unsent,
                         oldest_unsent_seconds=backlog.oldest_seconds, parked=backlog.parked,
                         relay=relay, dispatcher=dispatcher, healthy=healthy)

    @router.get("/ops/tasks", response_model=TasksOut, tags=["ops"], dependencies=operator,
                responses=_OPERATOR)
    async def background_tasks(request: Request) -> TasksOut:
        """The supervised background tasks and the queue consumers, and which are down
        (what ``/ready`` names)."""
        runtime = _runtime(request)
        down = runtime.broker.consumers_down() if runtime.broker is not None else []
        return tasks_out(runtime.service, runtime.supervisor.states, runtime.consumers, down)

    @router.get("/ops/sagas/{saga_id}", response_model=SagaOut, tags=["ops"], dependencies=operator,
                responses={**_OPERATOR, **_SAGA_STORE, **described({404: "No such saga"})})
    async def get_saga(request: Request, saga_id: uuid.UUID) -> SagaOut:
        runtime = _runtime(request)
        async with runtime.sessions() as session:
            row = (await session.execute(select(sagas).where(sagas.c.id == saga_id))).first()
            if row is None:
                raise HTTPException(404, "Saga not found")
            steps = (await session.execute(
                select(saga_steps).where(saga_steps.c.saga_id == saga_id)
                .order_by(saga_steps.c.id))).all()
        return _saga_out(runtime, row, list(steps))

    @router.post("/ops/sagas/{saga_id}/retry", response_model=SagaOut, tags=["ops"],
                 dependencies=operator,
                 responses={**_OPERATOR, **_SAGA_STORE,
                            **described({404: "No such saga",
                                         409: "The saga is not waiting for an operator"})})
    async def retry_saga(request: Request, saga_id: uuid.UUID) -> SagaOut:
        runtime = _runtime(request)
        try:
            async with runtime.consumer_db.transaction() as q:
                await runtime.orchestrator.retry(SqlSagaStore(q), saga_id)
        except UnknownSaga:
            raise HTTPException(404, "Saga not found") from None
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None
        return await get_saga(request, saga_id)

    @router.get("/ops/outbox/parked", response_model=list[ParkedOut], tags=["ops"],
                dependencies=operator, responses={**_OPERATOR, **_SAGA_STORE})
    async def list_parked(request: Request,
                          limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[ParkedOut]:
        """Outbox rows the relay gave up on (their exchange missing, or returned as
        unroutable OUTBOX_MAX_ATTEMPTS times), oldest first."""
        async with _runtime(request).engine.connect() as conn:
            rows = await parked_rows(conn, limit)
        return [ParkedOut.model_validate(r, from_attributes=True) for r in rows]

    @router.post("/ops/outbox/{row_id}/republish", status_code=204, tags=["ops"],
                 dependencies=operator,
                 responses={**_OPERATOR, **_SAGA_STORE,
                            **described({404: "No parked outbox row with that id"})})
    async def republish_parked(request: Request,
                               row_id: Annotated[int, Path(ge=1, le=2**63 - 1)]) -> Response:
        """Make a parked row due again (after the cause is fixed): the relay publishes it
        at once, its attempts counted from zero."""
        runtime = _runtime(request)
        async with runtime.engine.begin() as conn:
            if not await republish(conn, row_id):
                raise HTTPException(404, "No parked outbox row with that id")
        runtime.relay.wake()
        return Response(status_code=204)

    return router
