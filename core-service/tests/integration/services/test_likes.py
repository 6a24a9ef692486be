"""services/likes: a like toggles with the post's exact counter; an account's likes
are removed with the counters of the posts of others corrected."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from core_service.domain.posts import PostStatus
from core_service.models import Block, Like, Post
from core_service.services import likes
from shared_lib.database import Database
from shared_lib.errors import Forbidden, NotFound, Unauthorized

if TYPE_CHECKING:
    from conftest import Seed


async def test_toggle_like_likes_and_takes_back_with_an_exact_count(
        database: Database, seed: Seed) -> None:
    alice, bob, carol = await seed.user("alice"), await seed.user("bob"), await seed.user("carol")
    post_id = await seed.post(alice)
    answers = []
    for user in (bob, carol, alice, bob):  # the author may like their own post
        token = await seed.token(user)
        async with database.transaction() as q:
            answers.append(await likes.toggle_like(q, token, post_id))
    assert answers == [(True, 1), (True, 2), (True, 3), (False, 2)]
    post = await seed.get(Post, post_id)
    assert (post.like_count, post.version) == (2, 5)
    assert sorted(await seed.all(select(Like.user_id))) == [(alice.id,), (carol.id,)]
    events = await seed.events()
    assert [(e.type, e.payload["user_id"], e.payload["like_count"], e.payload["seq"])
            for e in events] == [
        ("post.liked", bob.id, 1, 2), ("post.liked", carol.id, 2, 3),
        ("post.liked", alice.id, 3, 4), ("post.unliked", bob.id, 2, 5)]


async def test_toggle_like_of_a_post_that_is_not_published_is_not_found(
        database: Database, seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    token = await seed.token(bob)
    for status in (PostStatus.pending, PostStatus.rejected, PostStatus.deleting):
        post_id = await seed.post(alice, status=status)
        async with database.transaction() as q:
            with pytest.raises(NotFound):
                await likes.toggle_like(q, token, post_id)
    assert await seed.all(select(Like)) == []
    assert await seed.events() == []


async def test_toggle_like_is_refused_between_blocked_users_and_to_strangers_of_private(
        database: Database, seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    secret = await seed.user("secret", private=True)
    post_id, private_post = await seed.post(alice), await seed.post(secret)
    await seed.rows(Block, {"blocker_id": bob.id, "blocked_id": alice.id})
    bobs, alices = await seed.token(bob), await seed.token(alice)
    # a refusal leaves its transaction, which rolls back what the toggle wrote
    with pytest.raises(Forbidden):  # bob sees alice's post, but blocked her
        async with database.transaction() as q:
            await likes.toggle_like(q, bobs, post_id)
    with pytest.raises(NotFound):
        async with database.transaction() as q:
            await likes.toggle_like(q, alices, private_post)
    assert await seed.all(select(Like)) == []
    assert [p.like_count for p in (await seed.get(Post, post_id),
                                   await seed.get(Post, private_post))] == [0, 0]


async def test_remove_likes_of_corrects_the_counts_of_the_posts_of_others(
        database: Database, seed: Seed) -> None:
    alice, bob, carol = await seed.user("alice"), await seed.user("bob"), await seed.user("carol")
    bobs, carols, own = await seed.post(bob), await seed.post(carol), await seed.post(alice)
    for user, post_id in ((alice, carols), (alice, bobs), (alice, own), (bob, carols)):
        token = await seed.token(user)
        async with database.transaction() as q:
            await likes.toggle_like(q, token, post_id)
    async with database.transaction() as q:
        unliked = await likes.remove_likes_of(q, alice.id, "alice")
    assert [(e.post_id, e.post_author_id, e.user_id, e.username, e.like_count, e.seq)
            for e in unliked] == [
        (bobs, bob.id, alice.id, "alice", 0, 3), (carols, carol.id, alice.id, "alice", 1, 4)]
    assert await seed.all(select(Like.user_id, Like.post_id)) == [(bob.id, carols)]
    counts = {p: (await seed.get(Post, p)).like_count for p in (bobs, carols, own)}
    assert counts == {bobs: 0, carols: 1, own: 1}  # alice's own post goes with her
    # the events are returned to the saga step to publish, not written here
    assert (await seed.event_types()).count("post.unliked") == 0


async def test_toggle_like_with_a_token_no_longer_good_is_unauthorized_and_writes_nothing(
        database: Database, seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    post_id = await seed.post(alice)
    for token in await seed.tokens_no_longer_good(bob):  # revoked session, stale version
        async with database.transaction() as q:  # committed: nothing was written
            with pytest.raises(Unauthorized):
                await likes.toggle_like(q, token, post_id)
    assert await seed.all(select(Like)) == []
    post = await seed.get(Post, post_id)
    assert (post.like_count, post.version) == (0, 1)
    assert await seed.events() == []
    async with database.transaction() as q:  # a token of bob's that is good
        assert await likes.toggle_like(q, await seed.token(bob), post_id) == (True, 1)
