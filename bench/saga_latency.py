"""create_post saga latency through the gateway.

Starts its own stack (both services and nginx on free ports, with databases
and a vhost of their own, on the local PostgreSQL and RabbitMQ or on
TEST_POSTGRES_URL / TEST_AMQP_URL), or uses a running one with ``--url``.
Each request waits for its saga (HTTP 201 means: inserted, indexed by
social, published), so the request latency is the saga latency.

    uv run python bench/saga_latency.py --requests 300 --concurrency 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import httpx

from testkit.infra import provide_infra
from testkit.stack import running_stack

RESULTS = Path(__file__).parent / "results"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


async def run(url: str, requests: int, concurrency: int, warmup: int) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        name = f"bench{uuid.uuid4().hex[:8]}"
        r = await client.post("/api/auth/register", json={
            "username": name, "email": f"{name}@example.com", "password": "benchmark1"})
        r.raise_for_status()
        r = await client.post("/api/auth/login", json={"email": f"{name}@example.com",
                                                       "password": "benchmark1"})
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        latencies: list[float] = []
        codes: dict[int, int] = {}
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(warmup + requests):
            queue.put_nowait(i)

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                t0 = time.perf_counter()
                resp = await client.post("/api/posts", headers=headers, json={
                    "content": f"bench post {i} #bench #tag{i % 50} #{name}"})
                elapsed = time.perf_counter() - t0
                if i >= warmup:
                    codes[resp.status_code] = codes.get(resp.status_code, 0) + 1
                    latencies.append(elapsed * 1000)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return {
        "operation": "create_post (saga, through the gateway)",
        "requests": requests, "concurrency": concurrency, "status_codes": codes,
        "throughput_per_s": round(len(latencies) / wall, 1),
        "latency_ms": {"p50": round(percentile(latencies, 50), 2),
                       "p95": round(percentile(latencies, 95), 2),
                       "p99": round(percentile(latencies, 99), 2),
                       "max": round(max(latencies), 2),
                       "mean": round(statistics.fmean(latencies), 2)},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running gateway (default: start a stack)")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    with ExitStack() as stack:
        url = args.url
        if url is None:
            infra = stack.enter_context(provide_infra())
            logs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
            url = stack.enter_context(running_stack(infra, logs,
                                                    env={"LOG_LEVEL": "WARNING"})).url
        result = asyncio.run(run(url, args.requests, args.concurrency, args.warmup))
    result["measured_at"] = datetime.now(UTC).isoformat()
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"saga_latency-c{args.concurrency}-{int(time.time())}.json"
    out.write_text(json.dumps(result, indent=2))
    lat = result["latency_ms"]
    print(f"{result['operation']}: {result['requests']} requests, concurrency "
          f"{result['concurrency']}, {result['throughput_per_s']}/s, codes "
          f"{result['status_codes']}")
    print("  p50 {p50} ms  p95 {p95} ms  p99 {p99} ms  max {max} ms".format(**lat))  # type: ignore[str-format]
    print(f"  written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
