"""Each change of core writes its event to the outbox in the same transaction:
committed together, or rolled back together."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.models import Like, Post, User
from core_service.services import follows, posts
from core_service.services.users import update_profile
from shared_lib.contracts import Envelope
from shared_lib.db import make_engine
from shared_lib.tables import outbox
from shared_lib.testing.processes import run_migrations


@pytest.fixture
async def sessions(new_database) -> AsyncIterator[async_sessionmaker[AsyncSession]]:  # type: ignore[no-untyped-def]
    url = new_database()
    run_migrations("core_service", url)
    engine = make_engine(url, pool_size=2)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


async def _user(s: AsyncSession, name: str) -> User:
    user = User(username=name, email=f"{name}@example.com", hashed_password="x")
    s.add(user)
    await s.flush()
    return user


async def _setup(sessions: async_sessionmaker[AsyncSession]) -> tuple[User, User, int]:
    async with sessions() as s, s.begin():
        a, b = await _user(s, "alice"), await _user(s, "bob")
        post = Post(author_id=a.id, content="hi", status="published")
        s.add(post)
        await s.flush()
        return a, b, post.id


async def _events(sessions: async_sessionmaker[AsyncSession]) -> list[Envelope]:
    async with sessions() as s:
        bodies = (await s.execute(select(outbox.c.body).order_by(outbox.c.id))).scalars()
        return [Envelope.model_validate_json(b) for b in bodies]


async def test_each_change_writes_its_event(sessions: async_sessionmaker[AsyncSession]) -> None:
    a, b, post_id = await _setup(sessions)
    async with sessions() as s, s.begin():
        await posts.toggle_like(s, b, post_id)
        await posts.toggle_like(s, b, post_id)
        comment = await posts.add_comment(s, b, post_id, "nice @alice")
        await posts.delete_comment(s, a, comment.id)
        await follows.follow(s, b, a.id)
        await follows.unfollow(s, b, a.id)
        await update_profile(s, a, {"bio": "new bio"})
    events = await _events(sessions)
    assert [e.type for e in events] == [
        "post.liked", "post.unliked", "comment.added", "comment.deleted", "user.followed",
        "user.unfollowed", "user.updated"]
    liked, unliked, added, removed, followed, unfollowed, updated = (e.payload for e in events)
    assert liked["like_count"] == 1 and unliked["like_count"] == 0
    assert liked["post_author_id"] == a.id and liked["username"] == "bob"
    assert added["content"] == "nice @alice" and added["comment_count"] == 1
    assert removed["comment_count"] == 0
    # the ordering key grows with each change of the post, and of the follow pair
    assert liked["seq"] < unliked["seq"] < added["seq"] < removed["seq"]
    assert followed["seq"] < unfollowed["seq"]
    assert followed["follower_username"] == "bob" and followed["followee_id"] == a.id
    assert updated["bio"] == "new bio" and updated["seq"] == 2
    assert all(e.source == "core" and e.version == 1 for e in events)


async def test_a_rolled_back_change_leaves_no_event(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    a, b, post_id = await _setup(sessions)
    with pytest.raises(DBAPIError):
        async with sessions() as s, s.begin():
            await posts.toggle_like(s, b, post_id)
            await follows.follow(s, b, a.id)
            await s.execute(text("SELECT 1 / 0"))  # the transaction fails after the writes
    assert await _events(sessions) == []
    async with sessions() as s:
        assert (await s.execute(select(Like))).first() is None
        assert (await s.get(Post, post_id)).like_count == 0  # type: ignore[union-attr]
        assert (await s.get(User, a.id)).follower_count == 0  # type: ignore[union-attr]
