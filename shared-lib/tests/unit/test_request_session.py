"""The request's session: a connection lost before it closes never costs the answer."""

from __future__ import annotations

from types import SimpleNamespace

from fastapi import FastAPI, status
from fastapi.testclient import TestClient
from sqlalchemy.exc import DBAPIError

from shared_lib.deps import SessionDep


class _SessionWhoseConnectionDied:
    def __init__(self) -> None:
        self.invalidated = False

    async def close(self) -> None:
        raise DBAPIError("ROLLBACK", None, ConnectionResetError("terminating connection"))

    async def invalidate(self) -> None:
        self.invalidated = True


def test_a_failed_rollback_at_close_keeps_the_endpoints_answer() -> None:
    session = _SessionWhoseConnectionDied()
    app = FastAPI()
    app.state.runtime = SimpleNamespace(sessions=lambda: session)
    closed_before_answer: list[bool] = []

    @app.post("/things", status_code=status.HTTP_201_CREATED)
    async def create(db: SessionDep) -> dict[str, bool]:
        return {"created": True}

    @app.middleware("http")
    async def watch(request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        closed_before_answer.append(session.invalidated)
        return response

    with TestClient(app, raise_server_exceptions=True) as client:
        answer = client.post("/things")
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"created": True}
    # the session was given up before the response went out, not after it
    assert closed_before_answer == [True]
