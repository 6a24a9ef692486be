"""The docker compose stack for tests (``tests/compose``): brought up with ``make up`` under
a project name of its own, on free host ports and with passwords of its own, so that it
never meets a developer's stack; removed with its volumes afterwards.

The databases and the broker publish no host port; a test reaches them at their container
addresses on the project's network (a Linux host routes to a bridge network directly).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "compose_stack.py"
#: ``compose_stack.py engine`` exits with this when no engine can be started
ENGINE_UNAVAILABLE = 3
UP_TIMEOUT = 1500  # a cold start builds the base images and both services


@dataclass
class ComposeStack:
    env: dict[str, str]
    gateway: str
    rabbitmq_api: str  # node 1's management API, on its published (127.0.0.1) port
    admin: tuple[str, str]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.gateway, timeout=30)

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        command = ["docker", "compose"]
        if subprocess.run(["docker", "compose", "version"], capture_output=True,
                          check=False).returncode != 0:
            command = ["docker-compose"]
        return subprocess.run([*command, "-f", str(ROOT / "docker-compose.yml"),
                               "--project-directory", str(ROOT), *args], env=self.env,
                              cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              check=True)

    def containers(self) -> list[dict[str, Any]]:
        """``docker inspect`` of the project's running containers."""
        project = self.env["COMPOSE_PROJECT_NAME"]
        ids = subprocess.run(["docker", "ps", "-q", "--filter",
                              f"label=com.docker.compose.project={project}"],
                             capture_output=True, text=True, check=True).stdout.split()
        if not ids:
            return []
        out = subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True,
                             check=True).stdout
        return list(json.loads(out))

    def address(self, service: str) -> str:
        """The container address of a running service (its first replica)."""
        for container in self.containers():
            if container["Config"]["Labels"]["com.docker.compose.service"] == service:
                networks = container["NetworkSettings"]["Networks"]
                return str(next(iter(networks.values()))["IPAddress"])
        raise LookupError(f"{service} is not running")

    def database_url(self, service: str, database: str) -> str:
        password = urllib.parse.quote(self.env["POSTGRES_PASSWORD"], safe="")
        return f"postgresql://postgres:{password}@{self.address(service)}:5432/{database}"

    @property
    def core_db(self) -> str:
        return self.database_url("postgres-core", "core")

    @property
    def social_db(self) -> str:
        return self.database_url("postgres-social", "social")

    def management_api(self, node: str = "rabbitmq") -> str:
        """A node's management API, with the administrator's credentials in the URL."""
        user, password = (urllib.parse.quote(x, safe="") for x in self.admin)
        return f"http://{user}:{password}@{self.address(node)}:15672"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def make(target: str, env: dict[str, str], *args: str, timeout: float) -> None:
    result = subprocess.run(["make", "--no-print-directory", target, *args], cwd=ROOT, env=env,
                            timeout=timeout, check=False)
    assert result.returncode == 0, f"make {target} exited {result.returncode}"


def engine_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20,
                              check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def start_engine() -> str | None:
    """Start a Docker engine if none answers (``compose_stack.py engine``); the reason
    when none can be started, else None."""
    result = subprocess.run([sys.executable, str(SCRIPT), "engine"], capture_output=True,
                            text=True, timeout=180, check=False)
    if result.returncode == ENGINE_UNAVAILABLE:
        return result.stderr.strip() or "no Docker engine can be started"
    assert result.returncode == 0, result.stderr
    return None


def stop_engine() -> None:
    """Stop every dockerd of this machine and wait for them to be gone."""
    found = subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, text=True,
                           check=False).stdout.split()
    for pid in map(int, found):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and subprocess.run(
            ["pgrep", "-x", "dockerd"], capture_output=True, check=False).returncode == 0:
        time.sleep(0.5)


@contextlib.contextmanager
def compose_stack(*, rabbitmq_nodes: int = 1,
                  env: dict[str, str] | None = None) -> Iterator[ComposeStack]:
    """``make up`` (``RABBITMQ_NODES``) on a project of its own; ``make down VOLUMES=1``
    afterwards, whatever happened."""
    admin = ("admin", secrets.token_urlsafe(12))
    gateway_port, ui_port, console_port = free_port(), free_port(), free_port()
    full_env = {**os.environ,
                "COMPOSE_PROJECT_NAME": f"instasaga-test-{uuid.uuid4().hex[:8]}",
                "INSTASAGA_TAG": "compose-test",
                "GATEWAY_HOST_PORT": str(gateway_port),
                "RABBITMQ_UI_PORT": str(ui_port),
                "CONSOLE_HOST_PORT": str(console_port),
                "OPS_TOKEN": secrets.token_urlsafe(16),
                "POSTGRES_PASSWORD": secrets.token_urlsafe(12),
                "RABBITMQ_ADMIN_USER": admin[0],
                "RABBITMQ_ADMIN_PASSWORD": admin[1],
                "RABBITMQ_CORE_PASSWORD": secrets.token_urlsafe(12),
                "RABBITMQ_SOCIAL_PASSWORD": secrets.token_urlsafe(12),
                "RABBITMQ_ERLANG_COOKIE": secrets.token_hex(16),
                **(env or {})}
    try:
        make("up", full_env, f"RABBITMQ_NODES={rabbitmq_nodes}", timeout=UP_TIMEOUT)
        yield ComposeStack(full_env, f"http://127.0.0.1:{gateway_port}",
                           f"http://127.0.0.1:{ui_port}", admin)
    finally:
        make("down", full_env, "VOLUMES=1", timeout=300)
