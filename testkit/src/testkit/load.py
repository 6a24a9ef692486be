"""A small, bounded load for fault tests: a few threads doing a mix of writes
and reads through the API while something breaks, counting every answer."""

from __future__ import annotations

import itertools
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from .http import register_and_login


@dataclass
class LoadResult:
    answers: Counter[str] = field(default_factory=Counter)  # "create_post 201", ...
    errors: Counter[str] = field(default_factory=Counter)  # connection errors by operation
    posts: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, op: str, status: int | None, exc: Exception | None = None) -> None:
        with self.lock:
            if status is None:
                self.errors[f"{op} {type(exc).__name__}"] += 1
            else:
                self.answers[f"{op} {status}"] += 1

    def count(self, prefix: str) -> int:
        return sum(n for k, n in self.answers.items() if k.startswith(prefix))

    def statuses(self) -> set[int]:
        return {int(k.rsplit(" ", 1)[1]) for k in self.answers}


class Load:
    """``threads`` users doing random operations until stopped (or ``max_ops`` each)."""

    def __init__(self, url: str, threads: int = 4, max_ops: int = 10_000,
                 timeout: float = 15.0, urls: list[str] | None = None,
                 pause: float = 0.0) -> None:
        self.urls = urls or [url]
        #: seconds each user waits between two operations (0: as fast as answered)
        self.pause = pause
        self.threads = threads
        self.max_ops = max_ops
        self.timeout = timeout
        self.result = LoadResult()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        with httpx.Client(base_url=self.urls[0], timeout=30) as c:
            self.users = [register_and_login(c) for _ in range(threads + 1)]

    def __enter__(self) -> Load:
        for i in range(self.threads):
            t = threading.Thread(target=self._run, args=(i,), daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> LoadResult:
        self._stop.set()
        for t in self._workers:
            t.join(60)
        return self.result

    def _call(self, client: httpx.Client, op: str, method: str, path: str,
              **kw: Any) -> httpx.Response | None:
        try:
            r = client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            self.result.record(op, None, exc)
            time.sleep(0.05)
            return None
        self.result.record(op, r.status_code)
        return r

    def _run(self, i: int) -> None:
        me = self.users[i]
        others = [u for u in self.users if u is not me]
        rnd = random.Random(i)
        clients = [httpx.Client(base_url=u, timeout=self.timeout, headers=me["headers"])
                   for u in self.urls]
        try:
            for n in range(self.max_ops):
                if self._stop.wait(self.pause) if self.pause else self._stop.is_set():
                    return
                c = clients[n % len(clients)]
                op = rnd.choice(["post", "post", "like", "comment", "feed", "follow",
                                 "message", "read_post"])
                if op == "post":
                    r = self._call(c, "create_post", "POST", "/api/posts", json={
                        "content": f"load #load #t{uuid.uuid4().hex[:6]}"})
                    if r is not None and r.status_code in (201, 202):
                        with self.result.lock:
                            self.result.posts.append(r.json()["id"])
                elif op in ("like", "comment", "read_post") and self.result.posts:
                    post = rnd.choice(self.result.posts)
                    if op == "like":
                        self._call(c, "like", "POST", f"/api/posts/{post}/likes")
                    elif op == "comment":
                        self._call(c, "comment", "POST", f"/api/posts/{post}/comments",
                                   json={"content": "nice"})
                    else:
                        self._call(c, "read_post", "GET", f"/api/posts/{post}")
                elif op == "feed":
                    self._call(c, "feed", "GET", "/api/feed")
                elif op == "follow":
                    other = rnd.choice(others)
                    self._call(c, "follow", rnd.choice(["POST", "DELETE"]),
                               f"/api/follow/{other['id']}")
                elif op == "message":
                    other = rnd.choice(others)
                    self._call(c, "message", "POST", "/api/messages",
                               json={"receiver_id": other["id"], "content": "hi"})
        finally:
            for c in clients:
                c.close()


class PauseMeter:
    """When sagas completed (a create_post answered 201), sampled in the background."""

    def __init__(self, load: Load, interval: float = 0.05) -> None:
        self.load, self.interval = load, interval
        self.completions: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PauseMeter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        seen = self.load.result.count("create_post 201")
        while not self._stop.wait(self.interval):
            now = self.load.result.count("create_post 201")
            if now > seen:
                self.completions.append(time.monotonic())
                seen = now

    def longest_gap(self, start: float, end: float) -> float:
        """The longest time without a completion overlapping ``[start, end]``."""
        times = list(self.completions)
        if not times or times[0] > start:
            times.insert(0, start)
        gaps = [b - a for a, b in itertools.pairwise(times) if b >= start and a <= end]
        return max(gaps, default=end - start)


def describe(result: LoadResult, meter: PauseMeter,
             windows: list[tuple[str, float, float]]) -> str:
    """The answers the load got and, for each ``(what, start, end)`` window, the longest
    pause without a saga completing (printed by the failover tests, never asserted)."""
    lines = [f"load: {sum(result.answers.values())} answers {dict(result.answers)}; "
             f"connection errors {dict(result.errors)}"]
    lines += [f"{what}: longest pause without a saga completing "
              f"{meter.longest_gap(start, end):.2f}s (window {end - start:.1f}s)"
              for what, start, end in windows]
    return "\n".join(lines)
