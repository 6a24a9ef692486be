"""Every command and event exchanged by the services (docs/messaging.md, docs/sagas.md);
the saga protocol's own replies and probes are in :mod:`shared_lib.contracts.saga`.

A contract is a frozen pydantic model with its type name and version. A
breaking change adds a new class with ``VERSION = 2`` next to the old one;
consumers keep handling both until no producer sends the old one.

Events carry ``seq``: a number that grows with every change of the aggregate
the event is about (the user for user events, the post for post events, the
follower/followee pair for follow events), so consumers can drop stale and
duplicate events.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import Field

from instasaga.services import CORE, SOCIAL
from shared_lib.contracts.base import Command, Event, registry

register = registry.register


# ------------------------------------------------------- commands to social
@register
class IndexPostHashtags(Command):
    TYPE = "index_post_hashtags"
    HANDLER = SOCIAL

    post_id: int
    author_id: int
    author_username: str
    content: str | None = None
    image_url: str | None = None
    hashtags: list[str]
    created_at: datetime


@register
class UnindexPostHashtags(Command):
    TYPE = "unindex_post_hashtags"
    HANDLER = SOCIAL

    post_id: int


@register
class PurgePost(Command):
    TYPE = "purge_post"
    HANDLER = SOCIAL

    post_id: int
    #: the post's version when its deletion began: a projection that is newer
    #: (the post was restored since) is left alone
    seq: int = Field(default=0, ge=0)


@register
class PurgeUser(Command):
    TYPE = "purge_user"
    HANDLER = SOCIAL

    user_id: int
    #: the user's version when the account deletion began
    seq: int = Field(default=0, ge=0)


# --------------------------------------------------------- commands to core
@register
class AuthorizeMessage(Command):
    TYPE = "authorize_message"
    HANDLER = CORE

    message_id: int
    sender_id: int
    receiver_id: int


class AuthorizeMessageRefusal(StrEnum):
    """The reasons core answers ``authorize_message`` with ``rejected``."""

    sender_deactivated = "Sender is deactivated"
    receiver_not_found = "Receiver not found"
    #: either has blocked the other
    blocked = "You cannot message this user"


@register
class RecordStory(Command):
    TYPE = "record_story"
    HANDLER = CORE

    story_id: int
    author_id: int
    expires_at: datetime


class RecordStoryRefusal(StrEnum):
    """The reason core answers ``record_story`` with ``rejected``."""

    author_deactivated = "Author is deactivated"


@register
class UnrecordStory(Command):
    TYPE = "unrecord_story"
    HANDLER = CORE

    story_id: int
    author_id: int


# ----------------------------------------------------------- core's events
class CoreEvent(Event):
    PUBLISHER = CORE
    seq: int = Field(ge=0)


class UserEventBase(CoreEvent):
    user_id: int
    username: str
    full_name: str | None = None
    bio: str | None = None
    profile_image_url: str | None = None
    is_active: bool = True
    #: access tokens with an older version (issued before a password change) are refused
    token_version: int = Field(default=1, ge=1)
    #: posts and stories for approved followers only
    is_private: bool = False


@register
class UserRegistered(UserEventBase):
    TYPE = "user.registered"


@register
class UserUpdated(UserEventBase):
    TYPE = "user.updated"


@register
class UserDeleted(CoreEvent):
    TYPE = "user.deleted"

    user_id: int


@register
class PostPublished(CoreEvent):
    TYPE = "post.published"

    post_id: int
    author_id: int
    author_username: str
    content: str | None = None
    image_url: str | None = None
    hashtags: list[str] = Field(default_factory=list)
    like_count: int = 0
    comment_count: int = 0
    created_at: datetime


@register
class PostDeleted(CoreEvent):
    TYPE = "post.deleted"

    post_id: int
    author_id: int


class LikeEventBase(CoreEvent):
    post_id: int
    post_author_id: int
    user_id: int
    username: str
    like_count: int


@register
class PostLiked(LikeEventBase):
    TYPE = "post.liked"


@register
class PostUnliked(LikeEventBase):
    TYPE = "post.unliked"


@register
class CommentAdded(CoreEvent):
    TYPE = "comment.added"

    comment_id: int
    post_id: int
    post_author_id: int
    author_id: int
    author_username: str
    content: str
    comment_count: int
    created_at: datetime


@register
class CommentDeleted(CoreEvent):
    TYPE = "comment.deleted"

    comment_id: int
    post_id: int
    post_author_id: int
    author_id: int
    comment_count: int


class FollowEventBase(CoreEvent):
    follower_id: int
    follower_username: str
    followee_id: int


@register
class UserFollowed(FollowEventBase):
    TYPE = "user.followed"


@register
class UserUnfollowed(FollowEventBase):
    TYPE = "user.unfollowed"


@register
class FollowRequested(CoreEvent):
    """A follow of a private account waits for its owner (``seq``: the pair's order)."""

    TYPE = "follow.requested"

    requester_id: int
    requester_username: str
    target_id: int


@register
class FollowAccepted(CoreEvent):
    """The owner approved a request (``user.followed`` announces the new edge)."""

    TYPE = "follow.accepted"

    requester_id: int
    target_id: int
    target_username: str


class BlockEventBase(CoreEvent):
    """``seq`` orders the events of one pair."""

    blocker_id: int
    blocked_id: int


@register
class UserBlocked(BlockEventBase):
    TYPE = "user.blocked"


@register
class UserUnblocked(BlockEventBase):
    TYPE = "user.unblocked"


@register
class SessionRevoked(Event):
    """A login session ended (logout, a reused refresh token, a password change): an
    access token naming it is refused until ``until``, when the last of them expires.
    No ``seq``: a revocation is final, so any order and any duplicate end the same."""

    TYPE = "session.revoked"
    PUBLISHER = CORE

    user_id: int
    session_id: uuid.UUID
    until: datetime


# --------------------------------------------------------- social's events
class SocialEvent(Event):
    PUBLISHER = SOCIAL


@register
class MessageSent(SocialEvent):
    TYPE = "message.sent"

    message_id: int
    sender_id: int
    receiver_id: int
    created_at: datetime


@register
class StoryCreated(SocialEvent):
    TYPE = "story.created"

    story_id: int
    author_id: int
    expires_at: datetime


@register
class StoryDeleted(SocialEvent):
    TYPE = "story.deleted"

    story_id: int
    author_id: int
