"""A broker link that stalls without closing (a partition, a paused machine, a
killed container): the client gives the connection up on its heartbeat, every
background task carries on over the new one, and nothing stays unpublished."""

from __future__ import annotations

import time
import urllib.parse
from pathlib import Path

import httpx
import pytest

from testkit.consistency import assert_consistent
from testkit.http import register_and_login
from testkit.infra import Infra
from testkit.processes import wait_until
from testkit.proxy import threaded_proxy
from testkit.sql import scalar
from testkit.stack import running_stack

pytestmark = pytest.mark.slow

#: heartbeat 1 s: the client gives a silent link up after (1 + 1) x 3 = 6 s
HEARTBEAT = 1
FREEZE_SECONDS = 10


def _through(proxy_port: int, amqp_url: str) -> str:
    parts = urllib.parse.urlsplit(amqp_url)
    netloc = f"{parts.username}:{parts.password}@127.0.0.1:{proxy_port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path,
                                    f"heartbeat={HEARTBEAT}", ""))


def test_a_stalled_broker_link_stops_no_background_task(infra: Infra, tmp_path: Path) -> None:
    target = urllib.parse.urlsplit(infra.amqp_url.split(",")[0])
    with threaded_proxy(target.hostname or "127.0.0.1", target.port or 5672) as proxy:
        vhost_url = None

        def core_url(url: str) -> str:
            nonlocal vhost_url
            vhost_url = url
            return _through(proxy.port, url)

        with running_stack(infra, tmp_path, env={"SAGA_WAIT_SECONDS": "1",
                                                 "SAGA_STEP_TIMEOUT_SECONDS": "60"},
                           core_amqp=core_url) as stack, \
                httpx.Client(base_url=stack.url, timeout=30) as c:
            user = register_and_login(c)
            posts: list[int] = []

            def create(n: int) -> None:
                for i in range(n):
                    r = c.post("/api/posts", json={"content": f"stalled #s{i}"},
                               headers=user["headers"])
                    assert r.status_code in (201, 202), r.text
                    posts.append(r.json()["id"])

            create(5)
            proxy.freeze()
            try:
                # writes keep being accepted: the relay's publishes wait for confirms
                # that never come, until the heartbeat monitor gives the link up
                started = time.monotonic()
                while time.monotonic() - started < FREEZE_SECONDS:
                    create(1)
                    time.sleep(0.3)
            finally:
                proxy.thaw()
            create(10)
            ids = ",".join(map(str, posts))
            wait_until(lambda: scalar(stack.core_db, "SELECT count(*) FROM posts WHERE "
                                      f"id IN ({ids}) AND status <> 'published'") == 0, 60,
                       what="every post created before, during and after the stall published")
            wait_until(lambda: scalar(stack.core_db,
                                      "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0,
                       30, what="core's outbox empty")
            with httpx.Client(base_url=stack.core.url, timeout=10) as direct:
                wait_until(lambda: direct.get("/ready").status_code == 200, 30,
                           what="core ready again")
                metrics = direct.get("/metrics").text
            assert "connection to RabbitMQ lost" in stack.core.log_path.read_text(), \
                "the link was never given up: the test did not stall it"
            assert 'background_task_up{task="outbox-relay"} 1.0' in metrics, metrics
            assert_consistent(stack, settle_seconds=60)
