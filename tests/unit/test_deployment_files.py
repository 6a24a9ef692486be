"""docker-compose.yml, the Dockerfile, .dockerignore, the gateway template, the broker's
definitions and scripts/compose_stack.py agree with the code and with each other.

No Docker, PostgreSQL or RabbitMQ needed: the files are read and the services' modules
imported (apps are built without running their lifespan). tests/compose/ runs the stack.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import pytest
import yaml
from starlette.routing import Match

from instasaga.services import CORE, SOCIAL
from instasaga.topology import system_topology
from instasaga_gateway import render
from shared_lib.contracts.routing import (
    commands_exchange,
    dlx_exchange,
    events_exchange,
    replies_exchange,
)
from shared_lib.messaging.topology import Topology
from shared_lib.settings import DEV_PRIVATE_KEY_FILE, DEV_PUBLIC_KEY_FILE

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "gateway" / "src" / "instasaga_gateway" / "default.conf.template"
DOCKERFILE = ROOT / "Dockerfile"
DEFINITIONS = ROOT / "docker" / "rabbitmq" / "definitions.json"


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
# the only ports published on the host: (service, host address or "" for every interface,
# host port, container port)
PUBLISHED = {("gateway", "", 8000, 8000), ("rabbitmq", "127.0.0.1", 15672, 15672),
             ("console", "127.0.0.1", 8009, 8009)}
by_app = pytest.mark.parametrize("app", APPS, ids=[a.service for a in APPS])


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def interpolate(value: Any, variables: dict[str, str] | None = None) -> str:
    """Compose's ``${NAME:-default}`` with ``variables``, else the defaults (whatever this
    shell has set)."""
    given = variables or {}
    return re.sub(r"\$\{(\w+)(?::?-([^}]*))?\}",
                  lambda m: given.get(m.group(1)) or m.group(2) or "", str(value))


def environment(service: str) -> dict[str, str]:
    env = compose()["services"][service].get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {name: interpolate(value) for name, value in env.items()}


def secret_files(service: str) -> dict[str, Path]:
    """Where the service's compose secrets are mounted, and the files they come from."""
    declared = compose().get("secrets", {})
    mounted: dict[str, Path] = {}
    for secret in compose()["services"][service].get("secrets", []):
        source = secret if isinstance(secret, str) else secret["source"]
        target = source if isinstance(secret, str) else secret.get("target", source)
        target = target if target.startswith("/") else f"/run/secrets/{target}"
        mounted[target] = ROOT / interpolate(declared[source]["file"])
    return mounted


def healthcheck_urls(text: str) -> list[tuple[int, str]]:
    """The local addresses a health check asks: URLs, or bash's /dev/tcp and a GET."""
    urls = [(int(port), path) for port, path in
            re.findall(r"http://127\.0\.0\.1:(\d+)(/[\w/]*)", text)]
    for port in re.findall(r"/dev/tcp/127\.0\.0\.1/(\d+)", text):
        urls += [(int(port), path) for path in re.findall(r"GET (/[\w/]*) HTTP/1", text)]
    return urls


@cache
def gateway_script() -> Any:
    """scripts/write_gateway.py: what the apps say the gateway routes and throttles."""
    spec = importlib.util.spec_from_file_location("write_gateway",
                                                  ROOT / "scripts" / "write_gateway.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve their module
    spec.loader.exec_module(module)
    return module


@cache
def gateway_edges() -> list[Any]:
    return gateway_script().edges()


def compose_stack_script() -> Any:
    spec = importlib.util.spec_from_file_location("compose_stack",
                                                  ROOT / "scripts" / "compose_stack.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_args(app: App) -> dict[str, str]:
    build = compose()["services"][app.service]["build"]
    return {name: interpolate(value) for name, value in build.get("args", {}).items()}


def substitute(text: str, values: dict[str, str]) -> str:
    """``${NAME}`` and ``$NAME`` replaced, as the Dockerfile or the image's shell would."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)",
                  lambda m: values.get(m.group(1) or m.group(2), m.group(0)), text)


def dockerfile_stages() -> tuple[dict[str, str], list[tuple[str, str, list[tuple[str, str]]]]]:
    """The Dockerfile's ARGs before its first FROM (with their defaults) and its stages:
    (base image or stage, stage name or "", [(instruction, arguments)])."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    args: dict[str, str] = {}
    stages: list[tuple[str, str, list[tuple[str, str]]]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        word, _, rest = line.strip().partition(" ")
        word, rest = word.upper(), rest.strip()
        if word == "FROM":
            words = rest.split()
            named = len(words) == 3 and words[1].lower() == "as"
            stages.append((words[0], words[2] if named else "", []))
        elif not stages:  # usable in FROM lines
            assert word == "ARG", line
            name, _, default = rest.partition("=")
            args[name] = default
        else:
            stages[-1][2].append((word, rest))
    return args, stages


def image_instructions(app: App) -> list[tuple[str, str]]:
    """The instructions that make the app's image, first to last: the last stage's, for
    the app's build arguments, after those of the stages it is built from."""
    args, stages = dockerfile_stages()
    args.update(build_args(app))
    named = {name: (base, instructions) for base, name, instructions in stages if name}
    base, _, instructions = stages[-1]
    chain = [instructions]
    base = substitute(base, args)
    while base in named:
        base, instructions = named[base]
        chain.insert(0, instructions)
    assert base.startswith("python:"), base
    return [item for instructions in chain for item in instructions]


def image_env(app: App) -> dict[str, str]:
    """The image's ENV, with the build arguments substituted."""
    values = dict(build_args(app))
    env: dict[str, str] = {}
    for word, rest in image_instructions(app):
        if word == "ENV":
            for item in shlex.split(rest):
                name, _, value = item.partition("=")
                env[name] = values[name] = substitute(value, values)
    return env


def instruction(app: App, name: str) -> list[str]:
    """The arguments of each ``name`` instruction of the app's image, with the image's
    environment substituted (as its shell does when it runs RUN, CMD and HEALTHCHECK)."""
    values = {**build_args(app), **image_env(app)}
    return [substitute(rest, values) for word, rest in image_instructions(app) if word == name]


GLOB = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}


def dockerignore() -> list[tuple[bool, re.Pattern[str]]]:
    """.dockerignore as (exception, pattern), in order (the last match decides)."""
    patterns = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        parts = re.split(r"(\*\*/|\*\*|\*|\?)", line.lstrip("!").strip("/"))
        regex = "".join(GLOB.get(part, re.escape(part)) for part in parts)
        patterns.append((exception, re.compile(regex + r"\Z")))
    return patterns


def excluded_from_build_context(path: Path) -> bool:
    """Whether .dockerignore keeps the file out (a pattern may match a parent folder)."""
    parts = path.relative_to(ROOT).parts
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for exception, pattern in dockerignore():
        if any(pattern.match(prefix) for prefix in prefixes):
            excluded = not exception
    return excluded



def serves_get(asgi_app: Any, path: str) -> bool:
    """Whether a route of the app matches ``GET path`` (works for included routers too)."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "",
             "headers": [], "query_string": b""}
    return any(route.matches(scope)[0] == Match.FULL for route in asgi_app.routes)


def test_all_services_are_defined() -> None:
    infrastructure = {"postgres-core", "postgres-social", "rabbitmq", "gateway", "console"}
    assert {a.service for a in APPS} | infrastructure <= set(compose()["services"])


def test_published_ports() -> None:
    """Only the gateway on every interface; the RabbitMQ UI and the console at most on
    127.0.0.1; AMQP, the
    databases and the services' own ports not at all."""
    published = set()
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert isinstance(port, str), "the short syntax, quoted"
            address, host, container = ["", *interpolate(port).split(":")][-3:]
            published.add((name, address, int(host), int(container)))
    assert published == PUBLISHED
    everywhere = {name for name, address, _, _ in published if address in ("", "0.0.0.0")}
    assert everywhere == {"gateway"}
    # the host ports can be moved (a developer's own RabbitMQ may hold 15672)
    ports = {name: service.get("ports") for name, service in compose()["services"].items()}
    assert ports["gateway"] == ["${GATEWAY_HOST_PORT:-8000}:8000"]
    assert ports["rabbitmq"] == ["127.0.0.1:${RABBITMQ_UI_PORT:-15672}:15672"]
    assert ports["console"] == ["127.0.0.1:${CONSOLE_HOST_PORT:-8009}:8009"]


def test_every_container_has_a_health_check_and_a_restart_policy() -> None:
    for name, service in compose()["services"].items():
        assert service.get("restart") == "unless-stopped", name
        test = service["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name


@by_app
def test_environment_is_read_by_the_settings(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    settings_class = getattr(importlib.import_module(f"{app.package}.settings"), app.settings)
    fields = {name.lower() for name in settings_class.model_fields}
    env = environment(app.service)
    assert {name.lower() for name in env} <= fields
    secrets = secret_files(app.service)
    for name, value in env.items():
        # a secret's mount point stands for the file compose mounts there
        monkeypatch.setenv(name, str(secrets.get(value, value)))
    settings = settings_class()  # the compose values parse
    database, broker = urlsplit(settings.database_url), urlsplit(settings.amqp_url)
    assert (database.hostname, database.path) == (app.database_host, f"/{app.database}")
    assert broker.hostname == "rabbitmq"
    # the service's own broker user, whose password the broker gets from the same variable
    user = app.database
    assert broker.username == user
    raw = compose()["services"][app.service]["environment"]["AMQP_URL"]
    variable = f"RABBITMQ_{user.upper()}_PASSWORD"
    assert f"{user}:${{{variable}:-" in raw
    broker_env = compose()["services"]["rabbitmq"]["environment"]
    assert broker_env[f"BROKER_{user.upper()}_PASSWORD"].startswith(f"${{{variable}:-")
    assert broker.password == environment("rabbitmq")[f"BROKER_{user.upper()}_PASSWORD"]


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
    assert (build["context"], build["dockerfile"]) == (".", DOCKERFILE.name)
    # the build argument names the workspace package and the module
    service = build_args(app)["SERVICE"]
    assert (f"{service}-service", f"{service}_service") == (app.service, app.package)
    members = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    assert app.service in members["members"]
    project = tomllib.loads((ROOT / app.service / "pyproject.toml").read_text())["project"]
    assert project["name"] == app.service
    copied = " ".join(instruction(app, "COPY"))
    assert all(f"{member}/" in copied for member in members["members"])
    syncs = [shlex.split(run) for run in instruction(app, "RUN") if "uv sync" in run]
    assert syncs and all(words[:3] == ["uv", "sync", "--frozen"] for words in syncs)
    assert all(words[words.index("--package") + 1] == app.service for words in syncs)
    assert "--no-editable" in syncs[-1]  # the image runs installed packages, not sources
    assert instruction(app, "EXPOSE") == [str(app.port)]
    assert instruction(app, "USER")[-1] not in ("root", "0")
    [cmd] = instruction(app, "CMD")
    script = json.loads(cmd)[-1]
    assert f"python -m {app.package}.migrate &&" in script
    tokens = shlex.split(script.split("&&", 1)[1])
    assert tokens[tokens.index("uvicorn") + 1:][:2] == [f"{app.package}.main:create_app",
                                                        "--factory"]
    assert tokens[tokens.index("--port") + 1] == str(app.port)
    assert "ports" not in compose()["services"][app.service]  # reached through the gateway
    # one image name per service, shared by every project (and its build cache)
    assert compose()["services"][app.service]["image"].startswith(f"instasaga/{app.service}:")
    assert callable(importlib.import_module(f"{app.package}.main").create_app)
    assert callable(importlib.import_module(f"{app.package}.migrate").main)


def test_no_private_key_enters_an_image() -> None:
    keys = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in (".git", ".venv", "node_modules")]
        keys += [Path(folder) / name for name in files if name.endswith((".pem", ".key"))]
    assert DEV_PRIVATE_KEY_FILE in keys
    for key in keys:
        if "public" not in key.name:
            assert excluded_from_build_context(key), key
    assert not excluded_from_build_context(DEV_PUBLIC_KEY_FILE)  # verifies by default
    for app in APPS:
        for word, rest in image_instructions(app):
            assert word != "ADD" and not (word == "COPY" and re.search(r"\.(pem|key)\b", rest))
    # core-service gets its key at run time, as a secret; social-service has none
    env = environment("core-service")
    assert secret_files("core-service")[env["JWT_PRIVATE_KEY_FILE"]].is_file()
    assert not {"JWT_PRIVATE_KEY", "JWT_PRIVATE_KEY_FILE"} & set(environment("social-service"))
    assert not compose()["services"]["social-service"].get("secrets")


@by_app
def test_healthchecks_call_existing_routes(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")  # the development keys are accepted
    checks = " ".join(instruction(app, "HEALTHCHECK"))
    checks += json.dumps(compose()["services"][app.service]["healthcheck"]["test"])
    urls = healthcheck_urls(checks)
    assert urls and {port for port, _ in urls} == {app.port}
    asgi_app = importlib.import_module(f"{app.package}.main").create_app()  # no lifespan
    for _, path in urls:
        assert path in ("/health", "/ready") and serves_get(asgi_app, path), path


def test_the_gateway_locations_are_the_apps_own() -> None:
    template = TEMPLATE.read_text()
    assert template == gateway_script().rendered(template, gateway_edges()), (
        "the gateway's locations drifted from the apps: run make gateway "
        "(uv run python scripts/write_gateway.py)")


def test_gateway_routes_the_api_prefixes_only() -> None:
    template = TEMPLATE.read_text()
    routed = re.findall(r"location\s+(=\s*)?(/[\w/]*)\s*\{\s*proxy_pass\s+http://(\w+);",
                        template)
    expected = {(exact, prefix + ("" if exact else "/"), e.upstream)
                for e in gateway_edges() for prefix in e.prefixes for exact in (True, False)}
    assert {e.upstream for e in gateway_edges()} == set(UPSTREAMS)
    assert all(p.startswith("/api/") for e in gateway_edges() for p in e.prefixes)
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
    assert placeholders == set(env) == set(render.PLACEHOLDERS)
    assert not set(re.findall(r"\$([A-Z]\w*)", template))
    mounts = gateway["volumes"]
    assert (f"./{TEMPLATE.relative_to(ROOT)}:/etc/nginx/templates/default.conf.template:ro"
            in mounts)
    assert healthcheck_urls(gateway["healthcheck"]["test"][-1]) == [(8000, "/health")]
    limits = render.Limits()
    assert (env["GATEWAY_AUTH_RATE"], env["GATEWAY_AUTH_BURST"], env["GATEWAY_CONN_LIMIT"]) \
        == (str(limits.auth_rate), str(limits.auth_burst), str(limits.connections))


def test_render_substitutes_only_the_placeholders(tmp_path: Path) -> None:
    conf = render.render(tmp_path, "127.0.0.1:18001", "localhost:18002", 18000)
    server = (tmp_path / "default.conf").read_text()
    assert "${" not in server and "listen 18000;" in server
    assert "server 127.0.0.1:18001;" in server and "server localhost:18002;" in server
    assert "$http_x_request_id $req_id" in server  # nginx's variables are kept
    main = conf.read_text()
    assert conf == tmp_path.resolve() / "nginx.conf" and "daemon off;" in main
    assert str(tmp_path.resolve() / "default.conf") in main


def test_rendered_config_passes_nginx_check(tmp_path: Path) -> None:
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        pytest.skip("nginx is not installed")
    conf = render.render(tmp_path, "127.0.0.1:18001", "127.0.0.1:18002", 18000)
    command = [*render.nginx_command(conf), "-t"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------------ base images, make up
def test_every_base_image_has_a_local_stand_in() -> None:
    """scripts/compose_stack.py builds a stand-in, tagged with the very name, for each image
    the stack uses when no registry answers."""
    script = compose_stack_script()
    services = compose()["services"]
    named = {s["image"] for s in services.values() if "build" not in s}
    args, stages = dockerfile_stages()
    [(base, _, _)] = stages  # one stage: the legacy builder needs no stage arithmetic
    named.add(substitute(base, args))
    assert named == set(script.base_images()) == set(script.STAND_INS)
    for folder in script.STAND_INS.values():
        dockerfile = (ROOT / "docker" / "standins" / folder / "Dockerfile").read_text()
        assert f"FROM {script.STANDIN_BASE}\n" in dockerfile
    for text in [DOCKERFILE.read_text()] + [
            (ROOT / "docker" / "standins" / f / "Dockerfile").read_text()
            for f in script.STAND_INS.values()]:
        # a syntax line makes Compose v2 fetch a front end from a registry
        assert not re.search(r"^#\s*syntax\s*=", text, re.M | re.I)


def test_make_up_and_down_run_the_script() -> None:
    makefile = (ROOT / "Makefile").read_text()
    up = re.search(r"^up:.*\n((?:\t.*\n)+)", makefile, re.M)
    down = re.search(r"^down:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert up and "scripts/compose_stack.py up" in up.group(1)
    assert down and "scripts/compose_stack.py down" in down.group(1)
    assert "--volumes" in down.group(1)


def test_compose_file_has_no_top_level_name() -> None:
    """Compose 1.29 refuses it: the scripts set COMPOSE_PROJECT_NAME."""
    assert "name" not in compose()


def test_passwords_have_marked_development_defaults() -> None:
    for line in (ROOT / "docker-compose.yml").read_text().splitlines():
        for variable in re.findall(r"\$\{(\w*PASSWORD):-[^}]+\}", line):
            if "_URL:" not in line:  # the URLs repeat a default marked where it is set
                assert "# development only" in line, variable


# ------------------------------------------------------------------ the broker's users
def _services_of(topology: Topology) -> tuple[str, ...]:
    return tuple(sorted({q.owner for q in topology.queues}))


def required_permissions(topology: Topology, service: str) -> dict[str, set[str]]:
    """What RabbitMQ asks of a service that declares the whole topology, consumes its own
    queues and publishes its events, its commands and its replies."""
    exchanges = {e.name: e for e in topology.exchanges}
    queues = {q.name: q for q in topology.queues}
    dead_lettered = [q for q in topology.queues if q.dead_letter]
    dlqs = {q.dlq for q in dead_lettered}
    others = [s for s in _services_of(topology) if s != service]
    published = {events_exchange(service)}
    published |= {commands_exchange(o) for o in others} | {replies_exchange(o) for o in others}
    dlx = {dlx_exchange(q.owner) for q in dead_lettered}
    return {
        # declaring: configure on every exchange and queue
        "configure": set(exchanges) | set(queues) | dlqs,
        # binding (write on the queue), an alternate or dead-letter exchange named in a
        # declaration (write on it), publishing
        "write": set(queues) | dlqs | {e.alternate for e in exchanges.values() if e.alternate}
        | dlx | published,
        # binding (read on the exchange), an exchange declared with an alternate one, a
        # queue declared with a dead-letter exchange (read on them), consuming
        "read": {b.exchange for q in queues.values() for b in q.bindings} | dlx
        | {e.name for e in exchanges.values() if e.alternate} | {q.name for q in dead_lettered}
        | {q.name for q in queues.values() if q.owner == service},
    }


def test_each_service_has_a_broker_user_limited_to_the_topology() -> None:
    topology = system_topology()
    assert _services_of(topology) == tuple(sorted((CORE, SOCIAL)))
    definitions = json.loads(DEFINITIONS.read_text())
    users = {u["name"]: u for u in definitions["users"]}
    assert set(users) == {"@ADMIN_USER@", CORE, SOCIAL}
    assert users["@ADMIN_USER@"]["tags"] == ["administrator"]
    permissions = {p["user"]: p for p in definitions["permissions"]}
    names = ({e.name for e in topology.exchanges} | {q.name for q in topology.queues}
             | {q.dlq for q in topology.queues if q.dead_letter})
    foreign = {"amq.topic", "amq.default", "", "other.commands", "core.commands.x",
               "core.commandsx", "xcore.commands", "social.events.projections.dlq.x"}
    for service in (CORE, SOCIAL):
        assert users[service]["tags"] == []  # no management access
        granted = permissions[service]
        assert granted["vhost"] == "/"
        for kind, required in required_permissions(topology, service).items():
            # RabbitMQ's regexes match anywhere in the name, as re.search does
            pattern = re.compile(granted[kind])
            allowed = {name for name in names | foreign if pattern.search(name)}
            assert allowed == required, (
                f"{service} {kind}: grants {sorted(allowed - required)} it need not, "
                f"lacks {sorted(required - allowed)} (docker/rabbitmq/definitions.json)")
    # what the regexes leave out: each service's hold on the other's events
    core, social = (required_permissions(topology, s)["write"] for s in (CORE, SOCIAL))
    assert events_exchange(SOCIAL) not in core and events_exchange(CORE) not in social


def test_the_broker_renders_its_definitions_from_the_environment() -> None:
    rabbitmq = compose()["services"]["rabbitmq"]
    script = ROOT / "docker" / "rabbitmq" / "entrypoint.sh"
    assert rabbitmq["entrypoint"] == ["sh", "/etc/instasaga/rabbitmq/entrypoint.sh"]
    assert "./docker/rabbitmq:/etc/instasaga/rabbitmq:ro" in rabbitmq["volumes"]
    text = script.read_text()
    placeholders = set(re.findall(r"@(\w+)@", DEFINITIONS.read_text()))
    for placeholder in placeholders:
        assert f"s/@{placeholder}@/$BROKER_{placeholder}/g" in text
    assert {f"BROKER_{p}" for p in placeholders} <= set(rabbitmq["environment"])
    assert "exec docker-entrypoint.sh" in text


def cluster_env() -> dict[str, str]:
    return compose_stack_script().env_file(ROOT / "docker" / "cluster.env")


def test_the_cluster_profile_adds_two_nodes_that_join_the_first() -> None:
    services = compose()["services"]
    nodes = sorted(name for name in services if name.startswith("rabbitmq"))
    assert nodes == ["rabbitmq", "rabbitmq-2", "rabbitmq-3"]
    assert "profiles" not in services["rabbitmq"]
    for name in nodes:
        node = services[name]
        assert node["hostname"] == name  # the node name rabbit@<name>, kept across re-creations
        assert node["image"] == services["rabbitmq"]["image"]
        assert node["healthcheck"] == services["rabbitmq"]["healthcheck"]
        assert f"{name}-data:/var/lib/rabbitmq" in node["volumes"]  # data of its own
        if name != "rabbitmq":
            assert node["profiles"] == ["cluster"]
            assert environment(name)["BROKER_JOIN"] == "rabbit@rabbitmq"
            assert "ports" not in node  # the UI of the first node only
            # the same users, passwords and cookie as the first node
            assert {k: v for k, v in environment(name).items() if k != "BROKER_JOIN"} == \
                environment("rabbitmq")
    assert {f"{n}-data" for n in nodes} <= set(compose()["volumes"])


def test_the_cluster_env_file_names_every_node() -> None:
    values = cluster_env()
    assert values["COMPOSE_PROFILES"] == "cluster"
    nodes = [name for name in compose()["services"] if name.startswith("rabbitmq")]
    assert int(values["RABBITMQ_CLUSTER_SIZE"]) == len(nodes) == 3
    assert values["RABBITMQ_HOSTS"].split(",") == [f"{n}:5672" for n in nodes]


@by_app
def test_with_the_cluster_env_a_service_gets_every_node(app: App) -> None:
    from shared_lib.messaging.addresses import broker_urls

    raw = compose()["services"][app.service]["environment"]["AMQP_URL"]
    single, cluster = broker_urls(interpolate(raw)), broker_urls(interpolate(raw, cluster_env()))
    assert [urlsplit(u).hostname for u in single] == ["rabbitmq"]
    assert [urlsplit(u).hostname for u in cluster] == ["rabbitmq", "rabbitmq-2", "rabbitmq-3"]
    assert {(urlsplit(u).username, urlsplit(u).password, urlsplit(u).path)
            for u in cluster} == {(urlsplit(single[0]).username, urlsplit(single[0]).password,
                                   "/")}


def test_a_cluster_node_shares_the_cookie_and_joins_on_its_first_boot() -> None:
    text = (ROOT / "docker" / "rabbitmq" / "entrypoint.sh").read_text()
    assert "/var/lib/rabbitmq/.erlang.cookie" in text and "chmod 400" in text
    assert "cluster_formation.classic_config.nodes.1 = $BROKER_JOIN" in text
    health = (ROOT / "docker" / "rabbitmq" / "healthcheck.sh").read_text()
    assert "BROKER_CLUSTER_SIZE" in health and "running_nodes" in health
    assert environment("rabbitmq")["BROKER_CLUSTER_SIZE"] == "1"
    assert compose()["services"]["rabbitmq"]["environment"]["BROKER_CLUSTER_SIZE"] == \
        "${RABBITMQ_CLUSTER_SIZE:-1}"


def test_the_console_reads_both_services_with_the_operator_token(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from ops_tools.console.settings import ConsoleSettings

    env = environment("console")
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    settings = ConsoleSettings()  # type: ignore[call-arg]
    assert settings.core_url == "http://core-service:8001"
    assert settings.social_url == "http://social-service:8002"
    token = settings.ops_token.get_secret_value()
    assert token == environment("core-service")["OPS_TOKEN"]
    assert token == environment("social-service")["OPS_TOKEN"]
    raw = compose()["services"]["console"]["environment"]
    assert raw["CONSOLE_OPS_TOKEN"] == compose()["services"]["core-service"]["environment"][
        "OPS_TOKEN"] == "${OPS_TOKEN:-ops-dev-only}"
    assert urlsplit(settings.rabbitmq_api).hostname == "rabbitmq"
    assert settings.rabbitmq_user == environment("rabbitmq")["BROKER_ADMIN_USER"]
    console = compose()["services"]["console"]
    assert console["build"]["dockerfile"] == "docker/console/Dockerfile"
    assert (ROOT / "docker" / "console" / "Dockerfile").is_file()
    for service in ("core-service", "social-service"):
        assert console["depends_on"][service]["condition"] == "service_healthy"
