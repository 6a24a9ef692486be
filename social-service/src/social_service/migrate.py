"""Apply social-service's migrations: ``python -m social_service.migrate``."""

from shared_lib.migrations import upgrade
from social_service.settings import SocialSettings


def main() -> None:
    upgrade("social_service:migrations", SocialSettings().database_url)


if __name__ == "__main__":
    main()
