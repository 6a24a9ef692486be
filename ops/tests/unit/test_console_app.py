"""The console app without servers: login, the session cookie, CSRF and Origin checks,
the security headers (the services and the broker answered by a mock transport)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from ops_tools.console import upstream
from ops_tools.console.app import create_app
from ops_tools.console.settings import ConsoleSettings

TOKEN = "unit-test-token"


def _answer(request: httpx.Request) -> httpx.Response:
    assert request.url.host != "example.com"
    if request.url.path.startswith("/ops/"):
        assert request.headers["x-ops-token"] == TOKEN
    if request.url.path.endswith("/retry"):
        return httpx.Response(200, json={"id": "x", "status": "compensated"})
    return httpx.Response(404, json={"detail": "nothing here"})


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    original = upstream.Upstream.__init__

    def init(self: upstream.Upstream, settings: ConsoleSettings,
             transport: httpx.AsyncBaseTransport | None = None) -> None:
        original(self, settings, httpx.MockTransport(_answer))

    monkeypatch.setattr(upstream.Upstream, "__init__", init)
    settings = ConsoleSettings(ops_token=SecretStr(TOKEN), login_failures=2)
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8009") as c:
        yield c


def _login(c: TestClient, token: str = TOKEN) -> httpx.Response:
    return c.post("/login", data={"operator": "alice", "token": token},
                  follow_redirects=False)


def test_the_page_and_the_api_need_a_session(client: TestClient) -> None:
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert client.get("/api/session").status_code == 401
    assert client.get("/api/overview").status_code == 401
    assert client.get("/login").status_code == 200


def test_a_login_sets_a_strict_http_only_cookie_and_never_a_url_token(
        client: TestClient) -> None:
    r = _login(client)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN not in cookie
    assert client.get("/").status_code == 200
    me = client.get("/api/session").json()
    assert me["operator"] == "alice" and me["csrf_token"]
    r = client.post("/logout", follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/api/session").status_code == 401


def test_wrong_tokens_are_refused_then_throttled(client: TestClient) -> None:
    for _ in range(2):
        r = _login(client, "wrong")
        assert r.headers["location"] == "/login?error=token"
    r = _login(client)  # even the right one, for a while
    assert r.headers["location"].startswith("/login?error=throttled")
    assert TOKEN not in r.headers["location"]


def test_an_action_needs_the_csrf_header_and_the_same_origin(client: TestClient) -> None:
    _login(client)
    csrf = client.get("/api/session").json()["csrf_token"]
    path = "/api/sagas/core/6f1c1c1e-0a8a-4a53-9d7e-4e2f5e3b1a10/retry"
    assert client.post(path).status_code == 403
    assert client.post(path, headers={"X-CSRF-Token": "nope"}).status_code == 403
    assert client.post(path, headers={"X-CSRF-Token": csrf,
                                      "Origin": "http://evil.example"}).status_code == 403
    r = client.post(path, headers={"X-CSRF-Token": csrf, "Origin": "http://127.0.0.1:8009"})
    assert r.status_code == 200 and r.json()["ok"] is True
    audit = client.get("/api/audit").json()
    assert audit[0]["action"] == "saga.retry" and audit[0]["operator"] == "alice"
    assert audit[0]["result"] == "ok: compensated"


def test_a_cross_origin_login_is_refused(client: TestClient) -> None:
    r = client.post("/login", data={"token": TOKEN}, headers={"Origin": "http://evil.example"},
                    follow_redirects=False)
    assert r.status_code == 403


def test_pages_carry_a_strict_content_security_policy(client: TestClient) -> None:
    r = client.get("/login")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert client.get("/static/console.js").status_code == 200
