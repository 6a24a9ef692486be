"""Where the checks read from: both databases (one REPEATABLE READ, read-only
snapshot each), the RabbitMQ management API, and what sagas are working on right
now (:class:`InFlux`: not flagged while it legitimately differs)."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from .report import SourceUnavailable

ACTIVE_SAGA_STATUSES = ("running", "compensating")
#: SQL for "changed within the grace period" (``$1`` is the grace in seconds)
RECENT = "> now() - make_interval(secs => $1)"


def asyncpg_dsn(url: str) -> str:
    """``postgresql+asyncpg://`` (SQLAlchemy's spelling) to ``postgresql://``."""
    scheme, sep, rest = url.partition("://")
    return scheme.split("+", 1)[0] + sep + rest if sep else url


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


async def _connect(url: str, what: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(
            asyncpg_dsn(url), timeout=10,
            server_settings={"application_name": "ops-consistency",
                             "default_transaction_read_only": "on"})
    except (OSError, TimeoutError, asyncpg.PostgresError,
            asyncpg.InterfaceError) as exc:
        raise SourceUnavailable(f"{what} database {redact(url)}: {exc}") from exc


class RabbitApi:
    """The few calls of the RabbitMQ management HTTP API this module needs."""

    def __init__(self, url: str, vhost: str, timeout: float = 10.0) -> None:
        parts = urllib.parse.urlsplit(url)
        base = urllib.parse.urlunsplit(
            (parts.scheme or "http", f"{parts.hostname}:{parts.port or 15672}",
             parts.path.rstrip("/"), "", ""))
        self.url = redact(url)
        self.vhost = vhost
        self._client = httpx.AsyncClient(
            base_url=base, timeout=timeout,
            auth=(urllib.parse.unquote(parts.username or "guest"),
                  urllib.parse.unquote(parts.password or "guest")))

    async def queues(self) -> list[dict[str, Any]]:
        path = f"/api/queues/{urllib.parse.quote(self.vhost, safe='')}"
        try:
            response = await self._client.get(path)
            response.raise_for_status()
        except httpx.ConnectError as exc:
            raise SourceUnavailable(
                f"RabbitMQ management API {self.url} does not answer ({exc}): is the "
                "management plugin on? `rabbitmq-plugins enable rabbitmq_management` "
                "(or --rabbitmq-api '' to skip the dead-letter check)") from exc
        except httpx.HTTPError as exc:
            raise SourceUnavailable(
                f"RabbitMQ management API {self.url} (vhost {self.vhost!r}): {exc}") from exc
        queues: list[dict[str, Any]] = response.json()
        return queues

    async def aclose(self) -> None:
        await self._client.aclose()


@dataclass(frozen=True)
class InFlux:
    """Posts and users a core saga is working on (see the module's doc)."""

    posts: frozenset[int] = frozenset()
    users: frozenset[int] = frozenset()

    @classmethod
    async def read(cls, core: asyncpg.Connection, grace: float) -> InFlux:
        rows = await core.fetch(
            f"""
            SELECT data->>'post_id' AS post_id, data->>'user_id' AS user_id FROM sagas
            WHERE (data ? 'post_id' OR data ? 'user_id')
              AND (status = ANY($2::text[]) OR updated_at {RECENT})
            """, grace, list(ACTIVE_SAGA_STATUSES))

        def ids(key: str) -> frozenset[int]:
            return frozenset(int(r[key]) for r in rows if str(r[key] or "").isdigit())

        return cls(posts=ids("post_id"), users=ids("user_id"))


@dataclass
class Sources:
    """What the checks read: one snapshot per database, the grace period."""

    core: asyncpg.Connection
    social: asyncpg.Connection
    grace: float
    rabbitmq: RabbitApi | None = None
    flux: InFlux = field(default_factory=InFlux)

    def post_in_flux(self, post_id: int, author_id: int | None = None) -> bool:
        return post_id in self.flux.posts or author_id in self.flux.users


