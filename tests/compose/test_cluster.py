"""The compose stack with its `cluster` profile (`make up RABBITMQ_NODES=3`): three RabbitMQ
containers, the services given all three. Under a mixed load through the gateway, the node
leading ``core.commands`` and ``social.commands`` is stopped and started again, then the
node leading them by then is killed and started again. Nothing acknowledged may be lost:
every post answered 201/202 ends published, no saga is left unfinished or failed, and the
consistency check is clean. The pauses the load saw are printed, not asserted.

Skipped when no Docker engine answers or can be started here (testkit.compose).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from instasaga.queues import CORE_COMMANDS, SOCIAL_COMMANDS
from testkit.compose import ComposeStack, compose_stack
from testkit.infra import run_sync
from testkit.load import Load, LoadResult, PauseMeter, describe
from testkit.processes import wait_until
from testkit.sql import scalar

pytestmark = [pytest.mark.compose, pytest.mark.cluster, pytest.mark.slow,
              pytest.mark.timeout(1800)]

NODES = ("rabbitmq", "rabbitmq-2", "rabbitmq-3")
COMMAND_QUEUES = (CORE_COMMANDS, SOCIAL_COMMANDS)


@pytest.fixture(scope="module")
def stack(docker_engine: None) -> Iterator[ComposeStack]:
    with compose_stack(rabbitmq_nodes=3) as running:
        yield running


def _api_get(stack: ComposeStack, path: str) -> Any:
    """GET on the management API of whichever node answers."""
    for node in NODES:
        try:
            r = httpx.get(stack.management_api(node) + path, timeout=10)
        except (LookupError, httpx.HTTPError):
            continue  # that node is down
        if r.status_code == 200:
            return r.json()
    raise AssertionError(f"no RabbitMQ node answers GET {path}")


def _leader(stack: ComposeStack, queue: str) -> str:
    """The compose service of the node leading a quorum queue (rabbit@rabbitmq-2 -> ...)."""
    return str(_api_get(stack, f"/api/queues/%2F/{queue}")["leader"]).split("@", 1)[1]


def _unfinished_sagas(stack: ComposeStack) -> int:
    sql = "SELECT count(*) FROM sagas WHERE status IN ('running', 'compensating')"
    return sum(int(scalar(db, sql)) for db in (stack.core_db, stack.social_db))  # type: ignore[arg-type]


def _assert_consistent(stack: ComposeStack) -> None:
    from ops_tools.consistency import check, wait_until_settled

    async def go() -> tuple[bool, Any]:
        api = stack.management_api(_leader(stack, COMMAND_QUEUES[0]))
        settled = await wait_until_settled(stack.core_db, stack.social_db, api, "/",
                                           timeout=120)
        return settled, await check(stack.core_db, stack.social_db, api, vhost="/",
                                    grace_seconds=0)

    settled, report = run_sync(go())
    assert settled, "the system did not settle (outboxes or queues still busy)"
    assert report.ok, report.to_text()


def _assert_acknowledged_posts_published(stack: ComposeStack, result: LoadResult) -> None:
    ids = ",".join(str(i) for i in result.posts) or "0"
    statuses = scalar(stack.core_db, "SELECT string_agg(DISTINCT status, ',') FROM posts "
                                     f"WHERE id IN ({ids})")
    assert statuses == "published", statuses
    count = scalar(stack.core_db, f"SELECT count(*) FROM posts WHERE id IN ({ids})")
    assert count == len(set(result.posts))


def _quorum_critical(stack: ComposeStack, node: str) -> bool:
    """Whether stopping ``node`` would leave a quorum queue without its majority (a
    restarted node's members may still be catching up): what an operator checks first."""
    try:
        stack.compose("exec", "-T", node, "rabbitmq-queues",
                      "check_if_node_is_quorum_critical", timeout=60)
    except subprocess.CalledProcessError:
        return True
    return False


def test_every_queue_has_a_member_on_every_node(stack: ComposeStack) -> None:
    every_node = sorted(f"rabbit@{node}" for node in NODES)
    nodes = sorted(n["name"] for n in _api_get(stack, "/api/nodes") if n["running"])
    assert nodes == every_node
    quorum = {q["name"]: sorted(q.get("members") or [])
              for q in _api_get(stack, "/api/queues/%2F") if q.get("type") == "quorum"}
    assert set(COMMAND_QUEUES) <= set(quorum)
    assert all(members == every_node for members in quorum.values()), quorum
    # both services connected, to the first address they were given
    connections = {(c["user"], c["node"]) for c in _api_get(stack, "/api/connections")}
    assert {user for user, _ in connections} == {"core", "social"}


def test_the_leading_node_stopped_then_killed_under_load(stack: ComposeStack) -> None:
    windows: list[tuple[str, float, float]] = []

    def completed() -> int:
        return load.result.count("create_post 201")

    def more_sagas(what: str) -> None:
        done = completed()
        wait_until(lambda: completed() >= done + 10, 180, what=f"sagas completing {what}")

    with Load(stack.gateway, threads=4) as load, PauseMeter(load) as meter:
        more_sagas("before the failover")
        for how in ("stopped", "killed"):
            leaders = {q: _leader(stack, q) for q in COMMAND_QUEUES}
            node = leaders[COMMAND_QUEUES[0]]
            wait_until(lambda n=node: not _quorum_critical(stack, n), 180, 1,
                       f"{node} no longer quorum critical")
            start = time.monotonic()
            stack.compose("kill" if how == "killed" else "stop", node)
            try:
                more_sagas(f"with {node} {how}")
                windows.append((f"{node} {how} (leader of {leaders})", start, time.monotonic()))
                print(f"\n{node} {how}: leaders now "
                      f"{ {q: _leader(stack, q) for q in COMMAND_QUEUES} }")
            finally:
                # a node stopped or killed by hand stays down: its restart policy leaves it
                start = time.monotonic()
                stack.compose("start", node)
            wait_until(lambda n=node: n in {x["name"].split("@")[1] for x in _api_get(
                stack, "/api/nodes") if x["running"]}, 180, 1, f"{node} running again")
            more_sagas(f"after {node} is back")
            windows.append((f"{node} started again", start, time.monotonic()))
    result = load.stop()
    print(describe(result, meter, windows))

    assert not any(s >= 500 for s in result.statuses()), result.answers
    assert result.count("create_post 20") >= 30, result.answers
    _assert_consistent(stack)
    _assert_acknowledged_posts_published(stack, result)
    wait_until(lambda: _unfinished_sagas(stack) == 0, 120, what="every saga finished")
    failed = "SELECT count(*) FROM sagas WHERE status = 'failed'"
    assert scalar(stack.core_db, failed) == 0
    assert scalar(stack.social_db, failed) == 0
