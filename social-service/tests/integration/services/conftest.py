"""Fixtures of social-service's service modules' tests: a migrated social database of
each test's own (a copy of a template migrated once), reached both by ORM sessions
and by the asyncpg ``Database`` of the direct data path, and a seeder of the rows a
test starts from (written directly, so that only the function under test changes
them)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared_lib.database import Database
from social_service.models import (
    BlockEdge,
    FollowEdge,
    Hashtag,
    Message,
    MessageStatus,
    Notification,
    NotificationType,
    PostHashtag,
    PostProjection,
    RevokedSession,
    Story,
    StoryStatus,
    UserProjection,
)
from testkit.databases import MigratedDatabase, RowSeed, copy_of, migrated_template
from testkit.infra import Infra


@pytest.fixture(scope="session")
def social_template(infra: Infra) -> Iterator[str]:
    """A database migrated to social's schema once: each test's database is a copy."""
    with migrated_template(infra, "social_service") as name:
        yield name


@pytest.fixture
async def social_db(infra: Infra, social_template: str) -> AsyncIterator[MigratedDatabase]:
    """A new migrated social database for the test, dropped after it."""
    async with copy_of(infra, social_template) as db:
        yield db


@pytest.fixture
def sessions(social_db: MigratedDatabase) -> async_sessionmaker[AsyncSession]:
    """Sessions on this test's migrated social database (the one ``database`` reads)."""
    return social_db.sessions


@pytest.fixture
def database(social_db: MigratedDatabase) -> Database:
    """The direct data path's pool on this test's database."""
    return social_db.database


class Seed(RowSeed):
    """Rows written directly, each call in a transaction of its own. Users and posts
    are projections of core's: their ids are given here, counting up from 1 (users)
    and 100 (posts), as core's would be."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        super().__init__(sessions)
        self._user_ids = itertools.count(1)
        self._post_ids = itertools.count(100)

    async def user(self, name: str, *, private: bool = False, active: bool = True,
                   deleted: bool = False, version: int = 1, **values: Any) -> UserProjection:
        values.setdefault("id", next(self._user_ids))
        async with self.sessions() as s, s.begin():
            return (await s.execute(
                insert(UserProjection).values(username=name, is_private=private,
                                              is_active=active and not deleted,
                                              deleted=deleted, version=version, **values)
                .returning(UserProjection))).scalar_one()

    async def post(self, author: UserProjection, *, tags: Sequence[str] = (),
                   published: bool = True, version: int | None = None,
                   created_at: datetime | None = None, content: str | None = "hi",
                   **values: Any) -> int:
        """A projected post (published at ``version`` 1 unless told otherwise), linked
        to its hashtags (created when not seen yet)."""
        post_id = values.pop("id", None) or next(self._post_ids)
        async with self.sessions() as s, s.begin():
            await s.execute(insert(PostProjection).values(
                id=post_id, author_id=author.id, author_username=author.username,
                content=content, hashtags=list(tags), published=published,
                version=(1 if published else 0) if version is None else version,
                created_at=created_at or datetime.now(UTC), **values))
            if tags:
                await s.execute(pg_insert(Hashtag).values([{"name": t} for t in tags])
                                .on_conflict_do_nothing(index_elements=[Hashtag.name]))
                ids = (await s.execute(select(Hashtag.id).where(Hashtag.name.in_(tags))
                                       )).scalars()
                await s.execute(insert(PostHashtag).values(
                    [{"post_id": post_id, "hashtag_id": h} for h in ids]))
        return post_id

    async def follow(self, follower: UserProjection, followee: UserProjection, *,
                     active: bool = True, version: int = 1) -> None:
        await self.rows(FollowEdge, {"follower_id": follower.id, "followee_id": followee.id,
                                     "active": active, "version": version})

    async def block(self, blocker: UserProjection, blocked: UserProjection, *,
                    active: bool = True, version: int = 1) -> None:
        await self.rows(BlockEdge, {"blocker_id": blocker.id, "blocked_id": blocked.id,
                                    "active": active, "version": version})

    async def revoked_session(self, user: UserProjection) -> uuid.UUID:
        """A login session of the user that core revoked (refused for another hour)."""
        sid = uuid.uuid4()
        await self.rows(RevokedSession, {"session_id": sid, "user_id": user.id,
                                         "until": datetime.now(UTC) + timedelta(hours=1)})
        return sid

    async def message(self, sender: UserProjection, receiver: UserProjection,
                      content: str = "hello", *,
                      status: MessageStatus = MessageStatus.sent, is_read: bool = False,
                      created_at: datetime | None = None) -> int:
        return await self._returning_id(Message, {
            "sender_id": sender.id, "receiver_id": receiver.id, "content": content,
            "status": status.value, "is_read": is_read,
            "created_at": created_at or datetime.now(UTC)})

    async def story(self, author: UserProjection, *,
                    status: StoryStatus = StoryStatus.active,
                    created_at: datetime | None = None, expires_at: datetime | None = None,
                    content: str | None = "story") -> int:
        """A story (active, made now and expiring in a day unless told otherwise)."""
        created = created_at or datetime.now(UTC)
        return await self._returning_id(Story, {
            "author_id": author.id, "author_username": author.username, "content": content,
            "status": status.value, "created_at": created,
            "expires_at": expires_at or created + timedelta(days=1)})

    async def notification(self, user: UserProjection | int, actor: UserProjection | int,
                           type_: NotificationType = NotificationType.like,
                           reference_id: int | None = None, *, dedupe_key: str | None = None,
                           hidden: bool = False, withdrawn: bool = False,
                           is_read: bool = False, seq: int = 0,
                           created_at: datetime | None = None) -> int:
        user_id = user if isinstance(user, int) else user.id
        actor_id = actor if isinstance(actor, int) else actor.id
        return await self._returning_id(Notification, {
            "user_id": user_id, "actor_id": actor_id, "type": type_.value,
            "reference_id": reference_id, "message": f"{type_.value} by {actor_id}",
            "dedupe_key": dedupe_key or f"{type_.value}:{uuid.uuid4().hex}",
            "hidden": hidden or withdrawn, "withdrawn": withdrawn, "is_read": is_read,
            "seq": seq, "created_at": created_at or datetime.now(UTC)})

    async def _returning_id(self, model: type[Any], values: dict[str, Any]) -> int:
        async with self.sessions() as s, s.begin():
            row_id = await s.scalar(insert(model).values(**values).returning(model.id))
        assert row_id is not None
        return int(row_id)



@pytest.fixture
def seed(sessions: async_sessionmaker[AsyncSession]) -> Seed:
    return Seed(sessions)
