"""HTTP request and response bodies of social-service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared_lib.text import NONBLANK_TEXT, SAFE_TEXT, WebUrl
from shared_lib.web import PG_BIGINT_MAX


class MessageIn(BaseModel):
    receiver_id: int = Field(ge=1, le=PG_BIGINT_MAX)
    content: Annotated[str, StringConstraints(min_length=1, max_length=1000), NONBLANK_TEXT]


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    sender_id: int
    receiver_id: int
    content: str
    is_read: bool
    status: str
    created_at: datetime


class ConversationOut(BaseModel):
    other_user_id: int
    last_message: MessageOut
    unread_count: int


class MarkedOut(BaseModel):
    marked: int


class StoryIn(BaseModel):
    """An image, content, or both: one of them must be there (content not only white
    space)."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["content"], "properties": {"content": {"type": "string",
                                                             "pattern": r"\S"}}},
        {"required": ["image_url"], "properties": {"image_url": {"type": "string"}}}]})
    image_url: WebUrl | None = None
    content: Annotated[str, StringConstraints(max_length=2200), SAFE_TEXT] | None = None


class StoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    author_id: int
    author_username: str
    image_url: str | None
    content: str | None
    status: str
    created_at: datetime
    expires_at: datetime


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    user_id: int
    actor_id: int
    type: str
    reference_id: int | None
    message: str
    is_read: bool
    created_at: datetime


class HashtagOut(BaseModel):
    id: int
    name: str
    post_count: int


class PostOut(BaseModel):
    id: int
    author_id: int
    author_username: str
    content: str | None
    image_url: str | None
    hashtags: list[str]
    like_count: int
    comment_count: int
    status: str
    rejection_reason: str | None
    created_at: datetime
