"""Benchmark harness: drive the stack through the gateway and report.

Scenarios:

* ``mixed`` (default): a pool of users (2 x clients) with follows and posts, then
  ``--clients`` simulated users in closed loops, each choosing by weight: register,
  login, create post (1-3 hashtags), like, comment, follow, feed, message, story,
  hashtag search. Per operation: requests, throughput, 202 (saga still pending),
  errors, p50/p95/p99/max latency; saga completion latency (201 answers of
  create_post, send_message, create_story); event propagation lag (every 10th post
  polled by its unique hashtag on social until listed); CPU and memory of core,
  social, nginx and the load generator; the consistency check when available.
* ``saga``: create_post only, at concurrency 1, 8, 32, 128 (``--levels``).
* ``replicas``: ``mixed`` on one replica of each service, then on two.
* ``ops``: each operation alone at ``--clients``, CPU ms per request of each process
  role (services, gateway, PostgreSQL, RabbitMQ, load generator) beside its target,
  statements and estimated round trips per request (``harness/ops.py``).
* ``floor``: the cheapest saga asyncpg and aio-pika can run (``harness/floor.py``);
  ``saga`` measures it first and reports create_post as ratios to it.

With ``BENCH_TRACING=1`` the stack's services trace every request, exporting their
spans to a receiver process of the harness's own (``testkit.otlp``), whose CPU is
shown (``otlp receiver``) but not counted as the system's: what tracing costs the
services, e.g. ``BENCH_TRACING=1 uv run python bench/run.py --scenario ops``.

It starts its own stack (``running_stack``: databases, vhost, services and nginx on
free ports, on the local PostgreSQL/RabbitMQ or TEST_POSTGRES_URL / TEST_AMQP_URL)
unless ``--url`` names a running gateway. Results:
``<out>/<scenario>-<timestamp>.json``, ``.txt`` (the table printed here) and ``.png``;
the services' logs in ``<out>/<scenario>-<timestamp>-logs/``. Timings are reported,
never asserted.

    uv run python bench/run.py --duration 10 --clients 16
    uv run python bench/run.py --scenario saga --duration 5
    uv run python bench/run.py --scenario replicas --duration 8
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.report import render_text, write_chart, write_json
from harness.resources import machine_busy_percent
from harness.scenarios import SCENARIOS, RunConfig
from harness.stacks import tracing_requested

RESULTS = Path(__file__).resolve().parent / "results"
QUIET_PERCENT = 15.0
DEFAULT_DURATION = {"mixed": 30.0, "saga": 15.0, "replicas": 30.0, "floor": 10.0,
                    "ops": 10.0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="mixed")
    parser.add_argument("--clients", type=int, default=32,
                        help="concurrent simulated users (mixed, replicas); default 32")
    parser.add_argument("--duration", type=float, default=None,
                        help="measured seconds (per level or phase); default 30, saga 15")
    parser.add_argument("--warmup", type=float, default=3.0,
                        help="seconds of load before measuring (each level or phase)")
    parser.add_argument("--url", help="a running gateway (default: start a stack)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    parser.add_argument("--levels", default="1,8,32,128",
                        help="saga scenario: comma-separated concurrencies")
    parser.add_argument("--probe-every", type=int, default=10,
                        help="follow every Nth created post for the propagation lag (0: off)")
    parser.add_argument("--seed", type=int, default=None, help="random seed of the workload")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="first wait up to SECONDS for the machine to be nearly idle "
                             "(other test runs skew the numbers); default: do not wait")
    parser.add_argument("--client", choices=("aiohttp", "httpx"), default="aiohttp",
                        help="the load generator's HTTP client (aiohttp costs about a tenth "
                             "of httpx's CPU per request); default aiohttp")
    parser.add_argument("--operations", default=None,
                        help="ops scenario: comma-separated operations to drive "
                             "(default: all of them)")
    parser.add_argument("--profile", action="store_true",
                        help="sample the services with py-spy during each measured window; "
                             "collapsed stacks in <out>/<run>-profiles/, summary in the table")
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = DEFAULT_DURATION[args.scenario]
    if args.clients < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("--clients must be >= 1, --duration > 0, --warmup >= 0")
    return args


def machine() -> dict[str, object]:
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal:"))
    return {"nproc": os.cpu_count(), "memory_gib": round(mem_kb / 1024**2, 1),
            "python": platform.python_version(), "platform": platform.platform(),
            "hostname": platform.node(), "busy_before_percent": machine_busy_percent()}


def wait_until_quiet(seconds: float, threshold: float = QUIET_PERCENT) -> float:
    """Wait (at most ``seconds``) until the machine is under ``threshold`` % busy."""
    deadline = time.monotonic() + seconds
    busy = machine_busy_percent(2.0)
    while busy > threshold and time.monotonic() < deadline:
        print(f"machine {busy} % busy: waiting for it to quiet down", flush=True)
        busy = machine_busy_percent(5.0)
    return busy


def config(args: argparse.Namespace, log_dir: Path) -> RunConfig:
    levels = tuple(int(v) for v in args.levels.split(",") if v.strip())
    return RunConfig(scenario=args.scenario, clients=args.clients, duration=args.duration,
                     warmup=args.warmup, url=args.url, levels=levels,
                     probe_every=args.probe_every, seed=args.seed, log_dir=log_dir,
                     profile=args.profile, client=args.client,
                     operations=tuple(o.strip() for o in (args.operations or "").split(",")
                                      if o.strip()))


def parameters(cfg: RunConfig) -> dict[str, object]:
    params: dict[str, object] = {"clients": cfg.clients, "duration": cfg.duration,
                                 "warmup": cfg.warmup, "url": cfg.url,
                                 "probe_every": cfg.probe_every, "seed": cfg.seed,
                                 "client": cfg.client}
    if cfg.scenario == "saga":
        params = {"levels": list(cfg.levels), "duration": cfg.duration, "warmup": cfg.warmup,
                  "url": cfg.url, "seed": cfg.seed}
    return params


def write_outputs(doc: dict[str, Any], out: Path, stem: str) -> str:
    text = render_text(doc)
    write_json(doc, out / f"{stem}.json")
    (out / f"{stem}.txt").write_text(text)
    write_chart(doc, out / f"{stem}.png")
    return text


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.wait_quiet > 0:
        wait_until_quiet(args.wait_quiet)
    host = machine()  # before the stack starts: how busy the machine was already
    started = datetime.now(UTC)
    stem = f"{args.scenario}-{started.strftime('%Y%m%dT%H%M%SZ')}"
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    cfg = config(args, out / f"{stem}-logs")
    t0 = time.monotonic()
    results = SCENARIOS[cfg.scenario](cfg)
    doc = {"scenario": cfg.scenario, "started_at": started.isoformat(timespec="seconds"),
           "wall_seconds": round(time.monotonic() - t0, 1), "machine": host,
           "parameters": parameters(cfg),
           "target": cfg.url or "a stack of its own (running_stack, LOG_LEVEL=WARNING)",
           "logs_dir": None if cfg.url else str(cfg.log_dir),
           "tracing": tracing_requested() and not cfg.url, "results": results}
    print(write_outputs(doc, out, stem))
    chart = ", .png" if (out / f"{stem}.png").exists() else ""
    print(f"written: {out / stem}.json, .txt{chart}" + ("" if cfg.url else
                                                       f"; service logs in {cfg.log_dir}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
