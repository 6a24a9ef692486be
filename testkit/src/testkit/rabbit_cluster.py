"""A RabbitMQ cluster of local nodes, beside (never instead of) the machine's own.

Each node is a ``rabbitmq-server`` process with its own name
(``<prefix>1@localhost``, ...), AMQP, management and distribution ports, and
its own data, log and configuration files under one base directory; none of
them reads ``/etc/rabbitmq`` or touches the machine's node. They share the
host's epmd (as every Erlang node on a host does) and, so that the CLI tools
reach them, use the Erlang cookie of the machine's RabbitMQ when it is
readable (a copy in the cluster's own ``HOME``), a fresh one otherwise.

The first node starts alone; the others start, then ``stop_app``,
``join_cluster <first>``, ``start_app``. A node stopped later
(:meth:`RabbitCluster.stop_node`) rejoins the cluster when started again
(:meth:`RabbitCluster.start_node`): its data directory is kept until
:meth:`RabbitCluster.teardown`, which stops every node and removes the base
directory. Used by ``make dev RABBITMQ_NODES=3`` (``scripts/rabbit_cluster.py``)
and by the cluster fault test.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .infra import Infra

#: the machine's RabbitMQ cookie (Debian/Ubuntu packages)
SYSTEM_COOKIE = Path("/var/lib/rabbitmq/.erlang.cookie")
#: where the packaged scripts live; ``/usr/sbin/rabbitmq-*`` are wrappers that switch
#: to the ``rabbitmq`` user, which could not write a root-owned data directory
PACKAGE_BIN_DIRS = (Path("/usr/lib/rabbitmq/bin"),)
BIN_DIR_ENV = "RABBITMQ_CLUSTER_BIN_DIR"


class ClusterUnavailable(RuntimeError):
    """The RabbitMQ server scripts are not installed here (or a node would not start)."""


def find_bin_dir() -> Path:
    """The directory holding ``rabbitmq-server`` and ``rabbitmqctl``."""
    candidates = []
    if os.environ.get(BIN_DIR_ENV):
        candidates.append(Path(os.environ[BIN_DIR_ENV]))
    candidates += list(PACKAGE_BIN_DIRS)
    found = shutil.which("rabbitmq-server")
    if found:
        candidates.append(Path(found).resolve().parent)
    for d in candidates:
        if (d / "rabbitmq-server").is_file() and (d / "rabbitmqctl").is_file():
            return d
    raise ClusterUnavailable(
        "the RabbitMQ server scripts (rabbitmq-server, rabbitmqctl) are not installed"
        f" (looked in {', '.join(str(c) for c in candidates) or 'PATH'}; set {BIN_DIR_ENV})")


def port_free(port: int) -> bool:
    """Whether nothing listens on the port (connections of a stopped node still in
    TIME_WAIT do not count: the broker's listeners reuse the address too)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Node:
    index: int  # 1-based
    name: str  # rabbit-c1@localhost
    amqp_port: int
    management_port: int
    dist_port: int

    @property
    def short(self) -> str:
        return self.name.split("@", 1)[0]


class RabbitCluster:
    """``size`` local RabbitMQ nodes clustered together, under ``base_dir``.

    Ports default to free ones; ``make dev`` passes fixed ones
    (``amqp_base + i`` and so on, ``i`` from 1).
    """

    def __init__(self, base_dir: Path, size: int = 3, *, prefix: str = "rabbit-c",
                 amqp_ports: Sequence[int] | None = None,
                 management_ports: Sequence[int] | None = None,
                 dist_ports: Sequence[int] | None = None,
                 user: str = "guest", password: str = "guest",
                 bin_dir: Path | None = None) -> None:
        if size < 1:
            raise ValueError("a cluster has at least one node")
        self.base_dir = Path(base_dir).resolve()
        self.size = size
        self.user, self.password = user, password
        self.bin_dir = bin_dir or find_bin_dir()
        amqp = list(amqp_ports or [_free_port() for _ in range(size)])
        mgmt = list(management_ports or [_free_port() for _ in range(size)])
        dist = list(dist_ports or [_free_port() for _ in range(size)])
        if not len(amqp) == len(mgmt) == len(dist) == size:
            raise ValueError(f"give {size} ports of each kind")
        self.nodes = [Node(i + 1, f"{prefix}{i + 1}@localhost", amqp[i], mgmt[i], dist[i])
                      for i in range(size)]
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self.home = self.base_dir / "home"

    # ------------------------------------------------------------------ addresses
    def amqp_urls(self, vhost: str = "/") -> list[str]:
        path = "/" + urllib.parse.quote(vhost, safe="") if vhost != "/" else "/"
        auth = f"{urllib.parse.quote(self.user)}:{urllib.parse.quote(self.password)}"
        return [f"amqp://{auth}@127.0.0.1:{n.amqp_port}{path}" for n in self.nodes]

    def amqp_url(self, vhost: str = "/") -> str:
        """Every node's address, comma-separated (what ``AMQP_URL`` takes)."""
        return ",".join(self.amqp_urls(vhost))

    def api_url(self, node: int = 1) -> str:
        """The management API of one node, with credentials."""
        n = self.node(node)
        return f"http://{self.user}:{self.password}@127.0.0.1:{n.management_port}"

    def infra(self, postgres_url: str) -> Infra:
        """Test endpoints on this cluster (every node's address; node 1's API)."""
        return Infra(postgres_url=postgres_url, amqp_url=self.amqp_url(),
                     rabbitmq_api_url=self.api_url(1))

    def node(self, which: int | str) -> Node:
        for n in self.nodes:
            if which in (n.index, n.name, n.short):
                return n
        raise KeyError(which)

    def _dir(self, node: Node) -> Path:
        return self.base_dir / node.short

    def log_path(self, which: int | str) -> Path:
        node = self.node(which)
        return self._dir(node) / "log" / f"{node.name}.log"

    def log_tail(self, which: int | str, lines: int = 30) -> str:
        paths = [self.log_path(which), self._dir(self.node(which)) / "stdout.log"]
        out = []
        for p in paths:
            with contextlib.suppress(FileNotFoundError):
                out.append(f"--- {p}\n" + "\n".join(
                    p.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(out) or "(no log)"

    # ------------------------------------------------------------------ files
    def _prepare(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(exist_ok=True)
        cookie = self.home / ".erlang.cookie"
        if not cookie.exists():
            try:
                value = SYSTEM_COOKIE.read_text().strip()
            except OSError:
                value = secrets.token_hex(16).upper()
            cookie.write_text(value)
            cookie.chmod(0o400)
        # an empty env file: never read /etc/rabbitmq/rabbitmq-env.conf (it names the
        # machine's node)
        (self.base_dir / "rabbitmq-env.conf").write_text("")
        (self.base_dir / "enabled_plugins").write_text("[rabbitmq_management].\n")
        for n in self.nodes:
            d = self._dir(n)
            (d / "log").mkdir(parents=True, exist_ok=True)
            (d / "rabbitmq.conf").write_text(
                f"listeners.tcp.1 = 127.0.0.1:{n.amqp_port}\n"
                f"management.tcp.ip = 127.0.0.1\n"
                f"management.tcp.port = {n.management_port}\n"
                "loopback_users.guest = true\n"
                "disk_free_limit.absolute = 50MB\n"
                "cluster_partition_handling = pause_minority\n"
                "log.console = false\n"
                "log.file.level = info\n")

    def _env(self, node: Node | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update({
            "HOME": str(self.home),
            "RABBITMQ_CONF_ENV_FILE": str(self.base_dir / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base_dir / "enabled_plugins"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        })
        if node is not None:
            d = self._dir(node)
            env.update({
                "RABBITMQ_NODENAME": node.name,
                "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                "RABBITMQ_NODE_PORT": str(node.amqp_port),
                "RABBITMQ_DIST_PORT": str(node.dist_port),
                "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
                "RABBITMQ_ADVANCED_CONFIG_FILE": str(d / "advanced.config"),
                "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
                "RABBITMQ_LOG_BASE": str(d / "log"),
                "RABBITMQ_PID_FILE": str(d / "pid"),
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS":
                    "-kernel inet_dist_use_interface {127,0,0,1}",
            })
        return env

    # ------------------------------------------------------------------ control
    def ctl(self, node: int | str, *args: str, timeout: float = 120,
            check: bool = True, tool: str = "rabbitmqctl") -> subprocess.CompletedProcess[str]:
        """``rabbitmqctl -n <node> <args>`` (or another of the CLI tools)."""
        n = self.node(node)
        result = subprocess.run(
            [str(self.bin_dir / tool), "-n", n.name, *args],
            env=self._env(), cwd=self.base_dir, capture_output=True, text=True,
            timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"{tool} -n {n.name} {' '.join(args)} failed "
                               f"({result.returncode}): {result.stderr or result.stdout}")
        return result

    def _launch(self, node: Node) -> None:
        busy = [p for p in (node.amqp_port, node.management_port, node.dist_port)
                if not port_free(p)]
        if busy:
            raise ClusterUnavailable(f"{node.name}: port(s) {busy} already in use "
                                     "(is a cluster from an earlier run still up?)")
        out = (self._dir(node) / "stdout.log").open("ab")
        try:
            self._procs[node.index] = subprocess.Popen(
                [str(self.bin_dir / "rabbitmq-server")], env=self._env(node),
                cwd=self.base_dir, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            out.close()

    def pids(self, which: int | str) -> list[int]:
        """Processes of one node (its start script and Erlang VM), found by the node's
        data directory in their environment: works from any process, not only the
        one that started the node."""
        node = self.node(which)
        return list(_pids_with(f"RABBITMQ_MNESIA_BASE={self._dir(node) / 'mnesia'}\0".encode()))

    def is_running(self, which: int | str) -> bool:
        node = self.node(which)
        proc = self._procs.get(node.index)
        if proc is not None and proc.poll() is None:
            return True
        return bool(self.pids(node.index))

    def _api(self, node: Node) -> httpx.Client:
        return httpx.Client(base_url=f"http://127.0.0.1:{node.management_port}",
                            auth=(self.user, self.password), timeout=5)

    def _wait_up(self, node: Node, timeout: float) -> None:
        """Until the node's management API answers (the broker has booted)."""
        end = time.monotonic() + timeout
        while True:
            if not self.is_running(node.index):
                raise ClusterUnavailable(f"{node.name} exited while starting:\n"
                                         f"{self.log_tail(node.index)}")
            with contextlib.suppress(httpx.HTTPError), self._api(node) as api:
                if api.get("/api/overview").status_code == 200:
                    return
            if time.monotonic() > end:
                raise ClusterUnavailable(f"{node.name} not up after {timeout:g}s:\n"
                                         f"{self.log_tail(node.index)}")
            time.sleep(0.5)

    def running_nodes(self, via: int | str | None = None) -> set[str]:
        """Cluster members the management API of ``via`` (any running node) sees running."""
        candidates = [self.node(via)] if via is not None else [
            n for n in self.nodes if self.is_running(n.index)]
        for n in candidates:
            with contextlib.suppress(httpx.HTTPError), self._api(n) as api:
                r = api.get("/api/nodes")
                if r.status_code == 200:
                    return {x["name"] for x in r.json() if x.get("running")}
        return set()

    def wait_running(self, names: set[str], timeout: float = 120) -> None:
        end = time.monotonic() + timeout
        while not names <= self.running_nodes():
            if time.monotonic() > end:
                raise ClusterUnavailable(
                    f"cluster members running: {sorted(self.running_nodes())}, "
                    f"expected {sorted(names)}")
            time.sleep(0.5)

    @property
    def _formed_marker(self) -> Path:
        return self.base_dir / "formed"

    def _formed(self) -> bool:
        """Whether the base directory holds this very cluster, formed earlier."""
        try:
            return self._formed_marker.read_text().split() == [n.name for n in self.nodes]
        except OSError:
            return False

    def start(self, timeout: float = 180) -> RabbitCluster:
        """Start every node and form the cluster (the first node is the seed).

        When the base directory holds this cluster from an earlier run (stopped
        with ``teardown(keep_data=True)``), the nodes start from their data and
        find each other again, queues and messages included.
        """
        if not self._formed():
            for n in self.nodes:  # nothing of an unfinished or other cluster
                shutil.rmtree(self._dir(n), ignore_errors=True)
            self._formed_marker.unlink(missing_ok=True)
        self._prepare()
        first, rest = self.nodes[0], self.nodes[1:]
        try:
            for n in self.nodes:  # boot all at once: each takes a few seconds
                self._launch(n)
            if self._formed():
                for n in self.nodes:
                    self._wait_up(n, timeout)
            else:
                self._wait_up(first, timeout)
                for n in rest:
                    self._wait_up(n, timeout)
                    self.ctl(n.index, "stop_app")
                    self.ctl(n.index, "join_cluster", first.name)
                    self.ctl(n.index, "start_app")
            self.wait_running({n.name for n in self.nodes}, timeout)
            self._formed_marker.write_text("\n".join(n.name for n in self.nodes) + "\n")
        except BaseException:
            self.teardown()
            raise
        return self

    def stop_node(self, which: int | str, *, kill: bool = False,
                  timeout: float = 60) -> None:
        """Stop one node: gracefully (SIGTERM: the broker closes its connections and
        hands its queue leaderships over), or ``kill``ed at once, as in a crash.
        Returns once none of its processes is left."""
        node = self.node(which)
        sig = signal.SIGKILL if kill else signal.SIGTERM
        proc = self._procs.pop(node.index, None)
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
        for pid in self.pids(node.index):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        end = time.monotonic() + timeout
        while self.pids(node.index) and time.monotonic() < end:
            time.sleep(0.2)
        for pid in self.pids(node.index):  # did not stop in time
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)

    def start_node(self, which: int | str, timeout: float = 120) -> None:
        """Start a stopped node again; it rejoins the cluster from its own data."""
        node = self.node(which)
        if self.is_running(node.index):
            return
        self._launch(node)
        self._wait_up(node, timeout)
        self.wait_running({node.name}, timeout)

    def teardown(self, keep_data: bool = False) -> None:
        """Stop every node (gracefully, killing what does not stop in time), and remove
        the base directory unless ``keep_data``."""
        for n in self.nodes:  # all at once: a stopping node waits for no other
            proc = self._procs.get(n.index)
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
            for pid in self.pids(n.index):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGTERM)
        for n in self.nodes:
            self.stop_node(n.index, timeout=30)
        self._procs.clear()
        if not keep_data:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> RabbitCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.teardown()

    # ------------------------------------------------------------------ queues
    def api_get(self, path: str, via: int | str | None = None) -> Any:
        """``GET`` on the management API of ``via``, or of the first running node."""
        nodes = [self.node(via)] if via is not None else [
            n for n in self.nodes if self.is_running(n.index)]
        last: Exception | None = None
        for n in nodes:
            try:
                with self._api(n) as api:
                    r = api.get(path)
                    r.raise_for_status()
                    return r.json()
            except httpx.HTTPError as exc:
                last = exc
        raise RuntimeError(f"no running node answered GET {path}: {last!r}")

    def queue_info(self, vhost: str, queue: str, via: int | str | None = None) -> dict:
        """``GET /api/queues/{vhost}/{queue}`` (``leader``, ``members``...)."""
        return dict(self.api_get(f"/api/queues/{urllib.parse.quote(vhost, safe='')}/"
                                 f"{urllib.parse.quote(queue, safe='')}", via))

    def queue_leader(self, vhost: str, queue: str) -> str:
        """The node leading a quorum queue."""
        return str(self.queue_info(vhost, queue)["leader"])

    def wait_members_online(self, vhost: str, timeout: float = 120) -> None:
        """Until every member of every quorum queue of the vhost is online again (a
        restarted node is running before its queue members have caught up: until
        they have, losing another node loses the queues' majority)."""
        path = f"/api/queues/{urllib.parse.quote(vhost, safe='')}"
        end = time.monotonic() + timeout
        while True:
            behind = {q["name"]: sorted(set(q.get("members") or []) - set(q.get("online") or []))
                      for q in self.api_get(path) if q.get("type") == "quorum"}
            behind = {name: nodes for name, nodes in behind.items() if nodes}
            if not behind:
                return
            if time.monotonic() > end:
                raise ClusterUnavailable(f"quorum queue members still offline: {behind}")
            time.sleep(0.5)

    def wait_not_quorum_critical(self, which: int | str, timeout: float = 120) -> None:
        """Until no quorum queue would lose its majority if this node went: what an
        operator checks before stopping a node (``rabbitmq-queues
        check_if_node_is_quorum_critical``). The management API's ``online`` list is not
        enough: a member a restarted node lists may still be catching up."""
        end = time.monotonic() + timeout
        while True:
            result = self.ctl(which, "check_if_node_is_quorum_critical", check=False,
                              tool="rabbitmq-queues", timeout=60)
            if result.returncode == 0:
                return
            if time.monotonic() > end:
                raise ClusterUnavailable(f"{self.node(which).name} still quorum critical: "
                                         f"{(result.stdout + result.stderr).strip()[-2000:]}")
            time.sleep(0.5)


#: ``make dev RABBITMQ_NODES=n``: node i (from 1) listens on 5680+i (AMQP),
#: 15680+i (management) and 25680+i (Erlang distribution)
DEV_AMQP_PORT, DEV_MANAGEMENT_PORT, DEV_DIST_PORT = 5680, 15680, 25680


def dev_cluster(base_dir: Path, size: int) -> RabbitCluster:
    """The development cluster: nodes ``rabbit-c1@localhost``... on fixed ports."""
    idx = range(1, size + 1)
    return RabbitCluster(base_dir, size, prefix="rabbit-c",
                         amqp_ports=[DEV_AMQP_PORT + i for i in idx],
                         management_ports=[DEV_MANAGEMENT_PORT + i for i in idx],
                         dist_ports=[DEV_DIST_PORT + i for i in idx])


def _pids_with(marker: bytes) -> Iterator[int]:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if marker in (entry / "environ").read_bytes():
                yield int(entry.name)
