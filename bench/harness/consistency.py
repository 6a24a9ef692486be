"""The consistency check at the end of a run, when ``ops_tools.consistency`` exists.

It compares the two services' databases (and the broker's queues), so it needs
a stack of our own: with ``--url`` the databases are unknown and it is skipped.
"""

from __future__ import annotations

from typing import Any

from .stacks import Target

SETTLE_TIMEOUT_S = 30.0


def _import_checker() -> tuple[Any, Any] | str:
    try:
        from ops_tools.consistency import check, wait_until_settled
    except ImportError:
        return "consistency checker not available"
    except Exception as exc:  # a module being written may fail in other ways
        return f"consistency checker not available ({type(exc).__name__}: {exc})"
    return check, wait_until_settled


async def settle(target: Target, timeout: float = SETTLE_TIMEOUT_S) -> bool | None:
    """Wait until both outboxes and the stack's work queues are empty (True), or
    ``timeout`` passed (False); None when that cannot be known (``--url``, or no
    checker)."""
    if target.stack is None or target.infra is None:
        return None
    imported = _import_checker()
    if isinstance(imported, str):
        return None
    _check, wait_until_settled = imported
    stack = target.stack
    return bool(await wait_until_settled(stack.core_db, stack.social_db,
                                         target.infra.rabbitmq_api_url, stack.name,
                                         timeout=timeout))


async def run_consistency_check(target: Target) -> dict[str, object]:
    """``{"status": "ok" | "inconsistent" | "skipped" | "error", ...}``; never raises."""
    if target.stack is None or target.infra is None:
        return {"status": "skipped", "reason": "--url: the databases are unknown"}
    imported = _import_checker()
    if isinstance(imported, str):
        print(imported)
        return {"status": "skipped", "reason": imported}
    check, wait_until_settled = imported
    stack, api_url = target.stack, target.infra.rabbitmq_api_url
    try:
        settled = await wait_until_settled(stack.core_db, stack.social_db, api_url, stack.name,
                                           timeout=SETTLE_TIMEOUT_S)
        report = await check(stack.core_db, stack.social_db, rabbitmq_api_url=api_url,
                             vhost=stack.name)
    except Exception as exc:  # the checker's failure is reported, not the benchmark's
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    return {"status": "ok" if report.ok else "inconsistent", "settled": bool(settled),
            "report": report.to_text()}
