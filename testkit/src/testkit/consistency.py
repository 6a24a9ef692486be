"""End-of-test consistency check across both databases (``ops_tools.consistency``)."""

from __future__ import annotations

from .infra import run_sync
from .stack import Stack


def assert_consistent(stack: Stack, settle_seconds: float = 30.0) -> None:
    """Wait until nothing is in flight, then require the checker to find nothing."""
    from ops_tools.consistency import check, wait_until_settled

    async def go() -> tuple[bool, object]:
        settled = await wait_until_settled(stack.core_db, stack.social_db,
                                           stack.infra.rabbitmq_api_url, stack.name,
                                           timeout=settle_seconds)
        report = await check(stack.core_db, stack.social_db, stack.infra.rabbitmq_api_url,
                             vhost=stack.name, grace_seconds=0)
        return settled, report

    settled, report = run_sync(go())
    assert settled, "the system did not settle (outboxes or queues still busy)"
    assert report.ok, report.to_text()  # type: ignore[attr-defined]
