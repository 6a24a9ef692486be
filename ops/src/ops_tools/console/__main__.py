"""``python -m ops_tools.console``: serve the console on CONSOLE_HOST:CONSOLE_PORT."""

from __future__ import annotations

import logging

import uvicorn

from ops_tools.console.app import create_app
from ops_tools.console.settings import ConsoleSettings


def main() -> None:
    settings = ConsoleSettings()  # type: ignore[call-arg]
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                access_log=False)


if __name__ == "__main__":
    main()
