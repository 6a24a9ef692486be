"""The ``ops`` scenario: each operation driven alone, and what one request of it costs.

For every operation (feed, hashtag search, like, comment, follow, create_post,
send_message) ``--clients`` users run only that operation for ``--duration`` seconds
after a warm-up. Per operation: throughput, p50/p99, and CPU milliseconds per request
of each process role (core, social, the gateway, the PostgreSQL and RabbitMQ servers,
the load generator), with their sum without the load generator beside its target.
Database work per request: the statements the services ran (their
``sql_statements_total``), the round trips to PostgreSQL counted where the services
call the driver (``db_round_trips_total``: statements plus BEGIN, COMMIT, ROLLBACK
and savepoints) and the transactions PostgreSQL counted for the two databases
(``pg_stat_database``: an autocommit read is one too).
"""

from __future__ import annotations

from collections import deque
from typing import Any

import asyncpg

from . import sqlstats
from .consistency import settle
from .loadgen import Api, make_client
from .stacks import OTLP_ROLE, Target
from .stats import summarize_op
from .workload import RECENT_POSTS, Workload, measure, setup_follow_targets, setup_pool

#: what each operation should cost at most, all server processes together (ms)
TARGETS_MS = {"feed": 1.0, "hashtag_search": 1.0, "like": 2.5, "comment": 2.5,
              "follow": 2.5, "create_post": 5.0, "send_message": 5.0}

#: users registered for the follow operation alone: each client follows each of them
#: once, so that every follow measured makes a follow (following someone again is a
#: no-op of two statements); enough for about 500 follows/s over warm-up and window
FOLLOW_TARGETS = 500


async def _transactions(target: Target) -> int:
    """Committed plus rolled back transactions of the stack's two databases."""
    assert target.stack is not None and target.infra is not None
    names = [url.rsplit("/", 1)[1] for url in (target.stack.core_db, target.stack.social_db)]
    conn = await asyncpg.connect(target.infra.postgres_url.replace("+asyncpg", ""))
    try:
        return int(await conn.fetchval(
            "SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database "
            "WHERE datname = ANY($1::text[])", names))
    finally:
        await conn.close()


def _per(count: int, requests: int) -> float | None:
    return round(count / requests, 1) if requests else None


def _per_request(resources: dict[str, Any], requests: int) -> dict[str, float | None]:
    seconds = float(resources["seconds"])
    return {name: (round(float(g["cpu_percent_of_one_core"]) / 100 * seconds * 1000
                         / requests, 2) if requests else None)
            for name, g in resources["processes"].items()}


async def ops_workload(target: Target, cfg: Any, sampler_for: Any) -> dict[str, Any]:
    if target.stack is None:
        raise SystemExit("--scenario ops starts its own stack (it reads PostgreSQL's "
                         "counters and the servers' CPU): --url is not supported")
    unknown = set(cfg.operations) - set(TARGETS_MS)
    if unknown:
        raise SystemExit(f"--operations: unknown {sorted(unknown)}; one of {list(TARGETS_MS)}")
    results: dict[str, Any] = {}
    async with make_client(target.url, cfg.clients + 8, cfg.client) as client:
        api = Api(client)
        users, posts = await setup_pool(api, cfg.run_id, users=2 * cfg.clients,
                                        follows_per_user=5, posts_per_user=2,
                                        parallel=min(cfg.clients, 16))
        operations = cfg.operations or list(TARGETS_MS)
        targets = await setup_follow_targets(api, cfg.run_id, FOLLOW_TARGETS,
                                             parallel=min(cfg.clients, 16)) \
            if "follow" in operations else []
        for op in operations:
            workload = Workload(api, users, cfg.run_id, deque(posts, maxlen=RECENT_POSTS),
                                probe_every=0, follow_targets=targets)
            sampler = sampler_for(target, cfg, f"ops-{op}")
            print(f"ops: {op} alone, {cfg.clients} clients, {cfg.warmup:g} s warm-up + "
                  f"{cfg.duration:g} s", flush=True)
            # what the previous operation left queued is handled before this one is
            # measured, so its consumers' work is not counted as this operation's
            settled = await settle(target)
            xact_before = await _transactions(target)
            recorder = await measure(workload, users[: cfg.clients], {op: 1}, cfg.warmup,
                                     cfg.duration, sampler)
            xact_after = await _transactions(target)
            samples = recorder.ops.get(op)
            summary = summarize_op(op, samples, recorder.window.seconds) if samples else {}
            requests = samples.ok if samples else 0
            resources = sampler.summary()
            cpu = _per_request(resources, requests)
            system = round(sum(v for k, v in cpu.items()
                               if k not in ("loadgen", OTLP_ROLE) and v), 2) \
                if requests else None
            sql = sqlstats.per_request(*sampler.statements, requests)
            statements = sum(s["statements"] for s in sql.values())
            round_trips = sum(s["round_trips"] for s in sql.values())
            # the window's transactions, scaled to the requests of the window (the
            # counters are read just outside it, so a little warm-up and drain is in)
            transactions = xact_after - xact_before
            results[op] = {
                "operation": summary, "requests": requests, "resources": resources,
                "cpu_ms_per_request": cpu, "system_cpu_ms_per_request": system,
                "target_ms": TARGETS_MS[op], "sql": sql,
                "statements_per_request": _per(statements, requests),
                "transactions_per_request": _per(transactions, requests),
                "round_trips_per_request": _per(round_trips, requests),
                "settled_before": settled,
            }
            if op == "follow":
                # past it (a faster system than foreseen), some follows were no-ops
                results[op]["new_follows_at_most"] = cfg.clients * len(targets)
                results[op]["follows_sent"] = workload.follows_sent
    return {"operations": results}


def ops_text(result: dict[str, Any]) -> str:
    from .report import table

    roles = ["core", "social", "gateway", "postgres (server)", "rabbitmq (server)", "loadgen"]
    if any(OTLP_ROLE in r["cpu_ms_per_request"] for r in result["operations"].values()):
        roles.append(OTLP_ROLE)  # BENCH_TRACING=1: shown, not in the system's sum
    rows = []
    for op, r in result["operations"].items():
        cpu = r["cpu_ms_per_request"]
        o = r["operation"]
        rows.append([op, o.get("throughput_per_s"), o.get("latency_ms", {}).get("p50"),
                     o.get("latency_ms", {}).get("p99"),
                     *(cpu.get(role) for role in roles), r["system_cpu_ms_per_request"],
                     r["target_ms"], r["statements_per_request"],
                     r["round_trips_per_request"], r["transactions_per_request"]])
    text = table(["operation", "req/s", "p50 ms", "p99 ms", *[f"{r} ms" for r in roles],
                  "system ms", "target ms", "statements", "round trips", "transactions"],
                 rows)
    follow = result["operations"].get("follow")
    if follow and follow.get("follows_sent", 0) > follow.get("new_follows_at_most", 0):
        text += (f"\nwarning: {follow['follows_sent']} follows sent, at most "
                 f"{follow.get('new_follows_at_most', 0)} of them new (raise FOLLOW_TARGETS)")
    return text
