"""Each change of core writes its event to the outbox in the same transaction:
committed together, or rolled back together."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.models import Follow, Like, Post, User
from core_service.sagas.delete_account import DELETE_ACCOUNT, DeleteAccountData, delete_user_data
from core_service.services import comments, follows, likes
from core_service.services.users import AccessToken, update_profile
from instasaga.services import CORE
from shared_lib.contracts import Envelope
from shared_lib.database import Database, Statement
from shared_lib.errors import Forbidden
from shared_lib.saga import SagaContext
from shared_lib.tables import outbox


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


Login = Callable[[User], Awaitable[AccessToken]]


async def test_each_change_writes_its_event(sessions: async_sessionmaker[AsyncSession],
                                            database: Database, login: Login) -> None:
    a, b, post_id = await _setup(sessions)
    token = await login(b)
    # the direct data path's changes and the session's, one after the other
    async with database.transaction() as q:
        await likes.toggle_like(q, token, post_id)
        await likes.toggle_like(q, token, post_id)
        comment = await comments.add_comment(q, token, post_id, "nice @alice")
    async with sessions() as s, s.begin():
        await comments.delete_comment(s, a, comment.id)
    async with database.transaction() as q:
        await follows.follow(q, token, a.id)
    async with sessions() as s, s.begin():
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
        sessions: async_sessionmaker[AsyncSession], database: Database, login: Login) -> None:
    a, b, post_id = await _setup(sessions)
    token = await login(b)
    with pytest.raises(asyncpg.DivisionByZeroError):
        async with database.transaction() as q:
            await likes.toggle_like(q, token, post_id)
            await follows.follow(q, token, a.id)
            # the transaction fails after the writes
            await q.execute(Statement("fail", "SELECT 1 / 0"))
    assert await _events(sessions) == []
    async with sessions() as s:
        assert (await s.execute(select(Like))).first() is None
        assert (await s.get(Post, post_id)).like_count == 0  # type: ignore[union-attr]
        assert (await s.get(User, a.id)).follower_count == 0  # type: ignore[union-attr]


async def test_deleting_an_account_announces_each_removed_follow(
        sessions: async_sessionmaker[AsyncSession], database: Database, login: Login) -> None:
    """delete_user_data removes the user's follows both ways with a user.unfollowed
    each, newer than the pair's follow, so social's graph converges by events."""
    a, b, _ = await _setup(sessions)
    async with sessions() as s, s.begin():
        c = await _user(s, "carol")
    tokens = {u.id: await login(u) for u in (a, b, c)}
    async with database.transaction() as q:
        for follower, followee in ((a, b), (b, a), (c, a), (b, c)):
            await follows.follow(q, tokens[follower.id], followee.id)
    async with database.transaction() as q:  # the saga's first step, then its last one
        await q.execute(Statement("deactivate", "UPDATE users SET is_active = false "
                                                "WHERE id = $1"), a.id)
        await delete_user_data(SagaContext(
            tx=q, saga_id=uuid.uuid4(), saga_type=DELETE_ACCOUNT,
            data=DeleteAccountData(user_id=a.id, username="alice"), service=CORE))

    events = await _events(sessions)
    followed = {(e.payload["follower_id"], e.payload["followee_id"]): e.payload["seq"]
                for e in events if e.type == "user.followed"}
    unfollowed = {(e.payload["follower_id"], e.payload["followee_id"]): e.payload
                  for e in events if e.type == "user.unfollowed"}
    assert set(unfollowed) == {(a.id, b.id), (b.id, a.id), (c.id, a.id)}
    for pair, payload in unfollowed.items():
        assert payload["seq"] > followed[pair]
        assert payload["follower_username"] == {a.id: "alice", b.id: "bob",
                                                c.id: "carol"}[pair[0]]
    assert events[-1].type == "user.deleted"
    async with sessions() as s:
        assert (await s.execute(select(Follow.follower_id, Follow.followee_id))).all() == \
            [(b.id, c.id)]
        counts = {u.id: (u.follower_count, u.following_count)
                  for u in (await s.execute(select(User))).scalars()}
        assert counts == {b.id: (0, 1), c.id: (1, 0)}


async def _lock_waits(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as s:
        return await s.scalar(text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'")) or 0


@pytest.mark.parametrize("action", [follows.follow, follows.unfollow],
                         ids=["follow", "unfollow"])
async def test_a_follower_deactivated_meanwhile_is_refused_under_the_lock(
        sessions: async_sessionmaker[AsyncSession], database: Database, login: Login,
        action) -> None:  # type: ignore[no-untyped-def]
    """The request authenticated alice while she was active; delete_account
    deactivates her before the follow takes the users' locks: refused (403),
    no edge and no event that the saga's unfollows would miss."""
    a, b, _ = await _setup(sessions)
    alices = await login(a)
    async with database.transaction() as q:
        await follows.follow(q, await login(b), a.id)
        if action is follows.unfollow:
            await follows.follow(q, alices, b.id)

    async def attempt() -> None:
        if action is follows.follow:
            async with database.transaction() as q:
                await follows.follow(q, alices, b.id)
        else:
            async with sessions() as s, s.begin():
                await follows.unfollow(s, a, b.id)

    async with sessions() as s, s.begin():  # deactivate, committed while the follow waits
        await s.execute(update(User).where(User.id == a.id).values(is_active=False))
        task = asyncio.create_task(attempt())
        for _ in range(500):
            if task.done() or await _lock_waits(sessions):
                break
            await asyncio.sleep(0.01)
    with pytest.raises(Forbidden):
        await task
    async with sessions() as s:
        edges = (await s.execute(select(Follow.follower_id, Follow.followee_id))).all()
    assert sorted(edges) == sorted([(b.id, a.id)] + (
        [(a.id, b.id)] if action is follows.unfollow else []))
    assert [e.type for e in await _events(sessions)].count("user.unfollowed") == 0
