"""``make dev``: the whole stack without Docker, in the foreground.

Uses the PostgreSQL and RabbitMQ named by DEV_POSTGRES_URL and DEV_AMQP_URL
(localhost by default), creates the databases ``core`` and ``social`` if they
are missing, applies the migrations, then runs core-service on 8001,
social-service on 8002, the nginx gateway on 8000 and the operator console on
127.0.0.1:8009 (``ops_tools.console``; its token is ``$OPS_TOKEN``, or the
development-only ``ops-dev-only``) until Ctrl-C.

A process that dies is started again (like a compose restart policy), after a
short pause growing with each crash; after 5 crashes of the same process
within 60 seconds everything stops.

``--rabbitmq-nodes 3`` (``make dev RABBITMQ_NODES=3``) starts a RabbitMQ
cluster of its own instead (``testkit.rabbit_cluster``: nodes
``rabbit-c1@localhost``... on AMQP ports 5681..., management 15681..., data in
``.dev/rabbit-cluster``, kept between runs) and gives the services every
node's address; the machine's RabbitMQ is not used.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import asyncpg

from instasaga_gateway import render
from testkit.rabbit_cluster import ClusterUnavailable, RabbitCluster, dev_cluster

ROOT = Path(__file__).resolve().parents[1]
#: crashes of one process within the window after which it is not restarted again
MAX_CRASHES, CRASH_WINDOW_SECONDS = 5, 60.0


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


class StopRequest:
    """Set by SIGINT/SIGTERM, however many arrive: the handler only sets a flag. (A
    ``threading.Event`` there can deadlock: a second signal landing while the main
    thread holds the event's lock inside ``wait`` runs ``set`` on the same thread,
    which waits for that lock for ever.)"""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.requested = True

    def is_set(self) -> bool:
        return self.requested

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds`` (a signal cuts it short); whether a stop is asked."""
        end = time.monotonic() + seconds
        while not self.requested and (left := end - time.monotonic()) > 0:
            time.sleep(min(left, 0.1))
        return self.requested


class Supervised:
    """One child process, started again when it dies; gives up after ``max_crashes``
    crashes within ``window`` seconds."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str] | None = None,
                 stop_signal: int = signal.SIGTERM, max_crashes: int = MAX_CRASHES,
                 window: float = CRASH_WINDOW_SECONDS) -> None:
        self.name, self.argv, self.env, self.stop_signal = name, argv, env, stop_signal
        self.max_crashes, self.window = max_crashes, window
        self.proc: subprocess.Popen[bytes] | None = None
        self.crashes: collections.deque[float] = collections.deque()
        self.restart_at: float | None = None
        self.restarts = 0

    def start(self) -> Supervised:
        # its own session: Ctrl-C reaches this script only, which stops them in order
        self.proc = subprocess.Popen(self.argv, env=self.env, start_new_session=True)
        self.restart_at = None
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check(self, now: float) -> bool:
        """Restart the process if it died and its pause is over; False to give up."""
        if self.proc is None:
            return True
        if self.restart_at is None:
            code = self.proc.poll()
            if code is None:
                return True
            self.crashes.append(now)
            while self.crashes and self.crashes[0] < now - self.window:
                self.crashes.popleft()
            how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
            if len(self.crashes) >= self.max_crashes:
                print(f"[dev] {self.name} {how}: {len(self.crashes)} crashes within "
                      f"{self.window:g}s, giving up", file=sys.stderr, flush=True)
                return False
            delay = min(0.5 * 2 ** (len(self.crashes) - 1), 10.0)
            print(f"[dev] {self.name} {how}; restarting in {delay:g}s "
                  f"({len(self.crashes)}/{self.max_crashes} crashes within "
                  f"{self.window:g}s)", file=sys.stderr, flush=True)
            self.restart_at = now + delay
        elif now >= self.restart_at:
            self.restarts += 1
            self.start()
            print(f"[dev] {self.name} restarted (pid {self.proc.pid})", file=sys.stderr,
                  flush=True)
        return True

    def stop(self) -> None:
        self.restart_at = None
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(self.stop_signal)

    def wait(self, seconds: float) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(max(0.1, seconds))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def _wait_ready(addresses: list[str], children: list[Supervised], stopping: StopRequest,
                timeout: float = 90) -> None:
    """Wait until every service answers /ready (or one of them exits, or Ctrl-C)."""
    end = time.monotonic() + timeout
    pending = list(addresses)
    while pending and time.monotonic() < end and all(c.alive for c in children) \
            and not stopping.is_set():
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
    parser.add_argument("--management", default=os.environ.get(
        "DEV_RABBITMQ_API_URL", "http://127.0.0.1:15672"),
                        help="the RabbitMQ management API the console reads")
    parser.add_argument("--rabbitmq-nodes", type=int,
                        default=int(os.environ.get("RABBITMQ_NODES", "1")),
                        help="1: the RabbitMQ of --amqp; more: a local cluster of that many "
                             "nodes of its own (ports 5681..., management 15681...)")
    args = parser.parse_args()

    try:
        render.nginx_command(Path("/nonexistent/nginx.conf"))
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1

    cluster: RabbitCluster | None = None
    if args.rabbitmq_nodes > 1:
        try:
            cluster = dev_cluster(ROOT / ".dev" / "rabbit-cluster", args.rabbitmq_nodes)
            print(f"starting a RabbitMQ cluster of {args.rabbitmq_nodes} nodes...")
            cluster.start()
        except ClusterUnavailable as exc:
            print(f"cannot start the RabbitMQ cluster: {exc}", file=sys.stderr)
            return 1
        args.amqp = cluster.amqp_url()
        args.management = f"http://127.0.0.1:{cluster.nodes[0].management_port}"
        print("RabbitMQ cluster: " + ", ".join(
            f"{n.name} (amqp :{n.amqp_port}, management http://127.0.0.1:{n.management_port})"
            for n in cluster.nodes))
    try:
        return _run(args)
    finally:
        if cluster is not None:
            print("stopping the RabbitMQ cluster (data kept in .dev/rabbit-cluster)...",
                  file=sys.stderr)
            cluster.teardown(keep_data=True)


#: the console's operator token when OPS_TOKEN is not set: for development only
DEV_OPS_TOKEN = "ops-dev-only"
CONSOLE_PORT = 8009


def console_env(amqp: str, management: str, environ: dict[str, str]) -> dict[str, str]:
    """The console's settings for ``make dev`` (any CONSOLE_* already set wins)."""
    first = amqp.split(",")[0].strip()
    parts = urllib.parse.urlsplit(first)
    vhost = urllib.parse.unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    defaults = {
        "CONSOLE_CORE_URL": "http://127.0.0.1:8001",
        "CONSOLE_SOCIAL_URL": "http://127.0.0.1:8002",
        "CONSOLE_OPS_TOKEN": environ.get("OPS_TOKEN") or DEV_OPS_TOKEN,
        "CONSOLE_RABBITMQ_API": management,
        "CONSOLE_RABBITMQ_USER": urllib.parse.unquote(parts.username or "guest"),
        "CONSOLE_RABBITMQ_PASSWORD": urllib.parse.unquote(parts.password or "guest"),
        "CONSOLE_VHOST": vhost,
        "CONSOLE_AMQP_URL": first,
        "CONSOLE_HOST": "127.0.0.1",
        "CONSOLE_PORT": str(CONSOLE_PORT),
    }
    return {**defaults, **environ}


def _run(args: argparse.Namespace) -> int:
    services = {"core_service": ("core", 8001), "social_service": ("social", 8002)}
    for package, (db, _port) in services.items():
        asyncio.run(_ensure_database(args.postgres, db))
        env = {**os.environ, "DATABASE_URL": _db_url(args.postgres, db)}
        subprocess.run([sys.executable, "-m", f"{package}.migrate"], env=env, check=True)

    run_dir = ROOT / ".dev"
    run_dir.mkdir(exist_ok=True)
    children: list[Supervised] = []

    def stop_all() -> None:
        for c in children:
            c.stop()
        deadline = time.monotonic() + 15
        for c in children:
            c.wait(deadline - time.monotonic())

    stopping = StopRequest()
    stopping.install()
    code = 0
    try:
        upstreams: dict[str, list[str]] = {}
        for package, (db, port) in services.items():
            env = {"ENVIRONMENT": "development", "DATABASE_URL": _db_url(args.postgres, db),
                   "AMQP_URL": args.amqp, **os.environ}
            if args.rabbitmq_nodes > 1:
                env["AMQP_URL"] = args.amqp  # the cluster's nodes, whatever the environment says
            for replica in range(args.replicas):
                replica_port = port + 10 * replica
                upstreams.setdefault(package, []).append(f"127.0.0.1:{replica_port}")
                children.append(Supervised(
                    f"{db}-service :{replica_port}",
                    [sys.executable, "-m", "uvicorn", f"{package}.main:create_app", "--factory",
                     "--host", "127.0.0.1", "--port", str(replica_port), "--no-access-log"],
                    env=env).start())
        conf = render.render(run_dir, upstreams["core_service"], upstreams["social_service"],
                             8000)
        children.append(Supervised("gateway :8000", render.nginx_command(conf),
                                   stop_signal=signal.SIGQUIT).start())
        children.append(Supervised(
            f"console :{CONSOLE_PORT}", [sys.executable, "-m", "ops_tools.console"],
            env=console_env(args.amqp, args.management, dict(os.environ))).start())
        _wait_ready([*upstreams["core_service"], *upstreams["social_service"]], children,
                    stopping)
        print(f"gateway on http://127.0.0.1:8000; core {', '.join(upstreams['core_service'])}; "
              f"social {', '.join(upstreams['social_service'])}; operator console on "
              f"http://127.0.0.1:{CONSOLE_PORT}; Ctrl-C stops everything")
        while not stopping.wait(0.5):
            now = time.monotonic()
            if not all(c.check(now) for c in children):
                print("stopping the others", file=sys.stderr)
                code = 1
                break
    finally:
        print("stopping...", file=sys.stderr)
        stop_all()
    return code


if __name__ == "__main__":
    sys.exit(main())
