"""Broker outage, database restart and replicas killed at random, each under
a steady load; afterwards nothing is lost and the consistency check is clean.

These tests stop the shared local RabbitMQ / PostgreSQL; they always start
them again, even when the test fails.
"""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from testkit.consistency import assert_consistent
from testkit.infra import Infra
from testkit.load import Load
from testkit.processes import GatewayProcess, ServiceProcess, wait_until
from testkit.sql import scalar
from testkit.stack import Stack, running_stack

pytestmark = pytest.mark.slow

LOCAL_ONLY = pytest.mark.skipif(
    bool(os.environ.get("TEST_POSTGRES_URL") or os.environ.get("TEST_AMQP_URL")),
    reason="stops and starts the local servers")


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)


@contextmanager
def rabbitmq_stopped() -> Iterator[None]:
    _run("rabbitmqctl", "stop_app")
    try:
        yield
    finally:
        _run("rabbitmqctl", "start_app")
        _run("rabbitmqctl", "await_startup")


def _pg_version() -> str:
    return sorted(os.listdir("/etc/postgresql"))[0]


def _assert_acknowledged_posts_published(stack: Stack, load: Load) -> None:
    ids = ",".join(str(i) for i in load.result.posts) or "0"
    statuses = scalar(stack.core_db, "SELECT string_agg(DISTINCT status, ',') FROM posts "
                                     f"WHERE id IN ({ids})")
    assert statuses == "published", statuses
    assert scalar(stack.core_db, f"SELECT count(*) FROM posts WHERE id IN ({ids})") == len(
        set(load.result.posts))


@LOCAL_ONLY
def test_broker_outage_under_load(infra: Infra, tmp_path: Path) -> None:
    with running_stack(infra, tmp_path, env={"SAGA_WAIT_SECONDS": "2",
                                             "SAGA_STEP_TIMEOUT_SECONDS": "30"}) as stack:
        with Load(stack.url, threads=4) as load:
            wait_until(lambda: load.result.count("create_post 201") >= 10, 30)
            with rabbitmq_stopped():
                during = load.result.count("create_post 202")
                wait_until(lambda: load.result.count("create_post 202") >= during + 5, 30,
                           what="writes answered 202 while the broker is down")
                with stack.client() as c:  # reads keep answering
                    u = load.users[-1]
                    assert c.get("/api/feed", headers=u["headers"]).status_code == 200
                    assert c.get(f"/api/users/{u['id']}").status_code == 200
            after = load.result.count("create_post 201")
            wait_until(lambda: load.result.count("create_post 201") >= after + 10, 60,
                       what="sagas completing again after the broker is back")
        result = load.stop()
        print(f"\nload: {sum(result.answers.values())} answers {dict(result.answers)}; "
              f"connection errors {dict(result.errors)}")
        assert not any(s >= 500 for s in result.statuses()), result.answers
        assert_consistent(stack, settle_seconds=90)
        _assert_acknowledged_posts_published(stack, load)


@LOCAL_ONLY
def test_postgres_restart_under_load(infra: Infra, tmp_path: Path) -> None:
    version = _pg_version()
    with running_stack(infra, tmp_path, env={"SAGA_STEP_TIMEOUT_SECONDS": "30"}) as stack:
        with Load(stack.url, threads=4) as load:
            wait_until(lambda: load.result.count("create_post 201") >= 10, 30)
            try:
                _run("pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart",
                     "-m", "fast")
            finally:
                _run("pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start") \
                    if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode \
                    else None
            after = load.result.count("create_post 201")
            wait_until(lambda: load.result.count("create_post 201") >= after + 10, 60,
                       what="writes succeeding again without restarting the services")
        result = load.stop()
        print(f"\nload: {sum(result.answers.values())} answers {dict(result.answers)}; "
              f"connection errors {dict(result.errors)}")
        # during the restart requests may get 503; never a 500
        assert not any(s >= 500 and s != 503 for s in result.statuses()), result.answers
        assert stack.core.running and stack.social.running
        # no request outlived its answer with an error (the server would then drop the
        # gateway's keep-alive connection and the next request on it would get a 502)
        for service in (stack.core, stack.social):
            assert "Exception in ASGI application" not in service.log_path.read_text(), \
                service.log_tail()
        assert_consistent(stack, settle_seconds=90)
        _assert_acknowledged_posts_published(stack, load)


def test_two_replicas_each_with_random_kills(infra: Infra, tmp_path: Path) -> None:
    with running_stack(infra, tmp_path, env={"SAGA_STEP_TIMEOUT_SECONDS": "5"}) as stack:
        core2 = ServiceProcess("core_service", stack.core.env, tmp_path, name="core-2").start()
        social2 = ServiceProcess("social_service", stack.social.env, tmp_path,
                                 name="social-2").start()
        gw2 = GatewayProcess(core2.port, social2.port, tmp_path / "gw2").start()
        replicas = [stack.core, core2, stack.social, social2]
        rnd = random.Random(7)
        kills = 0
        try:
            assert stack.gateway is not None
            with Load(stack.url, threads=4, urls=[stack.gateway.url, gw2.url]) as load:
                for _ in range(6):
                    done = load.result.count("create_post 20")
                    wait_until(lambda d=done: load.result.count("create_post 20") >= d + 5, 60)
                    victim = rnd.choice(replicas)
                    victim.kill()
                    kills += 1
                    victim.start()
            result = load.stop()
            print(f"\nload: {sum(result.answers.values())} answers {dict(result.answers)}; "
                  f"connection errors {dict(result.errors)}")
            assert kills == 6
            assert result.count("create_post 20") >= 30, result.answers
            assert_consistent(stack, settle_seconds=90)
            _assert_acknowledged_posts_published(stack, load)
        finally:
            gw2.stop()
            core2.stop()
            social2.stop()


def test_replies_and_deadlines_shared_by_replicas(infra: Infra, tmp_path: Path) -> None:
    """Both core replicas scan deadlines and consume replies: each saga still ends once."""
    with running_stack(infra, tmp_path, gateway=False,
                       env={"SAGA_STEP_TIMEOUT_SECONDS": "0.5", "SAGA_STEP_MAX_ATTEMPTS": "3",
                            "SAGA_WAIT_SECONDS": "0"}) as stack:
        core2 = ServiceProcess("core_service", stack.core.env, tmp_path, name="core-2").start()
        try:
            with httpx.Client(base_url=stack.core.url, timeout=10) as c:
                from testkit.http import register_and_login

                u = register_and_login(c)
                stack.social.stop()
                for i in range(10):
                    assert c.post("/api/posts", json={"content": f"#r{i}"},
                                  headers=u["headers"]).status_code == 202
                stack.social.start()
            wait_until(lambda: scalar(stack.core_db, "SELECT count(*) FROM sagas WHERE status "
                                      "IN ('completed', 'compensated')") == 10, 60)
            # each saga ended exactly once (published, or its first step compensated),
            # whichever replica handled its reply or its deadline
            endings = ("SELECT saga_id, count(*) AS n FROM saga_steps WHERE "
                       "(step = 'publish_post' AND action = 'completed') OR "
                       "(step = 'insert_post' AND action = 'compensated') GROUP BY saga_id")
            assert scalar(stack.core_db, f"SELECT count(*) FROM ({endings}) e") == 10
            assert scalar(stack.core_db, f"SELECT max(n) FROM ({endings}) e") == 1
            assert_consistent(stack, settle_seconds=60)
        finally:
            core2.stop()
