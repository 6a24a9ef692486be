"""The load generator: asyncio and aiohttp (or httpx), in the benchmark's own process.

Why this rather than locust, k6 or wrk:

* **A scenario is plain Python** next to the code it measures, with the clients the
  project already uses. aiohttp is the default (``--client aiohttp``): it costs about
  0.2 ms of client CPU per request here, httpx about 1.8 ms, which on a 2-core
  machine is CPU taken from the system being measured.
* **Accurate per-request timings.** Each request is timed alone, with
  ``time.perf_counter()`` around its ``await``; nothing is aggregated before it
  is recorded, so the percentiles are exact (nearest rank over every request).
* **One process.** A run is one command that starts the stack, drives it and
  reports. The price: on a 2-core machine the client competes for CPU with what
  it measures, and a latency includes the time the event loop took to get back
  to the answer. So the load generator's own CPU use is sampled and reported
  with the services' (``loadgen`` in the resources table); when it nears 100 %
  of a core, the client is a bottleneck too.

**One shared client** with a connection pool, not one client per
simulated user: on the wire it is the same (each user has at most one request
in flight, on its own keep-alive connection), and one pool is cheaper in memory
and set-up than hundreds of clients with their own transports. The pool has a
connection for every user and every propagation probe (``max_connections``), so
a request never waits for a free connection, which would be counted in its
latency.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import httpx

from .stats import Recorder, Window

T = TypeVar("T")

PASSWORD = "benchmark-password"
SETUP_RETRY_S = 60.0
REQUEST_TIMEOUT_S = 35.0  # longer than the gateway's proxy_read_timeout (30 s)


@dataclass
class User:
    id: int
    username: str
    email: str
    token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class Reply:
    """An answer read whole (what the harness needs of an ``httpx.Response``)."""

    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


#: what a request that got no answer raises, with either client
CLIENT_ERRORS: tuple[type[BaseException], ...] = (httpx.HTTPError, aiohttp.ClientError,
                                                  asyncio.TimeoutError)


class AiohttpClient:
    """aiohttp with one pooled connector, shaped like the part of ``httpx.AsyncClient``
    the harness uses (``request``, ``get``, an async context)."""

    def __init__(self, url: str, connections: int) -> None:
        self._url = url.rstrip("/")
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AiohttpClient:
        connector = aiohttp.TCPConnector(limit=self._connections,
                                         limit_per_host=self._connections)
        self._session = aiohttp.ClientSession(
            base_url=self._url, connector=connector,
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                      json: Any = None, params: dict[str, Any] | None = None) -> Reply:
        assert self._session is not None
        query = {k: str(v) for k, v in params.items()} if params else None
        async with self._session.request(method, path, headers=headers, json=json,
                                         params=query) as resp:
            return Reply(resp.status, await resp.read())

    async def get(self, path: str, *, headers: dict[str, str] | None = None,
                  params: dict[str, Any] | None = None) -> Reply:
        return await self.request("GET", path, headers=headers, params=params)


@dataclass(frozen=True)
class Answer:
    response: httpx.Response | Reply
    started: float  # perf_counter when the request was sent
    finished: float  # perf_counter when the whole answer had arrived

    @property
    def status(self) -> int:
        return self.response.status_code


class SetupError(RuntimeError):
    """A request of the set-up (not of the measured workload) failed."""


def make_client(url: str, connections: int, kind: str = "aiohttp") -> Any:
    """The shared client: ``aiohttp`` (cheap) or ``httpx``."""
    if kind == "aiohttp":
        return AiohttpClient(url, connections)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT_S, limits=limits)


class Api:
    """Timed requests through one shared client; each is recorded under an operation."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.recorder = Recorder(Window(0.0, 0.0))  # records nothing until replaced

    async def call(self, op: str, method: str, path: str, user: User | None = None,
                   **kwargs: Any) -> Answer | None:
        headers = user.headers if user is not None else None
        started = time.perf_counter()
        try:
            resp = await self.client.request(method, path, headers=headers, **kwargs)
        except CLIENT_ERRORS as exc:
            self.recorder.failed(op, started, exc)
            return None
        finished = time.perf_counter()
        body = resp.text if resp.status_code >= 300 else ""
        self.recorder.answered(op, started, (finished - started) * 1000, resp.status_code, body)
        return Answer(resp, started, finished)

    async def expect(self, op: str, method: str, path: str, user: User | None = None,
                     codes: Iterable[int] = (200, 201), **kwargs: Any) -> Any:
        """A set-up request that must succeed; returns the decoded JSON body.

        No answer or a 5xx is retried for a while (a shared server may be restarting)."""
        deadline = time.perf_counter() + SETUP_RETRY_S
        while True:
            answer = await self.call(op, method, path, user, **kwargs)
            transient = answer is None or answer.status >= 500
            if not transient or time.perf_counter() > deadline:
                break
            await asyncio.sleep(1.0)
        if answer is None or answer.status not in set(codes):
            detail = "no answer" if answer is None else f"{answer.status} {answer.response.text}"
            raise SetupError(f"{op} {method} {path}: {detail}")
        return answer.response.json() if answer.response.content else None


async def register(api: Api, username: str) -> User:
    email = f"{username}@example.com"
    body = await api.expect("setup_register", "POST", "/api/auth/register", json={
        "username": username, "email": email, "password": PASSWORD,
        "full_name": f"Bench {username}"})
    token = await api.expect("setup_login", "POST", "/api/auth/login",
                             json={"email": email, "password": PASSWORD})
    return User(id=int(body["id"]), username=username, email=email,
                token=token["access_token"])


async def login(api: Api, user: User) -> bool:
    """The workload's login: a new token for ``user`` when it succeeds."""
    answer = await api.call("login", "POST", "/api/auth/login",
                            json={"email": user.email, "password": PASSWORD})
    if answer is None or answer.status != 200:
        return False
    user.token = answer.response.json()["access_token"]
    return True


async def bounded_gather(limit: int, thunks: Iterable[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run coroutine factories with at most ``limit`` in flight; results in order."""
    semaphore = asyncio.Semaphore(limit)

    async def one(thunk: Callable[[], Awaitable[T]]) -> T:
        async with semaphore:
            return await thunk()

    return list(await asyncio.gather(*(one(t) for t in thunks)))
