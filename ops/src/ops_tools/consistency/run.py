"""Running the checks (:func:`check`) and waiting for the system to settle first
(:func:`wait_until_settled`: outboxes drained, work queues empty)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import asyncpg

from .checks import CHECKS, dead_lettered_messages
from .report import Finding, Report, SourceUnavailable
from .sources import InFlux, RabbitApi, Sources, _connect, asyncpg_dsn

#: queues whose messages are not work in flight
IDLE_QUEUE_SUFFIXES = (".dlq", ".unrouted")


async def check(core_db: str, social_db: str, rabbitmq_api_url: str | None = None,
                vhost: str = "/", grace_seconds: float = 60.0) -> Report:
    """Run every check; raises :class:`SourceUnavailable` when a source cannot be read."""
    core = await _connect(core_db, "core")
    try:
        social = await _connect(social_db, "social")
    except BaseException:
        await core.close()
        raise
    rabbitmq = RabbitApi(rabbitmq_api_url, vhost) if rabbitmq_api_url else None
    grace = max(0.0, float(grace_seconds))
    findings: list[Finding] = []
    skipped: list[str] = []
    try:
        async with core.transaction(isolation="repeatable_read", readonly=True), \
                social.transaction(isolation="repeatable_read", readonly=True):
            src = Sources(core=core, social=social, grace=grace, rabbitmq=rabbitmq,
                          flux=await InFlux.read(core, grace))
            for run in CHECKS:
                if run is dead_lettered_messages and rabbitmq is None:
                    skipped.append("dead_lettered_messages (no RabbitMQ management API URL)")
                    continue
                findings.append(await run(src))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        # a lost connection, or a database without the services' schema
        raise SourceUnavailable(f"reading the databases: {exc!r}") from exc
    finally:
        if rabbitmq is not None:
            await rabbitmq.aclose()
        await asyncio.gather(core.close(), social.close(), return_exceptions=True)
    return Report(findings=findings, skipped=skipped)


async def _unsent_and_last_sent_age(url: str) -> tuple[int, float | None]:
    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        row = await conn.fetchrow(
            """
            SELECT (SELECT count(*) FROM outbox WHERE sent_at IS NULL) AS unsent,
                   extract(epoch FROM now() - (SELECT max(sent_at) FROM outbox))::float8 AS age
            """)
        assert row is not None
        return int(row["unsent"]), row["age"]
    finally:
        await conn.close()


def _busy_queues(queues: Iterable[dict[str, Any]]) -> list[str]:
    return [
        str(q.get("name")) for q in queues
        if not str(q.get("name", "")).endswith(IDLE_QUEUE_SUFFIXES)
        and (int(q.get("messages_ready") or 0) or int(q.get("messages_unacknowledged") or 0))
    ]


async def wait_until_settled(core_db: str, social_db: str, rabbitmq_api_url: str | None,
                             vhost: str = "/", timeout: float = 30.0, *,
                             quiet_seconds: float = 1.0, interval: float = 0.2) -> bool:
    """Poll until both outboxes are drained and every work queue of the vhost
    (all but ``*.dlq`` and ``*.unrouted``) has no message ready or unacknowledged;
    True when that happened within ``timeout``, False otherwise.

    The management API's queue counts are statistics that lag the broker by
    seconds (about 4 s for classic and 9 s for quorum queues on RabbitMQ 3.10), so
    a message published a moment ago is not seen there yet. Every message goes
    out through an outbox, though, so the system is also required to have sent
    nothing for ``quiet_seconds``: a message older than that has been consumed
    (healthy consumers take milliseconds) or shows up in the statistics soon.
    """
    rabbitmq = RabbitApi(rabbitmq_api_url, vhost) if rabbitmq_api_url else None
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                outboxes = [await _unsent_and_last_sent_age(url) for url in (core_db, social_db)]
                quiet = all(unsent == 0 and (age is None or age >= quiet_seconds)
                            for unsent, age in outboxes)
                if quiet and (rabbitmq is None or not _busy_queues(await rabbitmq.queues())):
                    return True
            except (OSError, TimeoutError, asyncpg.PostgresError,
                    asyncpg.InterfaceError, SourceUnavailable):
                pass  # not reachable yet: not settled
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(interval)
    finally:
        if rabbitmq is not None:
            await rabbitmq.aclose()


