"""services/comments: comments with the post's exact counter, who may delete one,
a post's comments oldest first, and the removal of an account's comments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.domain.posts import PostStatus
from core_service.models import Block, Comment, Post, User
from core_service.services import comments
from shared_lib.database import Database
from shared_lib.errors import Forbidden, NotFound, Unauthorized

if TYPE_CHECKING:
    from conftest import Seed


async def _comment(database: Database, seed: Seed, user: User, post_id: int,
                   content: str) -> int:
    token = await seed.token(user)
    async with database.transaction() as q:
        return (await comments.add_comment(q, token, post_id, content)).id


async def test_add_comment_stores_it_and_counts_it(database: Database, seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    post_id = await seed.post(alice)
    bobs, alices = await seed.token(bob), await seed.token(alice)
    async with database.transaction() as q:
        first = await comments.add_comment(q, bobs, post_id, "first")
        second = await comments.add_comment(q, alices, post_id, "second")
    stored = await seed.all(select(Comment.id, Comment.author_id, Comment.content)
                            .order_by(Comment.id))
    assert stored == [(first.id, bob.id, "first"), (second.id, alice.id, "second")]
    post = await seed.get(Post, post_id)
    assert (post.comment_count, post.version) == (2, 3)
    added = [e.payload for e in await seed.events() if e.type == "comment.added"]
    assert [(p["comment_id"], p["author_username"], p["comment_count"], p["seq"])
            for p in added] == [(first.id, "bob", 1, 2), (second.id, "alice", 2, 3)]


async def test_add_comment_is_refused_on_unpublished_posts_and_between_blocked_users(
        database: Database, seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    pending = await seed.post(alice, status=PostStatus.pending)
    published = await seed.post(alice)
    await seed.rows(Block, {"blocker_id": bob.id, "blocked_id": alice.id})
    alices, bobs = await seed.token(alice), await seed.token(bob)
    with pytest.raises(NotFound):
        async with database.transaction() as q:
            await comments.add_comment(q, alices, pending, "not yet")  # not even its author
    with pytest.raises(Forbidden):
        async with database.transaction() as q:
            await comments.add_comment(q, bobs, published, "blocked")
    assert await seed.all(select(Comment)) == []
    assert (await seed.get(Post, published)).comment_count == 0
    assert await seed.events() == []


async def test_add_comment_with_a_token_no_longer_good_is_unauthorized_and_writes_nothing(
        database: Database, seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    post_id = await seed.post(alice)
    for token in await seed.tokens_no_longer_good(bob):  # revoked session, stale version
        async with database.transaction() as q:  # committed: nothing was written
            with pytest.raises(Unauthorized):
                await comments.add_comment(q, token, post_id, "let me in")
    assert await seed.all(select(Comment)) == []
    post = await seed.get(Post, post_id)
    assert (post.comment_count, post.version) == (0, 1)
    assert await seed.events() == []
    async with database.transaction() as q:  # a token of bob's that is good
        added = await comments.add_comment(q, await seed.token(bob), post_id, "hi")
    assert (added.author_id, added.author_username, added.content) == (bob.id, "bob", "hi")


async def test_delete_comment_by_its_author_or_the_posts_author_only(
        sessions: async_sessionmaker[AsyncSession], database: Database, seed: Seed) -> None:
    alice, bob, carol = await seed.user("alice"), await seed.user("bob"), await seed.user("carol")
    post_id = await seed.post(alice)
    by_bob = await _comment(database, seed, bob, post_id, "bob's")
    by_carol = await _comment(database, seed, carol, post_id, "carol's")
    async with sessions() as s:
        with pytest.raises(Forbidden):
            await comments.delete_comment(s, carol, by_bob)
    async with sessions() as s:
        with pytest.raises(NotFound):
            await comments.delete_comment(s, alice, by_bob + 1000)
    async with sessions() as s, s.begin():
        await comments.delete_comment(s, alice, by_bob)  # the post's author
    assert await seed.all(select(Comment.id)) == [(by_carol,)]
    async with sessions() as s, s.begin():
        await comments.delete_comment(s, carol, by_carol)  # its author
    assert await seed.all(select(Comment.id)) == []
    post = await seed.get(Post, post_id)
    assert (post.comment_count, post.version) == (0, 5)
    deleted = [e.payload for e in await seed.events() if e.type == "comment.deleted"]
    assert [(p["comment_id"], p["author_id"], p["comment_count"]) for p in deleted] == [
        (by_bob, bob.id, 1), (by_carol, carol.id, 0)]


async def test_of_post_lists_the_comments_oldest_first_with_their_authors(
        sessions: async_sessionmaker[AsyncSession], database: Database, seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    post_id = await seed.post(alice)
    pending = await seed.post(alice, status=PostStatus.pending)
    ids = [await _comment(database, seed, user, post_id, text)
           for user, text in ((bob, "b1"), (alice, "a1"), (bob, "b2"))]
    now = datetime.now(UTC)
    async with sessions() as s, s.begin():  # created in another order than the ids
        for comment_id, hours in zip(ids, (1, 3, 2), strict=True):
            await s.execute(update(Comment).where(Comment.id == comment_id)
                            .values(created_at=now - timedelta(hours=hours)))
    async with sessions() as s:
        page = await comments.of_post(s, bob.id, post_id, 10, 0)
        assert [(c.comment.content, c.author_username) for c in page] == [
            ("a1", "alice"), ("b2", "bob"), ("b1", "bob")]
        assert [c.comment.content for c in await comments.of_post(s, bob.id, post_id, 1, 1)
                ] == ["b2"]
        assert await comments.of_post(s, alice.id, pending, 10, 0) == []
        with pytest.raises(NotFound):  # a post bob may not see
            await comments.of_post(s, bob.id, pending, 10, 0)


async def test_remove_comments_of_deletes_them_from_the_posts_of_others_only(
        database: Database, seed: Seed) -> None:
    alice, bob, carol = await seed.user("alice"), await seed.user("bob"), await seed.user("carol")
    bobs, carols, own = await seed.post(bob), await seed.post(carol), await seed.post(alice)
    on_bobs = [await _comment(database, seed, alice, bobs, f"a{i}") for i in range(2)]
    on_carols = await _comment(database, seed, alice, carols, "a")
    kept = [await _comment(database, seed, alice, own, "mine"),
            await _comment(database, seed, bob, bobs, "bob's own")]
    async with database.transaction() as q:
        removed = await comments.remove_comments_of(q, alice.id)
    assert [(e.comment_id, e.post_id, e.post_author_id, e.author_id, e.comment_count, e.seq)
            for e in removed] == [
        (on_bobs[0], bobs, bob.id, alice.id, 1, 5), (on_bobs[1], bobs, bob.id, alice.id, 1, 5),
        (on_carols, carols, carol.id, alice.id, 0, 3)]
    assert sorted(await seed.all(select(Comment.id))) == [(k,) for k in sorted(kept)]
    counts = {p: (await seed.get(Post, p)).comment_count for p in (bobs, carols, own)}
    assert counts == {bobs: 1, carols: 0, own: 1}
    # returned for the saga step to publish, not written here
    assert (await seed.event_types()).count("comment.deleted") == 0
