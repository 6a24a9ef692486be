"""social-service's tables: its own data and the projections of core's data."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class UserProjection(Base):
    """core's users as social needs them (search, display names, token checks)."""

    __tablename__ = "users"
    __table_args__ = (
        # trigram indexes (extension pg_trgm) for case-insensitive substring search
        Index("ix_users_username_trgm", text("lower(username) gin_trgm_ops"),
              postgresql_using="gin"),
        Index("ix_users_full_name_trgm", text("lower(full_name) gin_trgm_ops"),
              postgresql_using="gin"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    username: Mapped[str] = mapped_column(String(30))
    full_name: Mapped[str | None] = mapped_column(String(100))
    profile_image_url: Mapped[str | None] = mapped_column(String(2048))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    #: the account was purged (delete_account's pivot: it is never reactivated
    #: after that) or deleted. Unlike ``is_active = false``, which a deletion
    #: still under way also sets and its compensation undoes, this is final:
    #: no event creates a follow edge or a notification involving this user again
    deleted: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    #: tokens carrying an older version (issued before a password change) are refused
    token_version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    #: posts and stories for approved followers only
    is_private: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    #: ``seq`` of the last applied user event (older ones are ignored)
    version: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())


class PostProjection(Base):
    """core's posts for hashtag search. ``published`` is set by post.published:
    a post indexed by a running create_post saga is not visible yet."""

    __tablename__ = "posts"
    __table_args__ = (Index("ix_posts_published_created", "created_at", "id",
                            postgresql_where=text("published")),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    author_id: Mapped[int] = mapped_column(BigInteger, index=True)
    author_username: Mapped[str] = mapped_column(String(30))
    content: Mapped[str | None] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(String(2048))
    hashtags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    published: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    #: deleted in core (post.deleted): final, unlike a purge, which a restore undoes
    deleted: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    like_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    comment_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    #: ``seq`` of the last applied publication / purge / deletion
    version: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    #: ``seq`` of the event ``like_count`` (``comment_count``) comes from: each
    #: counter has its own watermark, so a newer like event never hides an
    #: older comment event's count, nor the publication
    likes_version: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    comments_version: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Hashtag(Base):
    __tablename__ = "hashtags"
    __table_args__ = (
        Index("ix_hashtags_name_prefix", "name", postgresql_ops={"name": "text_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class PostHashtag(Base):
    __tablename__ = "post_hashtags"
    __table_args__ = (Index("ix_post_hashtags_hashtag", "hashtag_id", "post_id"),)

    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"),
                                         primary_key=True)
    hashtag_id: Mapped[int] = mapped_column(ForeignKey("hashtags.id", ondelete="CASCADE"),
                                            primary_key=True)


class RevokedSession(Base):
    """core's login sessions that ended (logout, a reused refresh token, a password
    change): an access token naming one is refused. Kept until ``until``, when the
    session's last access token expires, then removed."""

    __tablename__ = "revoked_sessions"
    __table_args__ = (Index("ix_revoked_sessions_until", "until"),)

    session_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BlockEdge(Base):
    """core's blocks: ``blocker_id`` blocked ``blocked_id``. An unblock keeps the row
    with ``active = false`` at its ``seq``, so a late, older block event cannot revive it."""

    __tablename__ = "blocks"
    __table_args__ = (Index("ix_blocks_blocked", "blocked_id"),)

    blocker_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    blocked_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    active: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(BigInteger)


class FollowEdge(Base):
    """core's follow graph (for the story feed). An unfollow keeps the row with
    ``active = false`` so that a late, older follow event cannot revive it."""

    __tablename__ = "follows"
    __table_args__ = (Index("ix_follows_followee", "followee_id"),)

    follower_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    followee_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    active: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(BigInteger)


class MessageStatus(StrEnum):
    pending = "pending"
    sent = "sent"
    rejected = "rejected"


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_sender_receiver", "sender_id", "receiver_id", "created_at"),
        Index("ix_messages_receiver_sender", "receiver_id", "sender_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    sender_id: Mapped[int] = mapped_column(BigInteger)
    receiver_id: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[str] = mapped_column(Text)
    is_read: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    status: Mapped[str] = mapped_column(String(16), server_default=MessageStatus.pending.value)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())


class StoryStatus(StrEnum):
    pending = "pending"
    active = "active"
    rejected = "rejected"


class Story(Base):
    __tablename__ = "stories"
    __table_args__ = (Index("ix_stories_author_expires", "author_id", "expires_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    author_id: Mapped[int] = mapped_column(BigInteger)
    author_username: Mapped[str] = mapped_column(String(30))
    image_url: Mapped[str | None] = mapped_column(String(2048))
    content: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default=StoryStatus.pending.value)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class NotificationType(StrEnum):
    like = "like"
    comment = "comment"
    mention = "mention"
    follow = "follow"
    message = "message"
    follow_request = "follow_request"
    follow_accepted = "follow_accepted"


#: notification types whose ``reference_id`` is a post
POST_NOTIFICATION_TYPES = (NotificationType.like.value, NotificationType.comment.value,
                           NotificationType.mention.value)


class Notification(Base):
    """``dedupe_key`` names the fact a notification is about (``like:<post>:<actor>``),
    so a fact notifies once; ``seq`` and ``hidden`` let an unlike hide a like
    notification without a late like bringing it back. ``withdrawn`` marks the
    ones hidden only because their post is being deleted (purge_post): a
    restore of the post shows them again."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_created", "user_id", "created_at",
              postgresql_where=text("NOT hidden")),
        Index("ix_notifications_reference", "type", "reference_id"),
        Index("ix_notifications_actor", "actor_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    actor_id: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(16))
    reference_id: Mapped[int | None] = mapped_column(BigInteger)
    message: Mapped[str] = mapped_column(Text)
    is_read: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    hidden: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    withdrawn: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    seq: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
