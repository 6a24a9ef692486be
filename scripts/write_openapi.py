"""Write docs/openapi/<service>.json, the OpenAPI documents of both services, from
their apps (built without running their lifespan: no database, no broker).
``make openapi``; a test fails when the committed files drift from the code."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "docs" / "openapi"
SERVICES = ("core", "social")


def document(service: str) -> dict[str, Any]:
    """The OpenAPI document ``service``'s app serves at ``/openapi.json``."""
    if service == "core":
        from core_service.main import create_app
        from core_service.settings import CoreSettings

        app = create_app(CoreSettings(environment="test"))
    elif service == "social":
        from social_service.main import create_app as create_social_app
        from social_service.settings import SocialSettings

        app = create_social_app(SocialSettings(environment="test"))
    else:
        raise ValueError(f"unknown service {service!r}")
    return app.openapi()


def render(service: str) -> str:
    return json.dumps(document(service), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for service in SERVICES:
        path = OUT / f"{service}.json"
        path.write_text(render(service))
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
