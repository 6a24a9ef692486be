"""``python -m ops_tools.console``: serve the console on CONSOLE_HOST:CONSOLE_PORT."""

from __future__ import annotations

import logging
import sys

import uvicorn
from pydantic import ValidationError

from ops_tools.console.app import create_app
from ops_tools.console.settings import ConsoleSettings


def main() -> int:
    try:
        settings = ConsoleSettings()  # type: ignore[call-arg]
    except ValidationError as exc:
        names = ", ".join(f"CONSOLE_{'_'.join(map(str, e['loc'])).upper()}"
                          for e in exc.errors())
        print(f"console: missing or invalid settings: {names}\n{exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
