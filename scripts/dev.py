"""``make dev``: the whole stack without Docker, in the foreground.

Uses the PostgreSQL and RabbitMQ named by DEV_POSTGRES_URL and DEV_AMQP_URL
(localhost by default), creates the databases ``core`` and ``social`` if they
are missing, applies the migrations, then runs core-service on 8001,
social-service on 8002 and the nginx gateway on 8000 until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import asyncpg

from instasaga_gateway import render

ROOT = Path(__file__).resolve().parents[1]



def _db_url(server: str, name: str) -> str:
    p = urllib.parse.urlsplit(server)
    return urllib.parse.urlunsplit(("postgresql+asyncpg", p.netloc, f"/{name}", "", ""))


async def _ensure_database(server: str, name: str) -> None:
    conn = await asyncpg.connect(server)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")
    finally:
        await conn.close()


def _wait_ready(addresses: list[str], procs: list[subprocess.Popen[bytes]],
                timeout: float = 90) -> None:
    """Wait until every service answers /ready (or one of them exits)."""
    end = time.monotonic() + timeout
    pending = list(addresses)
    while pending and time.monotonic() < end and all(p.poll() is None for p in procs):
        try:
            with urllib.request.urlopen(f"http://{pending[0]}/ready", timeout=2):
                pending.pop(0)
                continue
        except OSError:
            time.sleep(0.5)
    if pending:
        print(f"not ready: {', '.join(pending)}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", default=os.environ.get(
        "DEV_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--amqp", default=os.environ.get(
        "DEV_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"))
    parser.add_argument("--replicas", type=int, default=int(os.environ.get("REPLICAS", "1")),
                        help="processes of each service (ports 8001, 8011, ... / 8002, 8012, ...)")
    args = parser.parse_args()

    try:
        render.nginx_command(Path("/nonexistent/nginx.conf"))
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1

    services = {"core_service": ("core", 8001), "social_service": ("social", 8002)}
    for package, (db, _port) in services.items():
        asyncio.run(_ensure_database(args.postgres, db))
        env = {**os.environ, "DATABASE_URL": _db_url(args.postgres, db)}
        subprocess.run([sys.executable, "-m", f"{package}.migrate"], env=env, check=True)

    run_dir = ROOT / ".dev"
    run_dir.mkdir(exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    upstreams: dict[str, list[str]] = {}
    for package, (db, port) in services.items():
        env = {"ENVIRONMENT": "development", "DATABASE_URL": _db_url(args.postgres, db),
               "AMQP_URL": args.amqp, **os.environ}
        for replica in range(args.replicas):
            replica_port = port + 10 * replica
            upstreams.setdefault(package, []).append(f"127.0.0.1:{replica_port}")
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "uvicorn", f"{package}.main:create_app", "--factory",
                 "--host", "127.0.0.1", "--port", str(replica_port), "--no-access-log"],
                env=env, start_new_session=True))
    conf = render.render(run_dir, upstreams["core_service"], upstreams["social_service"], 8000)
    # own sessions: Ctrl-C reaches this script only, which stops them in order
    procs.append(subprocess.Popen(render.nginx_command(conf), start_new_session=True))
    _wait_ready([*upstreams["core_service"], *upstreams["social_service"]], procs)
    print(f"gateway on http://127.0.0.1:8000; core {', '.join(upstreams['core_service'])}; "
          f"social {', '.join(upstreams['social_service'])}; Ctrl-C stops everything")

    def stop_all() -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGQUIT if p is procs[-1] else signal.SIGTERM)
        deadline = time.monotonic() + 15
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()

    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    code = 0
    try:
        while not stopping.wait(0.5):
            if any(p.poll() is not None for p in procs):
                print("a process exited; stopping the others", file=sys.stderr)
                code = 1
                break
    finally:
        print("stopping...", file=sys.stderr)
        stop_all()
    return code


if __name__ == "__main__":
    sys.exit(main())
