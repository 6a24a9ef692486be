"""Starting a saga from an HTTP endpoint and waiting for its end.

The saga runs in a transaction of its own; the request waits up to
``SAGA_WAIT_SECONDS`` for the saga to end (announced by ``NOTIFY``, whichever
replica ends it), unless the client sent ``Prefer: respond-async``.

Once the start has committed, the answer is never an error: the saga will run
to its end whatever happens to this request, so a failure to read its state or
its record (a connection PostgreSQL just dropped, a pool timeout) answers 202
with ``Location`` (:func:`answer_started`). With an ``Idempotency-Key`` the saga id
derives from the key and the key is claimed in the start's transaction: a retry
answers the same saga's outcome (:mod:`shared_lib.idempotency`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic

from fastapi import HTTPException, Request, Response
from fastapi.responses import JSONResponse

from shared_lib.database import Statement
from shared_lib.db import is_transient_db_error
from shared_lib.failpoints import failpoint
from shared_lib.idempotency import REPLAYED, ScopedKey, claim_for_saga
from shared_lib.logs import saga_id as saga_var

from .definition import FINAL_STATUSES, D, SagaStatus
from .engine import is_timeout
from .store import SqlSagaStore

log = logging.getLogger(__name__)


_STATE = Statement("sagas.state", "SELECT status, reason FROM sagas WHERE id = $1")


def wants_async(request: Request) -> bool:
    prefer = request.headers.get("prefer", "")
    return any(p.strip().lower() == "respond-async" for p in prefer.split(","))


@dataclass(frozen=True)
class SagaOutcome(Generic[D]):
    saga_id: uuid.UUID
    finished: bool
    status: SagaStatus | None
    reason: str | None
    #: the saga's data as its steps left it in the start's transaction (the ids they
    #: made), or as stored when the request is a retry
    data: D
    #: a retry with an ``Idempotency-Key``: the first request's saga
    replayed: bool = False


async def start_and_wait(
    runtime: Any,
    saga_type: str,
    data: D,
    *,
    respond_async: bool,
    key: ScopedKey | None = None,
) -> SagaOutcome[D]:
    """Start a saga in its own transaction (or, with the ``key`` of an earlier
    request, find that request's saga), then wait up to SAGA_WAIT_SECONDS."""
    saga_id = key.saga_id(saga_type) if key is not None else uuid.uuid4()
    saga_var.set(str(saga_id))
    fut = runtime.waiter.expect(saga_id)
    replayed = False
    try:
        async with runtime.db.transaction() as q:
            store = SqlSagaStore(q)
            if key is None or await claim_for_saga(q, key, saga_id):
                log.info("starting saga %s %s", saga_type, saga_id)
                st = await runtime.orchestrator.start(store, saga_type, data,
                                                      saga_id=saga_id)
                # start() filled ``data`` in place
            else:
                replayed = True
                log.info("a retry of saga %s %s", saga_type, saga_id)
                found = await store.load(saga_id)
                if found is None:  # pragma: no cover - claimed keys name a saga
                    raise RuntimeError(f"saga {saga_id} of an idempotency key is gone")
                st = found
                data = type(data).model_validate(found.data)
    except BaseException:
        runtime.waiter.forget(saga_id, fut)
        raise
    failpoint(f"saga.after_start:{saga_type}")
    if st.status in FINAL_STATUSES:
        runtime.waiter.forget(saga_id, fut)
        return SagaOutcome(saga_id, True, st.status, st.reason, data, replayed)
    wait = runtime.settings.saga_wait_seconds
    if respond_async or wait <= 0:
        runtime.waiter.forget(saga_id, fut)
        return SagaOutcome(saga_id, False, st.status, None, data, replayed)

    async def read() -> tuple[SagaStatus, str | None]:
        row = await runtime.db.fetchrow(_STATE, saga_id)
        if row is None:  # pragma: no cover - the start committed it
            raise RuntimeError(f"saga {saga_id} is gone")
        return SagaStatus(row["status"]), row["reason"]

    async def is_finished() -> bool:
        try:
            return (await read())[0] in FINAL_STATUSES
        except Exception as exc:
            if not is_transient_db_error(exc):
                raise
            return False  # not known yet; the wait goes on

    try:
        finished = await runtime.waiter.wait(saga_id, fut, wait, is_finished)
        if finished == SagaStatus.completed.value:
            return SagaOutcome(saga_id, True, SagaStatus.completed, None, data, replayed)
        status, reason = await read()
    except Exception as exc:
        if not is_transient_db_error(exc):
            raise
        log.warning("saga %s started; its state could not be read (%s)", saga_id, exc)
        return SagaOutcome(saga_id, False, None, None, data, replayed)
    return SagaOutcome(saga_id, finished and status in FINAL_STATUSES, status, reason,
                       data, replayed)


async def start_saga(request: Request, runtime: Any, saga_type: str, data: D,
                     key: ScopedKey | None = None) -> SagaOutcome[D]:
    """What a saga-backed endpoint does: start the saga (or find the one of ``key``)
    and wait for it, unless ``Prefer: respond-async``."""
    return await start_and_wait(runtime, saga_type, data, respond_async=wants_async(request),
                                key=key)


async def run_saga(request: Request, runtime: Any, session: Any, saga_type: str,
                   data: D, key: ScopedKey | None = None) -> SagaOutcome[D]:
    """What a saga-backed endpoint does: hand back the request's database
    connection (the saga runs in its own transaction; ``session`` can still be
    used after), start the saga (or find the one of ``key``) and wait for it, unless
    ``Prefer: respond-async``."""
    await session.close()
    return await start_and_wait(runtime, saga_type, data, respond_async=wants_async(request),
                                key=key)


async def answer_started(outcome: SagaOutcome, location: str,
                         answer: Callable[[], Awaitable[Response]],
                         resource_id: int | None = None) -> Response:
    """The answer of an endpoint whose saga has started: ``answer()`` (which reads the
    record the saga works on), or 202 with ``Location`` (and ``{"id": resource_id,
    "status": "pending"}``) when that read fails on a transient database error, since
    the saga will go on. A replay says so (``Idempotent-Replayed``), whatever the
    answer."""
    replayed = {REPLAYED: "true"} if outcome.replayed else {}
    try:
        response = await answer()
    except HTTPException as exc:
        if replayed:
            raise HTTPException(exc.status_code, exc.detail,
                                headers={**(exc.headers or {}), **replayed}) from None
        raise
    except Exception as exc:
        if not is_transient_db_error(exc):
            raise
        log.warning("saga %s started; its record could not be read (%s): 202",
                    outcome.saga_id, exc)
        response = JSONResponse({"id": resource_id, "status": "pending",
                                 "saga_id": str(outcome.saga_id)},
                                status_code=202, headers={"Location": location})
    response.headers.update(replayed)
    return response


@dataclass(frozen=True)
class Rejections:
    """The HTTP status of each reason a saga can be rejected with (the reasons are
    the saga module's constants, never matched as free text in a route). A
    participant that did not answer in time is 503; any other reason ``default``."""

    statuses: Mapping[str, int] = field(default_factory=dict)
    default: int = 422
    #: the detail for a status, with ``{reason}`` for the saga's reason (default: the
    #: reason itself)
    details: Mapping[int, str] = field(default_factory=dict)
    #: a saga that failed (it waits for an operator) did nothing the client can see:
    #: answer it as refused too, rather than 202 (deletions, whose compensation
    #: restores what was there)
    failed_is_refused: bool = False

    def status_of(self, reason: str | None) -> int:
        if is_timeout(reason):
            return 503
        return self.statuses.get(reason or "", self.default)

    def refusal(self, reason: str | None) -> HTTPException:
        code = self.status_of(reason)
        reason = reason or "The request was rejected"
        template = self.details.get(code)
        return HTTPException(code, template.format(reason=reason) if template else reason)

    def refuses(self, outcome: SagaOutcome) -> bool:
        refused = (SagaStatus.compensated, SagaStatus.failed) if self.failed_is_refused \
            else (SagaStatus.compensated,)
        return outcome.finished and outcome.status in refused


def saga_response(outcome: SagaOutcome, *, rejections: Rejections,
                  body: dict[str, Any] | None = None, location: str | None = None,
                  done_status: int = 201) -> Response:
    """The answer of a saga-backed endpoint: ``done_status`` (with ``body``) when the
    saga completed, the rejection's status when it was rejected, 202 (with
    ``body`` and ``Location``) while it is still running or waits for an operator."""
    headers = {"Location": location} if location else None
    if outcome.finished and outcome.status == SagaStatus.completed:
        status = done_status
    elif rejections.refuses(outcome):
        raise rejections.refusal(outcome.reason)
    else:
        status = 202
    if body is None:
        return Response(status_code=status, headers=headers)
    return JSONResponse(body, status_code=status, headers=headers)


def record_response(outcome: SagaOutcome, *, record_status: SagaStatus | None,
                    rejections: Rejections, body: dict[str, Any], reason: str | None = None,
                    location: str | None = None, unavailable: str | None = None) -> Response:
    """:func:`saga_response` told by the record the saga works on (a post, a message),
    read after the wait rather than the saga's row: the record may be further
    along than the saga was when the wait ended, and one left to an operator
    stays pending (202). ``record_status`` is the outcome the record's state
    stands for (``completed``, ``compensated`` with ``reason``, None while
    pending). With ``unavailable``, a rejection because a participant did not
    answer in time is 503 with that text before the reason."""
    if (record_status == SagaStatus.compensated and unavailable is not None
            and is_timeout(reason)):
        raise HTTPException(503, f"{unavailable}: {reason}")
    told = replace(outcome, finished=record_status is not None, status=record_status,
                   reason=reason)
    return saga_response(told, rejections=rejections, body=body, location=location)
