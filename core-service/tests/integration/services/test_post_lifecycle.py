"""services/post_lifecycle: each transition of a post is one guarded statement that
applies from its source status only, and keeps the author's post count exact."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.domain.posts import PostStatus
from core_service.models import Comment, Like, Post, User
from core_service.services import post_lifecycle
from shared_lib.database import Database
from shared_lib.errors import Conflict, Forbidden, NotFound

if TYPE_CHECKING:
    from conftest import Seed


async def test_a_pending_post_is_locked_published_once_and_counted_then(
        database: Database, seed: Seed) -> None:
    alice = await seed.user("alice")
    async with database.transaction() as q:
        post_id, created_at = await post_lifecycle.insert_pending(
            q, alice.id, "hello #sun", None, ["sun"])
    post = await seed.get(Post, post_id)
    assert (post.status, post.content, post.hashtags, post.created_at) == (
        "pending", "hello #sun", ["sun"], created_at)
    assert post.published_at is None
    assert (await seed.get(User, alice.id)).post_count == 0  # not counted while pending

    async with database.transaction() as q:
        found = await post_lifecycle.publish_pending(q, post_id)
    assert found == post_lifecycle.Publication(
        post_lifecycle.PendingPost(PostStatus.pending, True, "alice"),
        post_lifecycle.PublishedPost(2, created_at, 0, 0))
    post = await seed.get(Post, post_id)
    assert (post.status, post.version, post.published_at) == ("published", 2, created_at)
    assert (await seed.get(User, alice.id)).post_count == 1

    async with database.transaction() as q:  # a second publish finds no pending post
        again = await post_lifecycle.publish_pending(q, post_id)
        assert again is not None and again.pending.status == PostStatus.published
        assert again.published is None
        assert await post_lifecycle.publish_pending(q, post_id + 1000) is None
    assert (await seed.get(Post, post_id)).version == 2  # and it changed nothing
    assert (await seed.get(User, alice.id)).post_count == 1

    bob = await seed.user("bob", active=False)  # deactivated while the saga ran
    bobs = await seed.post(bob, status=PostStatus.pending)
    async with database.transaction() as q:
        assert await post_lifecycle.publish_pending(q, bobs) == post_lifecycle.Publication(
            post_lifecycle.PendingPost(PostStatus.pending, False, "bob"), None)
    bobs_post = await seed.get(Post, bobs)
    assert (bobs_post.status, bobs_post.published_at) == ("pending", None)  # unwritten
    assert (await seed.get(User, bob.id)).post_count == 0


async def test_reject_pending_rejects_only_a_pending_post(
        database: Database, seed: Seed) -> None:
    alice = await seed.user("alice")
    pending = await seed.post(alice, status=PostStatus.pending)
    published = await seed.post(alice, status=PostStatus.published)
    async with database.transaction() as q:
        await post_lifecycle.reject_pending(q, pending, "banned hashtag")
        await post_lifecycle.reject_pending(q, published, "too late")
    rejected = await seed.get(Post, pending)
    assert (rejected.status, rejected.rejection_reason, rejected.version) == (
        "rejected", "banned hashtag", 2)
    kept = await seed.get(Post, published)
    assert (kept.status, kept.rejection_reason, kept.version) == ("published", None, 1)


async def test_mark_deleting_hides_only_a_published_post(
        database: Database, seed: Seed) -> None:
    alice = await seed.user("alice")
    pending = await seed.post(alice, status=PostStatus.pending)
    published = await seed.post(alice, status=PostStatus.published)
    async with database.transaction() as q:
        assert await post_lifecycle.mark_deleting(q, pending) is None
        assert await post_lifecycle.mark_deleting(q, published) == 2
        assert await post_lifecycle.mark_deleting(q, published) is None  # deleting already
        assert await post_lifecycle.mark_deleting(q, published + 1000) is None
    untouched = await seed.get(Post, pending)
    assert (untouched.status, untouched.version) == ("pending", 1)
    hidden = await seed.get(Post, published)
    assert (hidden.status, hidden.version) == ("deleting", 2)


async def test_restore_and_delete_apply_only_to_a_deleting_post(
        database: Database, seed: Seed) -> None:
    alice = await seed.user("alice", post_count=2)
    bob = await seed.user("bob")
    restored_id = await seed.post(alice, status=PostStatus.deleting, version=5)
    deleted_id = await seed.post(alice, status=PostStatus.deleting, version=7)
    published_id = await seed.post(alice, status=PostStatus.published)
    await seed.rows(Like, {"post_id": deleted_id, "user_id": bob.id})
    await seed.rows(Comment, {"post_id": deleted_id, "author_id": bob.id, "content": "c"})

    async with database.transaction() as q:
        assert await post_lifecycle.restore_deleting(q, published_id) is None
        assert await post_lifecycle.delete_deleting(q, published_id) is None
        restored = await post_lifecycle.restore_deleting(q, restored_id)
        assert restored is not None and restored.author_username == "alice"
        assert (restored.id, restored.author_id, restored.version) == (
            restored_id, alice.id, 6)
        assert (restored.content, restored.hashtags, restored.like_count,
                restored.comment_count) == ("hi", [], 0, 0)  # what post.published carries
        assert restored.created_at == (await seed.get(Post, restored_id)).created_at
        assert await post_lifecycle.delete_deleting(q, deleted_id) == \
            post_lifecycle.DeletedPost(alice.id, 7)
        assert await post_lifecycle.delete_deleting(q, deleted_id) is None  # gone already

    assert (await seed.get(Post, restored_id)).status == "published"
    assert (await seed.get(Post, published_id)).status == "published"
    assert await seed.get(Post, deleted_id) is None
    assert await seed.all(select(Like)) == [] and await seed.all(select(Comment)) == []
    assert (await seed.get(User, alice.id)).post_count == 1


async def test_delete_if_rejected_by_the_posts_status_and_author(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    posts = {status: await seed.post(alice, status=status) for status in PostStatus}

    async with sessions() as s, s.begin():
        assert await post_lifecycle.delete_if_rejected(s, alice.id, posts[PostStatus.rejected])
        assert not await post_lifecycle.delete_if_rejected(
            s, alice.id, posts[PostStatus.published])
    for status in (PostStatus.pending, PostStatus.deleting):
        async with sessions() as s:
            with pytest.raises(Conflict):
                await post_lifecycle.delete_if_rejected(s, alice.id, posts[status])
    async with sessions() as s:
        with pytest.raises(Forbidden):  # someone else's published post
            await post_lifecycle.delete_if_rejected(s, bob.id, posts[PostStatus.published])
        with pytest.raises(NotFound):  # someone else's post bob cannot even see
            await post_lifecycle.delete_if_rejected(s, bob.id, posts[PostStatus.pending])

    left = dict(await seed.all(select(Post.id, Post.status)))
    assert left == {posts[st]: st.value for st in PostStatus if st != PostStatus.rejected}
    # a rejected post was never counted: its deletion leaves the count alone
    assert (await seed.get(User, alice.id)).post_count == 0


async def test_delete_all_of_deletes_every_post_of_that_author_only(
        database: Database, seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    mine = [await seed.post(alice, status=status, version=v)
            for v, status in enumerate(PostStatus, start=1)]
    theirs = await seed.post(bob)
    async with database.transaction() as q:
        gone = await post_lifecycle.delete_all_of(q, alice.id)
    assert sorted(gone) == [(post_id, v) for v, post_id in enumerate(mine, start=1)]
    assert await seed.all(select(Post.id)) == [(theirs,)]
