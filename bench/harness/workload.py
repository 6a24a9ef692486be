"""The mixed workload: a pool of users, weighted operations, closed-loop clients.

Each simulated user sends one request, waits for the answer, and sends the next
(no think time): the load is as high as the stack allows with that many users.
A sample of created posts (every ``probe_every``-th) is followed by a probe
that polls the post's unique hashtag on social-service until the post shows up:
the event propagation lag (``post.published`` consumed by social's projection).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from .loadgen import CLIENT_ERRORS, PASSWORD, Answer, Api, User, bounded_gather, login, register
from .resources import ResourceSampler
from .stats import Recorder, Window

#: the small set of hashtags every post may carry besides its unique one
KNOWN_TAGS = ("travel", "food", "sunset", "cats", "fitness", "art", "music", "bench")

#: relative weights of the operations of the mixed workload
MIXED_WEIGHTS: dict[str, float] = {
    "register": 1,
    "login": 1,
    "create_post": 10,
    "like": 18,
    "comment": 10,
    "follow": 6,
    "feed": 22,
    "send_message": 10,
    "create_story": 5,
    "hashtag_search": 17,
}

PROBE_POLL_INTERVAL_S = 0.007
PROBE_TIMEOUT_S = 15.0
RECENT_POSTS = 500


@dataclass
class Workload:
    api: Api
    users: list[User]
    run_id: str
    recent_posts: deque[int]
    probe_every: int = 10
    rng: random.Random = field(default_factory=random.Random)
    probes: set[asyncio.Task[None]] = field(default_factory=set)
    _posts: itertools.count[int] = field(default_factory=itertools.count)
    _names: itertools.count[int] = field(default_factory=itertools.count)
    #: users only followed, each once by each client (``follow_target``): every
    #: follow is then a new one, not the no-op of following someone again
    follow_targets: list[User] | None = None
    _followed: dict[int, int] = field(default_factory=dict)

    def follow_target(self, me: User) -> User:
        """The next of ``follow_targets`` for ``me`` (around again once all are
        followed), or any other user without them."""
        if not self.follow_targets:
            return self.other_user(me)
        n = self._followed.get(me.id, 0)
        self._followed[me.id] = n + 1
        return self.follow_targets[n % len(self.follow_targets)]

    @property
    def follows_sent(self) -> int:
        """The follows sent to ``follow_targets`` (warm-up included)."""
        return sum(self._followed.values())

    def other_user(self, me: User) -> User:
        while True:
            other = self.rng.choice(self.users)
            if other.id != me.id:
                return other

    def recent_post(self) -> int | None:
        return self.rng.choice(self.recent_posts) if self.recent_posts else None

    def new_name(self, kind: str) -> str:
        return f"{self.run_id}{kind}{next(self._names)}"

    def post_content(self) -> tuple[str, str]:
        """A caption with 1 to 3 hashtags: 0-2 known ones and a unique one."""
        unique = self.new_name("t")
        known = self.rng.sample(KNOWN_TAGS, self.rng.randint(0, 2))
        tags = " ".join(f"#{t}" for t in [*known, unique])
        return f"benchmark post {unique} {tags}", unique

    def should_probe(self, answer: Answer) -> bool:
        if self.probe_every <= 0 or answer.started not in self.api.recorder.window:
            return False
        return next(self._posts) % self.probe_every == 0

    async def drain_probes(self) -> None:
        if self.probes:
            await asyncio.gather(*self.probes)


# ------------------------------------------------------------------ operations
async def op_register(w: Workload, me: User) -> None:
    name = w.new_name("r")
    await w.api.call("register", "POST", "/api/auth/register", json={
        "username": name, "email": f"{name}@example.com", "password": PASSWORD})


async def op_login(w: Workload, me: User) -> None:
    await login(w.api, me)


async def op_create_post(w: Workload, me: User) -> None:
    content, tag = w.post_content()
    answer = await w.api.call("create_post", "POST", "/api/posts", me, json={"content": content})
    if answer is None or answer.status != 201:
        return
    post_id = int(answer.response.json()["id"])
    w.recent_posts.append(post_id)
    if w.should_probe(answer):
        task = asyncio.create_task(probe(w.api, w.api.recorder, me, tag, post_id, answer))
        w.probes.add(task)
        task.add_done_callback(w.probes.discard)


async def op_like(w: Workload, me: User) -> None:
    post_id = w.recent_post()
    if post_id is not None:
        await w.api.call("like", "POST", f"/api/posts/{post_id}/likes", me)


async def op_comment(w: Workload, me: User) -> None:
    post_id = w.recent_post()
    if post_id is not None:
        await w.api.call("comment", "POST", f"/api/posts/{post_id}/comments", me,
                         json={"content": f"nice one, from {me.username}"})


async def op_follow(w: Workload, me: User) -> None:
    await w.api.call("follow", "POST", f"/api/follow/{w.follow_target(me).id}", me)


async def op_feed(w: Workload, me: User) -> None:
    await w.api.call("feed", "GET", "/api/feed", me, params={"limit": 20})


async def op_send_message(w: Workload, me: User) -> None:
    other = w.other_user(me)
    await w.api.call("send_message", "POST", "/api/messages", me,
                     json={"receiver_id": other.id, "content": f"hi {other.username}"})


async def op_create_story(w: Workload, me: User) -> None:
    await w.api.call("create_story", "POST", "/api/stories", me, json={
        "image_url": f"https://img.example.com/{w.new_name('s')}.jpg", "content": "story"})


async def op_hashtag_search(w: Workload, me: User) -> None:
    prefix = w.rng.choice(KNOWN_TAGS)[: w.rng.randint(2, 4)]
    await w.api.call("hashtag_search", "GET", "/api/search/hashtags", me,
                     params={"q": prefix, "limit": 20})


OPERATIONS: dict[str, Callable[[Workload, User], Awaitable[None]]] = {
    "register": op_register,
    "login": op_login,
    "create_post": op_create_post,
    "like": op_like,
    "comment": op_comment,
    "follow": op_follow,
    "feed": op_feed,
    "send_message": op_send_message,
    "create_story": op_create_story,
    "hashtag_search": op_hashtag_search,
}


# ------------------------------------------------------------ propagation probe
async def _post_is_listed(client: Any, me: User, tag: str, post_id: int) -> bool:
    try:
        resp = await client.get(f"/api/search/posts/hashtag/{tag}", headers=me.headers)
    except CLIENT_ERRORS:
        return False
    return resp.status_code == 200 and any(p.get("id") == post_id for p in resp.json())


async def probe(api: Api, recorder: Recorder, me: User, tag: str, post_id: int,
                answer: Answer) -> None:
    """Poll the post's unique hashtag until the post is listed; record the lag.

    The post counts as appeared when the answer that lists it arrives (what a
    client sees); that poll's own latency is recorded too, as the resolution."""
    deadline = answer.finished + PROBE_TIMEOUT_S
    while time.perf_counter() < deadline:
        recorder.probe_polls += 1
        sent = time.perf_counter()
        if await _post_is_listed(api.client, me, tag, post_id):
            recorder.propagated(answer.started, answer.finished, sent, time.perf_counter())
            return
        await asyncio.sleep(PROBE_POLL_INTERVAL_S)
    recorder.lag_timeouts += 1


# ---------------------------------------------------------------------- set-up
async def setup_pool(api: Api, run_id: str, users: int, follows_per_user: int,
                     posts_per_user: int, parallel: int) -> tuple[list[User], list[int]]:
    """Register ``users`` users, add follows and posts; wait until social knows them."""
    rng = random.Random(run_id)
    pool = await bounded_gather(parallel, [
        partial(register, api, f"{run_id}u{i}") for i in range(users)])
    per_user = min(follows_per_user, len(pool) - 1)
    follows = [partial(api.expect, "setup_follow", "POST", f"/api/follow/{v.id}", u)
               for u in pool for v in rng.sample(_others(pool, u), per_user)]
    await bounded_gather(parallel, follows)
    posts = await bounded_gather(parallel, [
        partial(api.expect, "setup_post", "POST", "/api/posts", u, codes=(201,), json={
            "content": f"hello from {u.username} #{rng.choice(KNOWN_TAGS)} #seed{n}"})
        for n, u in enumerate(pool * posts_per_user)])
    await wait_for_user_projections(api, pool)
    return pool, [int(p["id"]) for p in posts]


async def setup_follow_targets(api: Api, run_id: str, users: int, parallel: int
                               ) -> list[User]:
    """``users`` more users, for the follow operation alone to follow."""
    targets = await bounded_gather(parallel, [
        partial(register, api, f"{run_id}f{i}") for i in range(users)])
    await wait_for_user_projections(api, targets)
    return targets


def _others(pool: list[User], me: User) -> list[User]:
    return [u for u in pool if u is not me]


async def wait_for_user_projections(api: Api, users: list[User], timeout: float = 60) -> None:
    """Messages to a user social has not heard of yet would be 404: wait for all of them."""
    deadline = time.perf_counter() + timeout
    waiting = list(users)
    while waiting and time.perf_counter() < deadline:
        me = users[0]
        found = await asyncio.gather(*(api.call("setup_search", "GET", "/api/search/users", me,
                                                params={"q": u.username}) for u in waiting))
        waiting = [u for u, a in zip(waiting, found, strict=True)
                   if a is None or u.id not in {x["id"] for x in a.response.json()}]
        if waiting:
            await asyncio.sleep(0.2)
    if waiting:
        print(f"warning: social-service does not list {len(waiting)} users after {timeout}s")


# ----------------------------------------------------------------- measurement
async def client_loop(w: Workload, me: User, weights: Mapping[str, float], end: float) -> None:
    names = list(weights)
    cumulative = list(itertools.accumulate(weights.values()))
    while time.perf_counter() < end:
        op = w.rng.choices(names, cum_weights=cumulative)[0]
        started = time.perf_counter()
        try:
            await OPERATIONS[op](w, me)
        except Exception as exc:  # an unexpected answer: reported, the run goes on
            w.api.recorder.failed(op, started, exc)


async def measure(w: Workload, clients: list[User], weights: Mapping[str, float],
                  warmup: float, duration: float, sampler: ResourceSampler) -> Recorder:
    """Run ``clients`` loops for warmup + duration; record the requests of the window."""
    now = time.perf_counter()
    recorder = Recorder(Window(now + warmup, now + warmup + duration))
    w.api.recorder = recorder
    loops = [asyncio.create_task(client_loop(w, me, weights, recorder.window.end))
             for me in clients]
    await asyncio.sleep(warmup)
    sampler.start()
    await asyncio.sleep(max(0.0, recorder.window.end - time.perf_counter()))
    sampler.stop()
    await asyncio.gather(*loops)
    await w.drain_probes()
    return recorder
