"""HTTP request and response bodies of core-service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, field_validator

from core_service.domain.posts import MAX_CONTENT_CHARS, is_empty_post
from instasaga.schemas import UserSummary
from shared_lib.text import NONBLANK_TEXT, SAFE_LINE, SAFE_TEXT, WebUrl

Username = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._]{3,30}$"), SAFE_LINE]
Url = WebUrl
#: a password as typed: tabs and line breaks pass, other control characters do not
Password = Annotated[str, SAFE_TEXT]
FullName = Annotated[str, StringConstraints(max_length=100), SAFE_LINE]


def _password_bytes(v: str) -> str:
    n = len(v.encode("utf-8"))
    if n < 8 or n > 72:
        raise ValueError("password must be 8 to 72 bytes")
    return v


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    username: Username
    email: Annotated[EmailStr, SAFE_LINE]
    password: Password
    full_name: FullName | None = None

    _check_password = field_validator("password")(_password_bytes)


class LoginIn(BaseModel):
    email: Annotated[str, StringConstraints(min_length=1, max_length=320), SAFE_LINE]
    password: Annotated[str, StringConstraints(min_length=1, max_length=200), SAFE_TEXT]


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    #: seconds the access token is good for
    expires_in: int
    #: exchange it at /api/auth/refresh for a new pair; each one works once
    refresh_token: str


RefreshToken = Annotated[str, StringConstraints(min_length=34, max_length=100,
                                                pattern=r"^[0-9a-f]{32}\.[A-Za-z0-9_-]+$")]


class RefreshIn(BaseModel):
    refresh_token: RefreshToken


class PasswordChangeIn(BaseModel):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=200),
                                SAFE_TEXT]
    new_password: Password

    _check_password = field_validator("new_password")(_password_bytes)


class PasswordIn(BaseModel):
    """Re-authentication before an irreversible change."""

    password: Annotated[str, StringConstraints(max_length=200), SAFE_TEXT] | None = None


class UserOut(BaseModel):
    """A user as its owner sees it (with e-mail)."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    username: str
    email: str
    full_name: str | None
    bio: str | None
    profile_image_url: str | None
    is_active: bool
    is_private: bool
    created_at: datetime


class ProfileOut(UserSummary):
    """A user's public profile."""

    bio: str | None
    post_count: int
    follower_count: int
    following_count: int
    has_active_story: bool
    is_private: bool


class PostIn(BaseModel):
    """Content, an image, or both: one of them must be there (content not only white
    space)."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["content"], "properties": {"content": {"type": "string",
                                                             "pattern": r"\S"}}},
        {"required": ["image_url"], "properties": {"image_url": {"type": "string"}}}]})
    content: Annotated[str, StringConstraints(max_length=MAX_CONTENT_CHARS),
                       SAFE_TEXT] | None = None
    image_url: Url | None = None

    def is_empty(self) -> bool:
        return is_empty_post(self.content, self.image_url)


class PostOut(BaseModel):
    id: int
    author_id: int
    author_username: str
    content: str | None
    image_url: str | None
    hashtags: list[str] = Field(default_factory=list)
    like_count: int
    comment_count: int
    status: str
    rejection_reason: str | None
    created_at: datetime


class UserUpdateIn(BaseModel):
    full_name: FullName | None = None
    bio: Annotated[str, StringConstraints(max_length=500), SAFE_TEXT] | None = None
    profile_image_url: Url | None = None
    #: posts, stories, followers and following for approved followers only
    is_private: bool | None = None


class CommentIn(BaseModel):
    content: Annotated[str, StringConstraints(min_length=1, max_length=MAX_CONTENT_CHARS),
                       NONBLANK_TEXT]


class CommentOut(BaseModel):
    id: int
    post_id: int
    author_id: int
    author_username: str
    content: str
    created_at: datetime


class LikeOut(BaseModel):
    liked: bool
    like_count: int


class FollowOut(BaseModel):
    following: bool
    #: a follow of a private account waits for its owner's approval
    requested: bool = False


class BlockOut(BaseModel):
    blocked: bool
