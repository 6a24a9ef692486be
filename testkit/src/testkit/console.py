"""The operator console (``python -m ops_tools.console``) as a process on a free port,
pointed at a test stack."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

import httpx

from .processes import REPO_ROOT, free_port, wait_until
from .stack import Stack


class ConsoleProcess:
    def __init__(self, stack: Stack, log_dir: Path, token: str = "console-test-token",
                 port: int | None = None) -> None:
        self.stack = stack
        self.token = token
        self.port = port or free_port()
        self.log_path = log_dir / "console.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        api = urllib.parse.urlsplit(self.stack.infra.rabbitmq_api_url)
        return {
            "CONSOLE_CORE_URL": self.stack.core.url,
            "CONSOLE_SOCIAL_URL": self.stack.social.url,
            "CONSOLE_OPS_TOKEN": self.token,
            "CONSOLE_RABBITMQ_API": f"{api.scheme}://{api.hostname}:{api.port or 15672}",
            "CONSOLE_RABBITMQ_USER": api.username or "guest",
            "CONSOLE_RABBITMQ_PASSWORD": api.password or "guest",
            "CONSOLE_VHOST": self.stack.name,
            "CONSOLE_AMQP_URL": self.stack.amqp_url.split(",")[0],
            "CONSOLE_PORT": str(self.port),
        }

    def start(self, timeout: float = 30) -> ConsoleProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "ops_tools.console"],
                                     env={**os.environ, **self.env()}, stdout=log,
                                     stderr=subprocess.STDOUT, cwd=REPO_ROOT,
                                     start_new_session=True)
        log.close()

        def up() -> bool:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"the console exited:\n{self.log_tail()}")
            return httpx.get(f"{self.url}/login", timeout=2).status_code == 200

        try:
            wait_until(up, timeout, 0.1, "the console up")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self.log_tail()}") from None
        return self

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def audit_lines(self) -> list[str]:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return []
        return [line for line in text.splitlines() if '"audit": true' in line]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
