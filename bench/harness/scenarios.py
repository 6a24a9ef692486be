"""The scenarios: ``mixed``, ``saga`` (create_post at several concurrencies) and
``replicas`` (the mixed workload on one, then two, replicas of each service)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testkit.infra import provide_infra

from . import sqlstats
from .consistency import run_consistency_check
from .floor import measure_floor
from .loadgen import Api, User, make_client
from .logs import scan_logs
from .profile import Profiler
from .resources import ResourceSampler
from .stacks import Target, external_target, own_stack
from .stats import summarize_op
from .workload import MIXED_WEIGHTS, RECENT_POSTS, Workload, measure, setup_pool

#: connections beyond one per simulated user, for the propagation probes
PROBE_CONNECTIONS = 32
SAGA_USERS = 16
FOLLOWS_PER_USER = 5


@dataclass(frozen=True)
class RunConfig:
    scenario: str
    clients: int
    duration: float
    warmup: float
    url: str | None
    levels: tuple[int, ...]
    probe_every: int
    seed: int | None
    log_dir: Path
    #: a prefix for user names and hashtags: unique per run, valid in both
    #: py-spy the services during each measured window
    profile: bool = False
    #: the load generator's HTTP client: aiohttp (cheap) or httpx
    client: str = "aiohttp"
    #: ops: the operations to drive (empty: all)
    operations: tuple[str, ...] = ()
    run_id: str = field(default_factory=lambda: "b" + uuid.uuid4().hex[:6])


@contextmanager
def target_for(cfg: RunConfig, log_dir: Path, replicas: int = 1) -> Iterator[Target]:
    """The running gateway of ``--url``, or a stack of our own."""
    if cfg.url is not None:
        yield external_target(cfg.url)
        return
    with ExitStack() as es:
        infra = es.enter_context(provide_infra())
        yield es.enter_context(own_stack(infra, log_dir, replicas))


def sampler_for(target: Target, cfg: RunConfig, label: str) -> ResourceSampler:
    """A resource sampler for a measured window, with py-spy on the services if asked."""
    profiler = None
    if cfg.profile:
        pids = {name: roots[0] for name, roots in target.pids.items()
                if name != "gateway" and roots}
        if not pids:
            raise SystemExit("--profile needs a stack of our own (not --url)")
        if not Profiler.available():
            raise SystemExit("--profile needs py-spy (uv sync installs it)")
        profiler = Profiler(pids, cfg.log_dir.parent / f"{cfg.log_dir.name}-profiles", label)
    return ResourceSampler(target.process_groups(), profiler=profiler,
                           service_urls=target.service_urls)


def cpu_ms_per_request(resources: dict[str, Any], requests: int) -> float | None:
    """CPU time of everything serving the requests (all but the load generator) per request.

    Less sensitive than throughput to other work on a shared machine."""
    groups = resources["processes"]
    if not requests or set(groups) == {"loadgen"}:  # --url: the services are not sampled
        return None
    percent = sum(float(g["cpu_percent_of_one_core"]) for n, g in groups.items()
                  if n != "loadgen")
    return round(percent / 100 * float(resources["seconds"]) * 1000 / requests, 1)


async def _finish(target: Target) -> dict[str, object]:
    return {"consistency": await run_consistency_check(target),
            "service_logs": scan_logs(target.logs)}


# ---------------------------------------------------------------------- mixed
async def mixed_workload(target: Target, cfg: RunConfig) -> dict[str, object]:
    async with make_client(target.url, cfg.clients + PROBE_CONNECTIONS, cfg.client) as client:
        api = Api(client)
        users, posts = await setup_pool(api, cfg.run_id, users=2 * cfg.clients,
                                        follows_per_user=FOLLOWS_PER_USER, posts_per_user=1,
                                        parallel=min(cfg.clients, 16))
        workload = Workload(api, users, cfg.run_id, deque(posts, maxlen=RECENT_POSTS),
                            probe_every=cfg.probe_every, rng=random.Random(cfg.seed))
        sampler = sampler_for(target, cfg, "mixed")
        print(f"mixed: {cfg.clients} clients, {cfg.warmup:g} s warm-up + "
              f"{cfg.duration:g} s against {target.url}", flush=True)
        recorder = await measure(workload, users[: cfg.clients], MIXED_WEIGHTS, cfg.warmup,
                                 cfg.duration, sampler)
    summary, resources = recorder.summary(), sampler.summary()
    return {**summary, "resources": resources,
            "cpu_ms_per_request": cpu_ms_per_request(resources, summary["total_requests"]),
            "sql_per_request": sqlstats.per_request(*sampler.statements,
                                                    summary["total_requests"]),
            **await _finish(target), "gateway_upstreams": target.gateway_upstreams,
            "setup_users": len(users)}


def run_mixed(cfg: RunConfig) -> dict[str, object]:
    with target_for(cfg, cfg.log_dir) as target:
        return asyncio.run(mixed_workload(target, cfg))


# ----------------------------------------------------------------------- saga
async def saga_level(workload: Workload, users: list[User], concurrency: int,
                     target: Target, cfg: RunConfig) -> dict[str, object]:
    clients = [users[i % len(users)] for i in range(concurrency)]
    sampler = sampler_for(target, cfg, f"saga-c{concurrency}")
    print(f"saga: concurrency {concurrency}, {cfg.warmup:g} s warm-up + {cfg.duration:g} s",
          flush=True)
    recorder = await measure(workload, clients, {"create_post": 1}, cfg.warmup, cfg.duration,
                             sampler)
    samples = recorder.ops.get("create_post")
    op = summarize_op("create_post", samples, recorder.window.seconds) if samples else {}
    resources = sampler.summary()
    ok = samples.ok if samples else 0
    return {"concurrency": concurrency, "create_post": op, "resources": resources,
            "cpu_ms_per_request": cpu_ms_per_request(resources, ok),
            "sql_per_saga": sqlstats.per_request(*sampler.statements, ok)}


async def saga_levels(target: Target, cfg: RunConfig) -> dict[str, object]:
    async with make_client(target.url, max(cfg.levels) + PROBE_CONNECTIONS, cfg.client) as client:
        api = Api(client)
        users, _ = await setup_pool(api, cfg.run_id, users=SAGA_USERS, follows_per_user=0,
                                    posts_per_user=0, parallel=SAGA_USERS)
        workload = Workload(api, users, cfg.run_id, deque(maxlen=RECENT_POSTS), probe_every=0,
                            rng=random.Random(cfg.seed))
        levels = [await saga_level(workload, users, c, target, cfg) for c in cfg.levels]
    return {"levels": levels, **await _finish(target)}


#: where the floor is measured: c=1 for latency, c=32 for saturation
FLOOR_LEVELS = (1, 32)


def floor_run(cfg: RunConfig) -> dict[str, Any]:
    """The floor saga on databases and a vhost of its own on the local servers."""
    with provide_infra() as infra:
        name = f"floor_{uuid.uuid4().hex[:8]}"
        core = infra.create_database(f"{name}_core", ).replace("+asyncpg", "")
        social = infra.create_database(f"{name}_social").replace("+asyncpg", "")
        amqp = infra.create_vhost(name)
        try:
            print(f"floor: bare asyncpg + aio-pika saga at concurrency {FLOOR_LEVELS}, "
                  f"{cfg.warmup:g} s warm-up + {cfg.duration:g} s each", flush=True)
            return asyncio.run(measure_floor(core, social, amqp, FLOOR_LEVELS, cfg.warmup,
                                             cfg.duration))
        finally:
            infra.drop_database(f"{name}_core")
            infra.drop_database(f"{name}_social")
            infra.delete_vhost(name)


def cpu_ms_per_saga_by_process(level: dict[str, Any]) -> dict[str, float | None]:
    """CPU ms per completed create_post, per process group (services, servers)."""
    resources, op = level["resources"], level["create_post"]
    sagas = (op.get("saga_completed_per_s") or 0) * float(resources["seconds"])
    return {name: (round(float(g["cpu_percent_of_one_core"]) / 100
                         * float(resources["seconds"]) * 1000 / sagas, 2) if sagas else None)
            for name, g in resources["processes"].items() if name != "loadgen"}


def against_floor(levels: list[dict[str, Any]], floor: dict[str, Any]) -> dict[str, Any]:
    """create_post p50 at concurrency 1 and saturation rate at 32, as ratios to the floor."""
    by_c = {lv["concurrency"]: lv for lv in levels}
    fl = {lv["concurrency"]: lv for lv in floor["levels"]}
    out: dict[str, Any] = {}
    if 1 in by_c and 1 in fl and fl[1]["p50_ms"]:
        p50 = by_c[1]["create_post"].get("saga_completion_ms", {}).get("p50")
        out["p50_c1_ms"] = p50
        out["floor_p50_c1_ms"] = fl[1]["p50_ms"]
        out["p50_ratio"] = round(p50 / fl[1]["p50_ms"], 2) if p50 else None
    if 32 in by_c and 32 in fl and fl[32]["per_s"]:
        rate = by_c[32]["create_post"].get("saga_completed_per_s")
        out["rate_c32_per_s"] = rate
        out["floor_rate_c32_per_s"] = fl[32]["per_s"]
        out["rate_ratio"] = round(rate / fl[32]["per_s"], 2) if rate else None
    return out


def run_saga(cfg: RunConfig) -> dict[str, object]:
    floor = floor_run(cfg)
    with target_for(cfg, cfg.log_dir) as target:
        result = asyncio.run(saga_levels(target, cfg))
    levels = result["levels"]
    assert isinstance(levels, list)
    for level in levels:
        level["cpu_ms_per_saga_by_process"] = cpu_ms_per_saga_by_process(level)
    return {**result, "floor": floor, "against_floor": against_floor(levels, floor)}


def run_floor(cfg: RunConfig) -> dict[str, object]:
    return floor_run(cfg)


# ------------------------------------------------------------------- replicas
def run_replicas(cfg: RunConfig) -> dict[str, object]:
    if cfg.url is not None:
        raise SystemExit("--scenario replicas starts its own stacks: --url is not supported")
    phases: dict[str, dict[str, object]] = {}
    for replicas in (1, 2):
        print(f"replicas: {replicas} of each service (a fresh stack)", flush=True)
        with target_for(cfg, cfg.log_dir / f"replicas-{replicas}", replicas) as target:
            phases[str(replicas)] = asyncio.run(mixed_workload(target, cfg))
    return {"phases": phases, "comparison": compare_phases(phases["1"], phases["2"])}


def compare_phases(one: dict[str, object], two: dict[str, object]) -> list[dict[str, object]]:
    """Per operation: throughput and p99 with one and with two replicas."""
    ops1, ops2 = one["operations"], two["operations"]
    assert isinstance(ops1, dict) and isinstance(ops2, dict)
    rows: list[dict[str, object]] = []
    for name in sorted(set(ops1) | set(ops2)):
        a, b = ops1.get(name, {}), ops2.get(name, {})
        rows.append({"operation": name,
                     "throughput_1": a.get("throughput_per_s"),
                     "throughput_2": b.get("throughput_per_s"),
                     "p99_1": a.get("latency_ms", {}).get("p99"),
                     "p99_2": b.get("latency_ms", {}).get("p99")})
    rows.append({"operation": "TOTAL", "throughput_1": one["total_per_s"],
                 "throughput_2": two["total_per_s"], "p99_1": None, "p99_2": None})
    return rows


# ------------------------------------------------------------------------ ops
def run_ops(cfg: RunConfig) -> dict[str, object]:
    from .ops import ops_workload

    with target_for(cfg, cfg.log_dir) as target:
        return asyncio.run(ops_workload(target, cfg, sampler_for))


SCENARIOS = {"mixed": run_mixed, "saga": run_saga, "replicas": run_replicas,
             "floor": run_floor, "ops": run_ops}
