"""API schemas both services answer with, where they are the same."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class UserSummary(BaseModel):
    """A user in a list: followers, following, search results."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    username: str
    full_name: str | None
    profile_image_url: str | None
