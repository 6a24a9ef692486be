"""The whole system for end-to-end tests: both services and the gateway as
processes, with databases and a vhost of their own."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from tenacity import Retrying, stop_after_delay, wait_fixed

from instasaga_gateway import render

from .infra import Infra
from .processes import GatewayProcess, ServiceProcess, run_migrations

#: settings that make tests quick without changing behaviour
TEST_SERVICE_ENV = {
    "ENVIRONMENT": "test",
    "BCRYPT_ROUNDS": "4",
    # tokens outlive a test module; the tests of token expiry and refresh set their own
    "ACCESS_TOKEN_MINUTES": "120",
    "SAGA_WAIT_SECONDS": "5",
    "SAGA_STEP_TIMEOUT_SECONDS": "3",
    "SAGA_SCAN_INTERVAL_SECONDS": "0.5",
    # what the outbox dispatcher could not publish is swept up well within a step
    "OUTBOX_GRACE_SECONDS": "1",
    "LOG_LEVEL": "INFO",
    "STARTUP_RETRY_SECONDS": "30",
}


@dataclass
class Stack:
    infra: Infra
    name: str
    core_db: str
    social_db: str
    amqp_url: str
    core: ServiceProcess
    social: ServiceProcess
    gateway: GatewayProcess | None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.gateway.url if self.gateway else self.core.url

    def client(self, timeout: float = 30) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)


@contextmanager
def running_stack(infra: Infra, log_dir: Path, *, env: Mapping[str, str] | None = None,
                  core_env: Mapping[str, str] | None = None,
                  social_env: Mapping[str, str] | None = None,
                  gateway: bool = True,
                  gateway_limits: render.Limits | None = None,
                  drop_vhost: bool = True,
                  core_amqp: Callable[[str], str] | None = None,
                  amqp: Callable[[str], str] | None = None) -> Iterator[Stack]:
    """Start core, social (and the gateway); stop them and drop everything after
    (``drop_vhost=False`` leaves the vhost to a broker that is thrown away anyway).
    ``amqp`` gives both services' AMQP URL from the vhost's (through proxies, say),
    ``core_amqp`` core's alone."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    created_dbs: list[str] = []
    vhost = None
    core = social = None
    gw = None
    try:
        core_db = infra.create_database(f"{name}_core")
        created_dbs.append(f"{name}_core")
        social_db = infra.create_database(f"{name}_social")
        created_dbs.append(f"{name}_social")
        vhost = name
        amqp_url = infra.create_vhost(vhost)
        run_migrations("core_service", core_db)
        run_migrations("social_service", social_db)
        base = {**TEST_SERVICE_ENV, "AMQP_URL": amqp(amqp_url) if amqp else amqp_url,
                **(env or {})}
        core_broker = {"AMQP_URL": core_amqp(amqp_url)} if core_amqp else {}
        core = ServiceProcess("core_service", {**base, "DATABASE_URL": core_db, **core_broker,
                                               **(core_env or {})}, log_dir, name="core")
        social = ServiceProcess("social_service", {**base, "DATABASE_URL": social_db,
                                                   **(social_env or {})}, log_dir,
                                name="social")
        core.start(wait=False)
        social.start(wait=False)
        core.wait_ready()
        social.wait_ready()
        if gateway:
            gw = GatewayProcess(core.port, social.port, log_dir / "gateway",
                                limits=gateway_limits).start()
        yield Stack(infra=infra, name=name, core_db=core_db, social_db=social_db,
                    amqp_url=amqp_url, core=core, social=social, gateway=gw)
    finally:
        if gw is not None:
            gw.stop()
        for proc in (core, social):
            if proc is not None:
                proc.stop()
        # a test may have just restarted a server: clean up with a little patience
        for db in created_dbs:
            _retry(lambda db=db: infra.drop_database(db))
        if vhost is not None and drop_vhost:
            _retry(lambda: infra.delete_vhost(vhost))


def _retry(action: Callable[[], None], seconds: float = 30.0) -> None:
    for attempt in Retrying(stop=stop_after_delay(seconds), wait=wait_fixed(0.5), reraise=True):
        with attempt:
            action()
