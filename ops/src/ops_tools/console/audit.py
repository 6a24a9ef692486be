"""The audit trail of operator actions: one structured log line each.

Every action the console runs (a saga retry, a dead-letter replay, dry run or
not) and every login and logout is logged as a JSON line on the logger
``ops_tools.console.audit``: who (the session's operator label and a short
session reference), what, the target, when, and the result. The last few are
also kept in memory for the page.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import deque
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

log = logging.getLogger("ops_tools.console.audit")


class AuditRecord(BaseModel):
    at: datetime
    operator: str
    #: the first characters of a digest of the session id (never the id itself)
    session: str
    action: str
    target: str
    result: str
    detail: dict[str, Any] = {}

    def line(self) -> str:
        return json.dumps({"audit": True, **self.model_dump(mode="json")}, sort_keys=True)


class AuditLog:
    def __init__(self, keep: int = 200) -> None:
        self._recent: deque[AuditRecord] = deque(maxlen=keep)

    def record(self, *, operator: str, session: str, action: str, target: str,
               result: str, detail: dict[str, Any] | None = None,
               at: datetime | None = None) -> AuditRecord:
        entry = AuditRecord(at=at or datetime.now(UTC), operator=operator, session=session,
                            action=action, target=target, result=result,
                            detail=detail or {})
        log.info(entry.line())
        self._recent.append(entry)
        return entry

    def recent(self) -> list[AuditRecord]:
        return list(reversed(self._recent))


def session_ref(session_id: str) -> str:
    """A reference to a session for the audit trail that does not reveal its id."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:12]
