"""Services and the gateway started as real processes on free ports."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from instasaga_gateway import render

REPO_ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns a truthy value (returned) or time runs out."""
    end = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < end:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # retried until the deadline
            last_exc = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}"
                       + (f" (last error: {last_exc!r})" if last_exc else ""))


def run_migrations(package: str, database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    subprocess.run([sys.executable, "-m", f"{package}.migrate"], env=env, check=True,
                   cwd=REPO_ROOT, capture_output=True, timeout=120)


class ServiceProcess:
    """``uvicorn <package>.main:create_app --factory`` as a child process."""

    def __init__(self, package: str, env: Mapping[str, str], log_dir: Path,
                 port: int | None = None, name: str | None = None) -> None:
        self.package = package
        self.name = name or package
        self.env = dict(env)
        self.port = port or free_port()
        self.log_path = log_dir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True, timeout: float = 60) -> ServiceProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", f"{self.package}.main:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log"],
            env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT,
            cwd=REPO_ROOT, start_new_session=True,
        )
        log.close()
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> bool:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
            return httpx.get(f"{self.url}/ready", timeout=2).status_code == 200

        try:
            wait_until(ready, timeout, 0.1, f"{self.name} ready")
        except RuntimeError:
            raise
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self.log_tail()}") from None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        if self.running:
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 15) -> None:
        if not self.running:
            return
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


#: tests and benchmarks drive the gateway from one address as many users at once: its
#: per-address limits stay out of their way unless a test asks for them
UNTHROTTLED = render.Limits(auth_rate=100_000, auth_burst=100_000, connections=60_000)


class GatewayProcess:
    """nginx with the project's gateway template, in the foreground."""

    def __init__(self, core_port: int, social_port: int, run_dir: Path,
                 port: int | None = None, limits: render.Limits | None = None) -> None:
        self.port = port or free_port()
        self.limits = limits or UNTHROTTLED
        self.run_dir = run_dir
        self.core_port = core_port
        self.social_port = social_port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20) -> GatewayProcess:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        conf = render.render(self.run_dir, f"127.0.0.1:{self.core_port}",
                             f"127.0.0.1:{self.social_port}", self.port, self.limits)
        log = (self.run_dir / "nginx.out").open("ab")
        self.proc = subprocess.Popen(render.nginx_command(conf), stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_until(lambda: httpx.get(f"{self.url}/health", timeout=2).status_code == 200,
                   timeout, 0.05, "gateway up")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
