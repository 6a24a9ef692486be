"""Dead-letter queues: their counts, a look at their messages, and replay."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query

from ops_tools.console.audit import session_ref
from ops_tools.console.deps import ActingSession, ConsoleDep, CurrentSession
from ops_tools.console.models import (
    DeathOut,
    DlqOut,
    PeekedMessage,
    PeekOut,
    ReplayIn,
    ReplayOut,
    ReplayOutcomeOut,
)
from ops_tools.console.upstream import DLQ_SUFFIX, UpstreamError
from ops_tools.replay_dlq import ReplayError, replay_dlq

router = APIRouter(prefix="/api/dlqs", tags=["dead letters"])

DlqName = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.\-]{1,200}\.dlq$")]


def death_of(headers: dict[str, Any]) -> DeathOut | None:
    deaths = headers.get("x-death")
    if not isinstance(deaths, list) or not deaths or not isinstance(deaths[0], dict):
        return None
    first = deaths[0]
    keys = first.get("routing-keys") or []
    when = first.get("time")
    if isinstance(when, int | float):
        when = datetime.fromtimestamp(when, UTC).isoformat()
    return DeathOut(exchange=first.get("exchange"), routing_key=keys[0] if keys else None,
                    queue=first.get("queue"), reason=first.get("reason"),
                    count=first.get("count"), time=str(when) if when is not None else None)


def peeked(raw: dict[str, Any]) -> PeekedMessage:
    props = raw.get("properties") or {}
    headers = props.get("headers") or {}
    payload: Any = raw.get("payload")
    if raw.get("payload_encoding") == "string" and isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            pass
    death = death_of(headers)
    reason = headers.get("x-last-death-reason") or (death.reason if death else None)
    queue = headers.get("x-last-death-queue") or (death.queue if death else None)
    error = f"{reason} in {queue}" if reason else None
    return PeekedMessage(
        message_id=props.get("message_id"), type=props.get("type"),
        routing_key=raw.get("routing_key"), exchange=raw.get("exchange"),
        redelivered=bool(raw.get("redelivered")), headers=headers, payload=payload,
        death=death, error=error)


@router.get("", response_model=list[DlqOut])
async def list_dlqs(state: ConsoleDep, _: CurrentSession) -> list[DlqOut]:
    """Every queue whose name ends in .dlq, with how many messages it holds."""
    try:
        queues = await state.up.queues()
    except UpstreamError as exc:
        raise HTTPException(502, str(exc)) from None
    return sorted((DlqOut(name=q["name"], messages=int(q.get("messages") or 0))
                   for q in queues if q["name"].endswith(DLQ_SUFFIX)), key=lambda d: d.name)


@router.get("/{name}/messages", response_model=PeekOut)
async def peek(state: ConsoleDep, _: CurrentSession, name: DlqName,
               count: Annotated[int, Query(ge=1, le=50)] = 10) -> PeekOut:
    """The first messages of a dead-letter queue, left in it (taken and put back)."""
    try:
        raw = await state.up.peek(name, count)
    except UpstreamError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    return PeekOut(queue=name, messages=[peeked(m) for m in raw])


@router.post("/{name}/replay", response_model=ReplayOut)
async def replay(state: ConsoleDep, session: ActingSession, name: DlqName,
                 body: ReplayIn) -> ReplayOut:
    """Move the queue's messages back to where they were published (a dry run lists
    what would be moved and what kept, and changes nothing)."""
    settings = state.settings
    action = "dlq.replay.dry_run" if body.dry_run else "dlq.replay"
    try:
        report = await replay_dlq(settings.amqp_url.get_secret_value(), name,
                                  limit=body.limit, dry_run=body.dry_run,
                                  max_age_seconds=settings.replay_window_seconds)
    except ReplayError as exc:
        state.audit.record(operator=session.operator, session=session_ref(session.id),
                           action=action, target=name, result=f"refused: {exc}")
        raise HTTPException(409, str(exc)) from None
    state.audit.record(operator=session.operator, session=session_ref(session.id),
                       action=action, target=name, result=report.total(),
                       detail={"moved": len(report.moved), "kept": len(report.kept)})
    return ReplayOut(
        queue=name, dry_run=body.dry_run, moved=len(report.moved), kept=len(report.kept),
        error=report.error, summary=report.total(),
        outcomes=[ReplayOutcomeOut(action=o.action, message_id=o.message_id,
                                   message_type=o.message_type,
                                   target=o.death.target if o.death else None, why=o.why)
                  for o in report.outcomes])
