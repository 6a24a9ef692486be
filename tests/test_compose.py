"""docker-compose.yml, the Dockerfiles and the gateway template agree with the code.

No Docker, PostgreSQL or RabbitMQ needed: the files are read and the services' modules
imported (apps are built without running their lifespan).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import pytest
import yaml
from starlette.routing import Match

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "gateway" / "default.conf.template"


class App(NamedTuple):
    service: str
    package: str
    port: int
    database_host: str
    database: str
    settings: str


APPS = (App("core-service", "core_service", 8001, "postgres-core", "core", "CoreSettings"),
        App("social-service", "social_service", 8002, "postgres-social", "social",
            "SocialSettings"))
UPSTREAMS = {"core_service": "core-service", "social_service": "social-service"}
# SPEC section 2: what the gateway routes, and where
ROUTES = {**{p: "core_service" for p in ("auth", "users", "posts", "follow", "feed")},
          **{p: "social_service" for p in ("messages", "stories", "notifications", "search")}}
PUBLISHED = {8000: "gateway", 8001: "core-service", 8002: "social-service",
             5672: "rabbitmq", 15672: "rabbitmq"}
by_app = pytest.mark.parametrize("app", APPS, ids=[a.service for a in APPS])


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def interpolate(value: Any) -> str:
    """Compose's ``${NAME:-default}`` with the defaults, whatever this shell has set."""
    return re.sub(r"\$\{\w+(?::?-([^}]*))?\}", lambda m: m.group(1) or "", str(value))


def environment(service: str) -> dict[str, str]:
    env = compose()["services"][service].get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {name: interpolate(value) for name, value in env.items()}


def healthcheck_urls(text: str) -> list[tuple[int, str]]:
    return [(int(port), path) for port, path in
            re.findall(r"http://127\.0\.0\.1:(\d+)(/[\w/]*)", text)]


def instruction(app: App, name: str) -> list[str]:
    """The arguments of each ``name`` instruction of the app's Dockerfile."""
    text = (ROOT / app.service / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.split(None, 1) for line in text.splitlines() if line.strip()]
    return [words[1].strip() for words in lines if words[0].upper() == name]


def load_render() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gateway_render", ROOT / "gateway/render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def serves_get(asgi_app: Any, path: str) -> bool:
    """Whether a route of the app matches ``GET path`` (works for included routers too)."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "",
             "headers": [], "query_string": b""}
    return any(route.matches(scope)[0] == Match.FULL for route in asgi_app.routes)


def test_all_services_are_defined() -> None:
    infrastructure = {"postgres-core", "postgres-social", "rabbitmq", "gateway"}
    assert {a.service for a in APPS} | infrastructure <= set(compose()["services"])


def test_published_ports() -> None:
    published: dict[int, tuple[str, int]] = {}
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            host, _, container = str(port).rpartition(":")
            published[int(host)] = (name, int(container))
    for port, name in PUBLISHED.items():
        assert published.get(port) == (name, port), f"port {port} should publish {name}"


@by_app
def test_environment_is_read_by_the_settings(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    settings_class = getattr(importlib.import_module(f"{app.package}.settings"), app.settings)
    fields = {name.lower() for name in settings_class.model_fields}
    env = environment(app.service)
    assert {name.lower() for name in env} <= fields
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = settings_class()  # the compose values parse
    database, broker = urlsplit(settings.database_url), urlsplit(settings.amqp_url)
    assert (database.hostname, database.path) == (app.database_host, f"/{app.database}")
    assert broker.hostname == "rabbitmq"


@by_app
def test_each_service_has_its_own_database(app: App) -> None:
    services = compose()["services"]
    assert environment(app.database_host)["POSTGRES_DB"] == app.database
    depends_on = services[app.service]["depends_on"]
    for dependency in (app.database_host, "rabbitmq"):
        assert depends_on[dependency]["condition"] == "service_healthy"
    assert "healthcheck" in services[app.database_host]


@by_app
def test_dockerfile_builds_and_runs_the_service(app: App) -> None:
    build = compose()["services"][app.service]["build"]
    assert (build["context"], build["dockerfile"]) == (".", f"{app.service}/Dockerfile")
    members = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    copied = " ".join(instruction(app, "COPY"))
    assert all(f"{member}/" in copied for member in members["members"])
    assert any(f"--package {app.service}" in run for run in instruction(app, "RUN"))
    assert instruction(app, "EXPOSE") == [str(app.port)]
    [cmd] = instruction(app, "CMD")
    script = json.loads(cmd)[-1]
    assert f"python -m {app.package}.migrate &&" in script
    tokens = shlex.split(script.split("&&", 1)[1])
    assert tokens[tokens.index("uvicorn") + 1:][:2] == [f"{app.package}.main:create_app",
                                                        "--factory"]
    assert tokens[tokens.index("--port") + 1] == str(app.port)
    assert f"{app.port}:{app.port}" in compose()["services"][app.service]["ports"]
    assert callable(importlib.import_module(f"{app.package}.main").create_app)
    assert callable(importlib.import_module(f"{app.package}.migrate").main)


@by_app
def test_healthchecks_call_existing_routes(app: App) -> None:
    checks = " ".join(instruction(app, "HEALTHCHECK"))
    checks += json.dumps(compose()["services"][app.service]["healthcheck"]["test"])
    urls = healthcheck_urls(checks)
    assert urls and {port for port, _ in urls} == {app.port}
    asgi_app = importlib.import_module(f"{app.package}.main").create_app()  # no lifespan
    for _, path in urls:
        assert path in ("/health", "/ready") and serves_get(asgi_app, path), path


def test_gateway_routes_the_spec_prefixes_only() -> None:
    template = TEMPLATE.read_text()
    routed = re.findall(r"location\s+(=\s*)?(/[\w/]*)\s*\{\s*proxy_pass\s+http://(\w+);",
                        template)
    expected = {(exact, f"/api/{prefix}" + ("" if exact else "/"), upstream)
                for prefix, upstream in ROUTES.items() for exact in (True, False)}
    assert {(bool(exact), path, upstream) for exact, path, upstream in routed} == expected
    assert not re.search(r"location\s+[=~^]*\s*/ops", template)
    assert re.search(r"location\s+=\s*/health\s*\{\s*return 200", template)
    assert re.search(r"location\s+/\s*\{\s*return 404", template)


def test_gateway_upstreams_and_environment() -> None:
    template = TEMPLATE.read_text()
    upstreams = dict(re.findall(r"upstream\s+(\w+)\s*\{[^}]*?server\s+\$\{(\w+)\};", template))
    assert set(upstreams) == set(UPSTREAMS)
    gateway = compose()["services"]["gateway"]
    env = environment("gateway")
    ports = {a.service: a.port for a in APPS}
    for upstream, variable in upstreams.items():
        assert env[variable] == f"{UPSTREAMS[upstream]}:{ports[UPSTREAMS[upstream]]}"
        assert gateway["depends_on"][UPSTREAMS[upstream]]["condition"] == "service_healthy"
    assert env["GATEWAY_PORT"] == "8000" and "listen ${GATEWAY_PORT};" in template
    # envsubst replaces every $NAME defined in the container: nginx's own are lowercase
    placeholders = set(re.findall(r"\$\{(\w+)\}", template))
    assert placeholders == set(env) == set(load_render().PLACEHOLDERS)
    assert not set(re.findall(r"\$([A-Z]\w*)", template))
    mounts = gateway["volumes"]
    assert "./gateway/default.conf.template:/etc/nginx/templates/default.conf.template:ro" in mounts
    assert healthcheck_urls(json.dumps(gateway["healthcheck"]["test"])) == [(8000, "/health")]


def test_render_substitutes_only_the_placeholders(tmp_path: Path) -> None:
    conf = load_render().render(tmp_path, "127.0.0.1:18001", "localhost:18002", 18000)
    server = (tmp_path / "default.conf").read_text()
    assert "${" not in server and "listen 18000;" in server
    assert "server 127.0.0.1:18001;" in server and "server localhost:18002;" in server
    assert "$http_x_request_id $req_id" in server  # nginx's variables are kept
    main = conf.read_text()
    assert conf == tmp_path.resolve() / "nginx.conf" and "daemon off;" in main
    assert str(tmp_path.resolve() / "default.conf") in main


def test_rendered_config_passes_nginx_check(tmp_path: Path) -> None:
    render = load_render()
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        pytest.skip("nginx is not installed")
    conf = render.render(tmp_path, "127.0.0.1:18001", "127.0.0.1:18002", 18000)
    command = [*render.nginx_command(conf), "-t"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
