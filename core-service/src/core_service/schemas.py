"""HTTP request and response bodies of core-service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, field_validator

from core_service.domain.posts import MAX_CONTENT_CHARS, is_empty_post
from shared_lib.schemas import UserSummary

Username = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._]{3,30}$")]
Url = Annotated[str, StringConstraints(max_length=2048)]


def _password_bytes(v: str) -> str:
    n = len(v.encode("utf-8"))
    if n < 8 or n > 72:
        raise ValueError("password must be 8 to 72 bytes")
    return v


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    username: Username
    email: EmailStr
    password: str
    full_name: Annotated[str | None, StringConstraints(max_length=100)] = None

    _check_password = field_validator("password")(_password_bytes)


class LoginIn(BaseModel):
    email: Annotated[str, StringConstraints(min_length=1, max_length=320)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=200)]


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
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    new_password: str

    _check_password = field_validator("new_password")(_password_bytes)


class PasswordIn(BaseModel):
    """Re-authentication before an irreversible change."""

    password: Annotated[str | None, StringConstraints(max_length=200)] = None


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
    created_at: datetime


class ProfileOut(UserSummary):
    """A user's public profile."""

    bio: str | None
    post_count: int
    follower_count: int
    following_count: int
    has_active_story: bool


class PostIn(BaseModel):
    content: Annotated[str | None, StringConstraints(max_length=MAX_CONTENT_CHARS)] = None
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
    full_name: Annotated[str | None, StringConstraints(max_length=100)] = None
    bio: Annotated[str | None, StringConstraints(max_length=500)] = None
    profile_image_url: Url | None = None


class CommentIn(BaseModel):
    content: Annotated[str, StringConstraints(min_length=1, max_length=MAX_CONTENT_CHARS)]

    @field_validator("content")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("comment must not be blank")
        return v


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
