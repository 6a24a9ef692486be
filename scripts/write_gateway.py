"""Write the gateway's locations from the apps (``make gateway``; a test fails when the
committed template drifts from them).

The apps are the one source of the HTTP edge: each ``/api/<prefix>`` of a service's
routes is routed to that service's upstream, and the paths its app declares
throttled (``create_service_app(throttled=...)``) get the per-address rate limit.
The generated block sits in ``gateway/src/instasaga_gateway/default.conf.template``
between its BEGIN and END markers; the rest of the template is written by hand.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "gateway" / "src" / "instasaga_gateway" / "default.conf.template"
BEGIN = ("    # BEGIN locations: generated from the apps by scripts/write_gateway.py"
         " (make gateway)\n")
END = "    # END locations\n"
#: each service, and the name of its nginx upstream (in the template's upstream blocks)
UPSTREAMS = {"core": "core_service", "social": "social_service"}


@dataclass(frozen=True)
class Edge:
    """What the gateway routes to one service."""

    service: str
    upstream: str
    #: ``/api/<prefix>`` of its routes, sorted
    prefixes: tuple[str, ...]
    #: the paths the gateway rate-limits, sorted
    throttled: tuple[str, ...]


def app_of(service: str) -> FastAPI:
    if service == "core":
        from core_service.main import create_app
        from core_service.settings import CoreSettings

        return create_app(CoreSettings(environment="test"))
    if service == "social":
        from social_service.main import create_app as create_social_app
        from social_service.settings import SocialSettings

        return create_social_app(SocialSettings(environment="test"))
    raise ValueError(f"unknown service {service!r}")


def edge(service: str) -> Edge:
    app = app_of(service)
    paths = app.openapi()["paths"]
    prefixes = sorted({"/".join(path.split("/")[:3]) for path in paths
                       if path.startswith("/api/")})
    return Edge(service, UPSTREAMS[service], tuple(prefixes), tuple(app.state.throttled))


def edges() -> list[Edge]:
    found = [edge(s) for s in UPSTREAMS]
    owners: dict[str, str] = {}
    for e in found:
        for prefix in e.prefixes:
            if prefix in owners:
                raise ValueError(f"{prefix} is served by both {owners[prefix]} and {e.service}")
            owners[prefix] = e.service
    return found


def locations(found: list[Edge]) -> str:
    out = [BEGIN]
    for e in found:
        out.append(f"    # {e.service}-service")
        if e.throttled:
            out[-1] += "; the routes that hash a password or rotate a token are throttled"
        out[-1] += "\n"
        for path in e.throttled:
            out.append(f"    location = {path} {{\n"
                       "        limit_req zone=auth_per_ip burst=${GATEWAY_AUTH_BURST} nodelay;\n"
                       f"        proxy_pass http://{e.upstream};\n"
                       "    }\n")
        for prefix in e.prefixes:
            out.append(f"    location = {prefix} {{ proxy_pass http://{e.upstream}; }}\n"
                       f"    location {prefix}/ {{ proxy_pass http://{e.upstream}; }}\n")
    out.append(END)
    return "".join(out)


def rendered(template: str, found: list[Edge]) -> str:
    """``template`` with its generated block replaced by the apps' locations."""
    start, end = template.index(BEGIN), template.index(END) + len(END)
    return template[:start] + locations(found) + template[end:]


def main() -> int:
    TEMPLATE.write_text(rendered(TEMPLATE.read_text(), edges()))
    print(TEMPLATE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
