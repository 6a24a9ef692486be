"""A client that retries every 5xx and transport error with the same
``Idempotency-Key`` makes exactly one post per key, while PostgreSQL terminates
core's connections every few tens of milliseconds (any of them: the request's,
the saga start's, the status read's, the relay's, the consumers') and the client
often gives up waiting for an answer (a short read timeout: the request goes on
in the server, the client retries)."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest

from testkit.consistency import assert_consistent
from testkit.http import register_and_login
from testkit.infra import Infra
from testkit.sql import scalar
from testkit.stack import running_stack

# 300 creates through thousands of cut connections take 3-5 minutes on 2 cores
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

CREATES = 300
THREADS = 4


def test_retries_with_a_key_make_one_post_each_while_connections_die(
        infra: Infra, tmp_path: Path) -> None:
    # the subject is the keys, not the deadlines: with connections dying this often the
    # relay's backoff can outlast the tests' 3 s step timeout, and a post whose
    # index_hashtags timed out is rightly rejected (202 first, then compensated)
    with running_stack(infra, tmp_path, gateway=False,
                       env={"SAGA_STEP_TIMEOUT_SECONDS": "60"}) as stack:
        core_db = stack.core_db.rsplit("/", 1)[1]
        with httpx.Client(base_url=stack.core.url, timeout=30) as c:
            users = [register_and_login(c) for _ in range(THREADS)]

        stop = threading.Event()
        killed = Counter[str]()

        def kill_connections() -> None:
            while not stop.is_set():
                time.sleep(random.uniform(0.03, 0.12))
                n = scalar(infra.postgres_url,
                           "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                           f"WHERE datname = '{core_db}' AND pid <> pg_backend_pid()")
                killed["backends"] += int(n)  # type: ignore[call-overload]

        outcomes: dict[str, tuple[int, int]] = {}  # key -> (status, post id)
        answers = Counter[str]()
        lock = threading.Lock()

        def create_posts(user: dict, n: int) -> None:  # type: ignore[type-arg]
            with httpx.Client(base_url=stack.core.url, timeout=30) as client:
                for _ in range(n):
                    key = str(uuid.uuid4())
                    headers = {**user["headers"], "Idempotency-Key": key}
                    for attempt in range(200):
                        # often too short for the saga: the client gives up, the post
                        # is made anyway, and the retry must find it
                        read = random.uniform(0.02, 0.25) if attempt < 10 else 30
                        try:
                            r = client.post("/api/posts", json={"content": f"idem {key}"},
                                            headers=headers,
                                            timeout=httpx.Timeout(10, read=read))
                        except httpx.TransportError as exc:
                            with lock:
                                answers[type(exc).__name__] += 1
                            time.sleep(0.02)
                            continue
                        with lock:
                            answers[str(r.status_code)] += 1
                        if r.status_code < 500:
                            break
                        time.sleep(0.02)
                    assert r.status_code in (201, 202), r.text
                    with lock:
                        outcomes[key] = (r.status_code, r.json().get("id") or
                                         int(r.headers["location"].rsplit("/", 1)[1]))

        killer = threading.Thread(target=kill_connections, daemon=True)
        killer.start()
        try:
            workers = [threading.Thread(target=create_posts, args=(u, CREATES // THREADS))
                       for u in users]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
        finally:
            stop.set()
            killer.join(10)
        print(f"\nanswers {dict(answers)}; {killed['backends']} backends terminated")

        assert len(outcomes) == CREATES, "a client thread failed: see its traceback"
        # the faults did bite: some requests were answered 5xx or cut, and retried
        assert sum(n for k, n in answers.items() if k not in ("201", "202")) > 0, answers
        per_key = scalar(stack.core_db, "SELECT count(*) FROM posts WHERE content LIKE 'idem %'")
        assert per_key == CREATES, f"{per_key} posts for {CREATES} keys"
        assert scalar(stack.core_db, "SELECT count(DISTINCT content) FROM posts "
                                     "WHERE content LIKE 'idem %'") == CREATES
        assert len({post_id for _, post_id in outcomes.values()}) == CREATES
        assert_consistent(stack, settle_seconds=90)
        unpublished = scalar(stack.core_db, "SELECT string_agg(status || ': ' || "
                                        "coalesce(rejection_reason, ''), '; ') FROM posts "
                                        "WHERE status <> 'published' AND content LIKE 'idem %'")
    assert unpublished is None, unpublished
