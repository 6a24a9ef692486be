"""social-service settings (environment variables, see README)."""

from __future__ import annotations

from pydantic import Field

from instasaga.hashtags import normalise_hashtag
from shared_lib.settings import ServiceSettings


class SocialSettings(ServiceSettings):
    service_name: str = "social"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/social"
    #: comma-separated hashtags (without '#') that posts may not use
    banned_hashtags: str = ""
    max_hashtags_per_post: int = Field(default=30, ge=1)
    max_hashtag_length: int = Field(default=100, ge=1)

    @property
    def banned_hashtag_set(self) -> frozenset[str]:
        """The banned hashtags, normalised as every hashtag is (NFKC, case-folded)."""
        return frozenset(
            name for name in map(normalise_hashtag, self.banned_hashtags.split(",")) if name
        )
