"""A saga's step log laid out between service lanes, for the page's SVG picture.

Each step-log entry becomes an event: a local step's entries are marks on the
initiator's lane; a remote step's command (``started``, ``retried``,
``compensating``) is an arrow from the initiator to the service that handles
it, and its reply (``completed``, ``rejected``, ``compensated``, ``failed``,
``ignored``) an arrow back; a step given up for want of a reply (its deadline
passed) is a ``timeout`` mark on the initiator's lane. The initiator's lane
comes first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ops_tools.console.models import Timeline, TimelineEvent

LANES = ("core", "social")
SENT = frozenset({"started", "retried", "compensating"})
#: how the engine's step log says a command got no reply before its deadline
NO_REPLY = "no reply"


def _at(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _ms(later: datetime, earlier: datetime) -> float:
    return round((later - earlier).total_seconds() * 1000, 1)


def build_timeline(saga: dict[str, Any], definition: dict[str, Any] | None,
                   initiator: str, lanes: Sequence[str] = LANES) -> Timeline:
    """Lay ``saga`` (as ``/ops/sagas/{id}`` answers it, with its steps) out between
    ``lanes``, using its type's ``definition`` (as ``/ops/saga-types`` answers it)."""
    steps = {s["name"]: s for s in (definition or {}).get("steps", [])}
    started = _at(saga["created_at"])
    all_lanes = [initiator, *(lane for lane in lanes if lane != initiator)]
    events: list[TimelineEvent] = []
    previous: dict[tuple[str, bool], datetime] = {}
    for index, entry in enumerate(saga.get("steps") or []):
        at = _at(entry["at"])
        name, action = entry["step"], entry["action"]
        compensation = bool(entry.get("compensation"))
        step = steps.get(name, {})
        remote = step.get("kind") == "remote"
        handler = step.get("service") or initiator
        for lane in (initiator, handler):
            if lane not in all_lanes:
                all_lanes.append(lane)
        timeout = step.get("timeout_seconds")
        due = None
        if not remote:
            kind, source, target, message = "local", initiator, initiator, None
        elif action in SENT:
            kind, source, target = "command", initiator, handler
            message = step.get("compensation_command") if compensation else step.get("command")
            if timeout is not None:
                due = _ms(at, started) + timeout * 1000
        elif action in ("rejected", "failed") and (entry.get("detail") or "").startswith(
                NO_REPLY):
            kind, source, target, message = "timeout", initiator, initiator, None
        else:
            kind, source, target = "reply", handler, initiator
            message = "saga.reply"
        key = (name, compensation)
        duration = _ms(at, previous[key]) if key in previous else None
        previous[key] = at
        events.append(TimelineEvent(
            index=index, step=name, action=action, compensation=compensation, kind=kind,
            source=source, target=target, handled_by=handler, message=message,
            detail=entry.get("detail"), at=at, offset_ms=_ms(at, started),
            duration_ms=duration, reply_due_ms=due))
    deadline = saga.get("deadline")
    deadline_ms = _ms(_at(deadline), started) if deadline else None
    end = max([e.at for e in events] + [_at(saga.get("updated_at") or started)])
    return Timeline(lanes=all_lanes, initiator=initiator, events=events, started_at=started,
                    deadline_ms=deadline_ms, total_ms=_ms(end, started))
