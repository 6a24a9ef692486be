"""What the benchmark drives: a running gateway (``--url``) or a stack of its own.

A stack of its own is ``running_stack`` (databases, vhost, both services and nginx
on free ports). With two replicas, a second core and a second social process are
started with the same environment (same databases, same vhost) and a second
gateway balances over both (nginx round-robin).

``instasaga_gateway.render`` accepts one ``HOST:PORT`` per upstream (it refuses
``"P1; server P2"``), so the balanced gateway is rendered with the first
replicas and the ``server`` line of each upstream is then repeated for the
second one; the rendered file is checked to hold exactly the expected servers.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from instasaga_gateway import render
from testkit.infra import Infra, run_sync
from testkit.processes import (
    GatewayProcess,
    ServiceProcess,
    free_port,
    wait_until,
)
from testkit.stack import Stack, running_stack

from .resources import ProcessGroup

STACK_ENV = {"LOG_LEVEL": "WARNING"}
SERVERS_TIMEOUT_S = 300.0
#: the role of the trace receiver a stack with tracing on exports to (its CPU is shown,
#: never counted as the system's)
OTLP_ROLE = "otlp receiver"


def tracing_requested() -> bool:
    """``BENCH_TRACING=1``: the stack's services trace, exporting to a receiver process
    of the harness's own (``testkit.otlp``)."""
    return os.environ.get("BENCH_TRACING", "") not in ("", "0")


@contextmanager
def otlp_receiver(log_dir: Path) -> Iterator[tuple[str, int]]:
    """A trace receiver in a process of its own: its endpoint and pid."""
    port = free_port()
    log = (log_dir / "otlp.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "testkit.otlp", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    log.close()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _accepts(port), 30, what="the OTLP receiver")
        yield endpoint, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
    except OSError:
        return False
    return True


@dataclass
class Target:
    url: str
    #: group name -> root pids (with their children), e.g. {"core": [pid], "gateway": [pid]}
    pids: dict[str, list[int]] = field(default_factory=dict)
    stack: Stack | None = None
    infra: Infra | None = None
    logs: dict[str, Path] = field(default_factory=dict)
    gateway_upstreams: dict[str, list[str]] = field(default_factory=dict)

    @property
    def service_urls(self) -> dict[str, str]:
        """The services' own addresses (for their /metrics), on a stack of our own."""
        if self.stack is None:
            return {}
        return {"core": self.stack.core.url, "social": self.stack.social.url}

    def process_groups(self) -> list[ProcessGroup]:
        groups = [ProcessGroup.tree(name, roots) for name, roots in self.pids.items()]
        if self.stack is not None:  # our servers are on this machine
            groups += [ProcessGroup.named("postgres (server)", "postgres", "postmaster"),
                       ProcessGroup.named("rabbitmq (server)", "beam.smp", "erl_child_setup",
                                          "epmd", "inet_gethost")]
        return [*groups, ProcessGroup.single("loadgen", os.getpid())]


def external_target(url: str) -> Target:
    return Target(url=url.rstrip("/"))


def _pid(proc: ServiceProcess | GatewayProcess) -> int:
    assert proc.proc is not None
    return int(proc.proc.pid)


def _stack_target(infra: Infra, stack: Stack, log_dir: Path) -> Target:
    assert stack.gateway is not None
    return Target(
        url=stack.url, infra=infra, stack=stack,
        pids={"core": [_pid(stack.core)], "social": [_pid(stack.social)],
              "gateway": [_pid(stack.gateway)]},
        logs={"core": stack.core.log_path, "social": stack.social.log_path,
              "gateway": log_dir / "gateway" / "error.log"},
    )


def _servers_answer(infra: Infra) -> bool:
    async def postgres() -> None:
        conn = await asyncpg.connect(infra.postgres_url, timeout=3)
        await conn.close()

    run_sync(postgres())
    api = urllib.parse.urlsplit(infra.rabbitmq_api_url)
    httpx.get(f"{api.scheme}://{api.hostname}:{api.port or 15672}/api/overview", timeout=3,
              auth=(api.username or "guest", api.password or "guest")).raise_for_status()
    amqp = urllib.parse.urlsplit(infra.amqp_url)
    socket.create_connection((amqp.hostname or "127.0.0.1", amqp.port or 5672), 3).close()
    return True


def wait_for_servers(infra: Infra, timeout: float = SERVERS_TIMEOUT_S) -> None:
    """Wait until PostgreSQL, RabbitMQ and its management API answer.

    On a shared machine another test run may have stopped them for a while
    (``rabbitmqctl stop_app``, a PostgreSQL restart)."""
    try:
        _servers_answer(infra)
        return
    except Exception as exc:
        print(f"PostgreSQL or RabbitMQ does not answer ({exc!r}): waiting up to {timeout:g} s",
              flush=True)
    wait_until(lambda: _servers_answer(infra), timeout, 1.0, "PostgreSQL and RabbitMQ")


@contextmanager
def own_stack(infra: Infra, log_dir: Path, replicas: int = 1) -> Iterator[Target]:
    """A fresh stack with ``replicas`` (1 or 2) processes of each service."""
    log_dir.mkdir(parents=True, exist_ok=True)
    wait_for_servers(infra)
    names: list[str] = []
    try:
        with ExitStack() as es:
            env = dict(STACK_ENV)
            receiver_pid = None
            if tracing_requested():
                endpoint, receiver_pid = es.enter_context(otlp_receiver(log_dir))
                env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
                print(f"tracing on: spans exported to {endpoint}", flush=True)
            stack = es.enter_context(running_stack(infra, log_dir, env=env))
            names.append(stack.name)
            target = _stack_target(infra, stack, log_dir)
            if receiver_pid is not None:
                target.pids[OTLP_ROLE] = [receiver_pid]
            if replicas > 1:
                _add_replicas(es, stack, target, log_dir)
            yield target
    except BaseException:
        for name in names:
            remove_leftovers(infra, name)
        raise


def _add_replicas(es: ExitStack, stack: Stack, target: Target, log_dir: Path) -> None:
    """A second core and social, and a gateway over both; ``target`` then points at it."""
    core2 = es.enter_context(_service("core_service", stack.core, log_dir, "core-2"))
    social2 = es.enter_context(_service("social_service", stack.social, log_dir, "social-2"))
    gateway, upstreams = es.enter_context(_balanced_gateway(
        log_dir / "gateway-2", [stack.core, core2], [stack.social, social2]))
    target.url = gateway.url
    target.pids = {"core": [_pid(stack.core)], "core-2": [_pid(core2)],
                   "social": [_pid(stack.social)], "social-2": [_pid(social2)],
                   "gateway": [_pid(gateway)]}
    target.logs.update({"core-2": core2.log_path, "social-2": social2.log_path,
                        "gateway": log_dir / "gateway-2" / "error.log"})
    target.gateway_upstreams = upstreams


def remove_leftovers(infra: Infra, name: str) -> None:
    """Drop what ``running_stack`` could not (a server was restarting): idempotent."""
    try:
        wait_for_servers(infra, timeout=120)
        for db in (f"{name}_core", f"{name}_social"):
            infra.drop_database(db)
        infra.delete_vhost(name)
    except Exception as exc:
        print(f"could not remove the databases {name}_core, {name}_social and the vhost "
              f"{name}: {exc!r}", flush=True)


@contextmanager
def _service(package: str, first: ServiceProcess, log_dir: Path,
             name: str) -> Iterator[ServiceProcess]:
    """Another replica: same environment, so same database and vhost."""
    replica = ServiceProcess(package, env=first.env, log_dir=log_dir, name=name)
    try:
        yield replica.start()
    finally:
        replica.stop()



def upstream_servers(conf: str, upstream: str) -> list[str]:
    """The ``server`` addresses of ``upstream <name> { ... }`` in a rendered config."""
    block = re.search(r"upstream\s+" + re.escape(upstream) + r"\s*\{(.*?)\}", conf, re.S)
    return re.findall(r"^\s*server\s+([^;\s]+)\s*;", block.group(1), re.M) if block else []


def _repeat_server_line(conf: str, first: str, others: list[str]) -> str:
    line = f"server {first};"
    if conf.count(line) != 1:
        raise RuntimeError(f"expected one {line!r} in the rendered gateway config")
    return conf.replace(line, "\n    ".join(f"server {a};" for a in [first, *others]))


def render_balanced(run_dir: Path, core: list[str], social: list[str], port: int) -> Path:
    """Render the gateway with every address of ``core`` and ``social`` as upstreams."""
    conf = render.render(run_dir, core[0], social[0], port)
    server_conf = run_dir / "default.conf"
    text = _repeat_server_line(server_conf.read_text(), core[0], core[1:])
    text = _repeat_server_line(text, social[0], social[1:])
    server_conf.write_text(text)
    for name, expected in (("core_service", core), ("social_service", social)):
        if upstream_servers(text, name) != expected:
            raise RuntimeError(f"rendered {name} upstream is {upstream_servers(text, name)}")
    return Path(conf)


@contextmanager
def _balanced_gateway(run_dir: Path, core: list[ServiceProcess], social: list[ServiceProcess]
                      ) -> Iterator[tuple[GatewayProcess, dict[str, list[str]]]]:
    """nginx balancing over every replica; reuses GatewayProcess for its url and stop()."""
    gateway = GatewayProcess(core[0].port, social[0].port, run_dir, port=free_port())
    upstreams = {"core_service": [f"127.0.0.1:{s.port}" for s in core],
                 "social_service": [f"127.0.0.1:{s.port}" for s in social]}
    run_dir.mkdir(parents=True, exist_ok=True)
    conf = render_balanced(run_dir, upstreams["core_service"], upstreams["social_service"],
                           gateway.port)
    with (run_dir / "nginx.out").open("ab") as log:
        gateway.proc = subprocess.Popen(render.nginx_command(conf), stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: httpx.get(f"{gateway.url}/health", timeout=2).status_code == 200,
                   20, 0.05, "balanced gateway up")
        yield gateway, upstreams
    finally:
        gateway.stop()
