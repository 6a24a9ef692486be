"""Apply core-service's migrations: ``python -m core_service.migrate``."""

from core_service.settings import CoreSettings
from shared_lib.migrations import upgrade


def main() -> None:
    upgrade("core_service:migrations", CoreSettings().database_url)


if __name__ == "__main__":
    main()
