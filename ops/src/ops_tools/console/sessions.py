"""Operator sessions held by the console, and the failed-login throttle.

A session id is 32 random bytes, sent only in an HttpOnly, SameSite=Strict
cookie; the session itself (who, its CSRF token, when it ends) stays in this
process. Restarting the console ends every session.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]


@dataclass(frozen=True)
class Session:
    id: str
    operator: str
    #: sent back by the page in X-CSRF-Token on every action
    csrf: str
    created: float
    expires: float

    def csrf_matches(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


@dataclass
class SessionStore:
    lifetime: float
    clock: Clock = time.monotonic
    _sessions: dict[str, Session] = field(default_factory=dict)

    def create(self, operator: str) -> Session:
        now = self.clock()
        self._expire(now)
        session = Session(id=secrets.token_urlsafe(32), operator=operator,
                          csrf=secrets.token_urlsafe(32), created=now,
                          expires=now + self.lifetime)
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if session.expires <= self.clock():
            del self._sessions[session_id]
            return None
        return session

    def drop(self, session_id: str | None) -> None:
        if session_id:
            self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._sessions)

    def _expire(self, now: float) -> None:
        for sid in [s.id for s in self._sessions.values() if s.expires <= now]:
            del self._sessions[sid]


@dataclass
class LoginThrottle:
    """At most ``failures`` failed logins per address within ``window`` seconds."""

    failures: int
    window: float
    clock: Clock = time.monotonic
    _seen: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after(self, address: str) -> float:
        """Seconds the address must wait before trying again (0: it may try now)."""
        recent = self._recent(address)
        if len(recent) < self.failures:
            return 0.0
        return max(0.0, recent[0] + self.window - self.clock())

    def failed(self, address: str) -> None:
        self._recent(address).append(self.clock())

    def succeeded(self, address: str) -> None:
        self._seen.pop(address, None)

    def _recent(self, address: str) -> deque[float]:
        recent = self._seen.setdefault(address, deque())
        cutoff = self.clock() - self.window
        while recent and recent[0] <= cutoff:
            recent.popleft()
        return recent


def token_matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())
