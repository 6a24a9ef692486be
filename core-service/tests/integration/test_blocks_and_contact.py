"""A block and a like or comment between the same two users never both decide at once:
whichever locks the pair first goes first, and the other sees it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.domain.posts import PostStatus
from core_service.models import Like, Post, User
from core_service.services import blocks, likes
from core_service.services.users import AccessToken
from shared_lib.database import Database
from shared_lib.errors import NotFound


async def _two_users_and_a_post(sessions: async_sessionmaker[AsyncSession]
                                ) -> tuple[User, User, int]:
    async with sessions() as s, s.begin():
        for name in ("author", "fan"):
            await s.execute(insert(User).values(username=name, email=f"{name}@example.com",
                                                hashed_password="x"))
    async with sessions() as s, s.begin():
        author, fan = (await s.scalars(select(User).order_by(User.id))).all()
        post_id = await s.scalar(insert(Post).values(
            author_id=author.id, content="hi", status=PostStatus.published,
            hashtags=[]).returning(Post.id))
    return author, fan, int(post_id)  # type: ignore[arg-type]


async def test_a_block_waits_for_a_like_that_decided_first(
        sessions: async_sessionmaker[AsyncSession], database: Database,
        login: Callable[[User], Awaitable[AccessToken]]) -> None:
    author, fan, post_id = await _two_users_and_a_post(sessions)
    token = await login(fan)
    async with database.transaction() as liking:  # committed when the block ends
        liked, _ = await likes.toggle_like(liking, token, post_id)  # not committed yet
        assert liked

        async def block() -> None:
            async with sessions() as s:
                await blocks.block(s, author, fan.id)
                await s.commit()

        blocking = asyncio.create_task(block())
        await asyncio.sleep(0.5)
        assert not blocking.done(), "the block decided while the like was undecided"
    await asyncio.wait_for(blocking, 10)
    async with sessions() as s:
        assert await s.scalar(select(Like.user_id).where(Like.post_id == post_id)) == fan.id


async def test_a_like_waits_for_a_block_that_decided_first_and_is_refused(
        sessions: async_sessionmaker[AsyncSession], database: Database,
        login: Callable[[User], Awaitable[AccessToken]]) -> None:
    author, fan, post_id = await _two_users_and_a_post(sessions)
    token = await login(fan)
    async with sessions() as blocking:
        await blocks.block(blocking, author, fan.id)  # not committed yet

        async def like() -> None:
            async with database.transaction() as q:
                await likes.toggle_like(q, token, post_id)

        liking = asyncio.create_task(like())
        await asyncio.sleep(0.5)
        assert not liking.done()
        await blocking.commit()
    # the author blocked the fan: the post is not there for them any more
    with pytest.raises(NotFound):
        await asyncio.wait_for(liking, 10)
    async with sessions() as s:
        assert await s.scalar(select(Like.user_id).where(Like.post_id == post_id)) is None
