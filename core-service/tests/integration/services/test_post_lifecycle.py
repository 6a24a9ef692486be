"""services/post_lifecycle: each transition of a post is one guarded statement that
applies from its source status only, and keeps the author's post count exact."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select
from sqlalchemy.exc import NoResultFound
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.domain.posts import PostStatus
from core_service.models import Comment, Like, Post, User
from core_service.services import post_lifecycle
from shared_lib.errors import Conflict, Forbidden, NotFound

if TYPE_CHECKING:
    from conftest import Seed


async def test_a_pending_post_is_locked_published_once_and_counted_then(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice = await seed.user("alice")
    async with sessions() as s, s.begin():
        post_id, created_at = await post_lifecycle.insert_pending(
            s, alice.id, "hello #sun", None, ["sun"])
    post = await seed.get(Post, post_id)
    assert (post.status, post.content, post.hashtags, post.created_at) == (
        "pending", "hello #sun", ["sun"], created_at)
    assert post.published_at is None
    assert (await seed.get(User, alice.id)).post_count == 0  # not counted while pending

    async with sessions() as s, s.begin():
        pending = await post_lifecycle.lock_pending(s, post_id)
        assert pending == post_lifecycle.PendingPost(PostStatus.pending, True, "alice")
        published = await post_lifecycle.publish_locked(s, post_id)
    assert published == post_lifecycle.PublishedPost(2, created_at, 0, 0)
    post = await seed.get(Post, post_id)
    assert (post.status, post.version, post.published_at) == ("published", 2, created_at)
    assert (await seed.get(User, alice.id)).post_count == 1

    async with sessions() as s, s.begin():  # a second publish finds no pending post
        assert (await post_lifecycle.lock_pending(s, post_id)).status == PostStatus.published
        assert await post_lifecycle.lock_pending(s, post_id + 1000) is None
    async with sessions() as s, s.begin():
        with pytest.raises(NoResultFound):  # and publishing it anyway changes nothing
            await post_lifecycle.publish_locked(s, post_id)
    assert (await seed.get(Post, post_id)).version == 2
    assert (await seed.get(User, alice.id)).post_count == 1

    bob = await seed.user("bob", active=False)  # deactivated while the saga ran
    bobs = await seed.post(bob, status=PostStatus.pending)
    async with sessions() as s, s.begin():
        assert await post_lifecycle.lock_pending(s, bobs) == post_lifecycle.PendingPost(
            PostStatus.pending, False, "bob")


async def test_reject_pending_rejects_only_a_pending_post(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice = await seed.user("alice")
    pending = await seed.post(alice, status=PostStatus.pending)
    published = await seed.post(alice, status=PostStatus.published)
    async with sessions() as s, s.begin():
        await post_lifecycle.reject_pending(s, pending, "banned hashtag")
        await post_lifecycle.reject_pending(s, published, "too late")
    rejected = await seed.get(Post, pending)
    assert (rejected.status, rejected.rejection_reason, rejected.version) == (
        "rejected", "banned hashtag", 2)
    kept = await seed.get(Post, published)
    assert (kept.status, kept.rejection_reason, kept.version) == ("published", None, 1)


async def test_mark_deleting_hides_only_a_published_post(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice = await seed.user("alice")
    pending = await seed.post(alice, status=PostStatus.pending)
    published = await seed.post(alice, status=PostStatus.published)
    async with sessions() as s, s.begin():
        assert await post_lifecycle.mark_deleting(s, pending) is None
        assert await post_lifecycle.mark_deleting(s, published) == 2
        assert await post_lifecycle.mark_deleting(s, published) is None  # deleting already
        assert await post_lifecycle.mark_deleting(s, published + 1000) is None
    untouched = await seed.get(Post, pending)
    assert (untouched.status, untouched.version) == ("pending", 1)
    hidden = await seed.get(Post, published)
    assert (hidden.status, hidden.version) == ("deleting", 2)


async def test_restore_and_delete_apply_only_to_a_deleting_post(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice = await seed.user("alice", post_count=2)
    bob = await seed.user("bob")
    restored_id = await seed.post(alice, status=PostStatus.deleting, version=5)
    deleted_id = await seed.post(alice, status=PostStatus.deleting, version=7)
    published_id = await seed.post(alice, status=PostStatus.published)
    await seed.rows(Like, {"post_id": deleted_id, "user_id": bob.id})
    await seed.rows(Comment, {"post_id": deleted_id, "author_id": bob.id, "content": "c"})

    async with sessions() as s, s.begin():
        assert await post_lifecycle.restore_deleting(s, published_id) is None
        assert await post_lifecycle.delete_deleting(s, published_id) is None
        restored = await post_lifecycle.restore_deleting(s, restored_id)
        assert restored is not None and restored.author_username == "alice"
        assert (restored.post.id, restored.post.status, restored.post.version) == (
            restored_id, "published", 6)
        assert await post_lifecycle.delete_deleting(s, deleted_id) == \
            post_lifecycle.DeletedPost(alice.id, 7)
        assert await post_lifecycle.delete_deleting(s, deleted_id) is None  # gone already

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
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    mine = [await seed.post(alice, status=status, version=v)
            for v, status in enumerate(PostStatus, start=1)]
    theirs = await seed.post(bob)
    async with sessions() as s, s.begin():
        gone = await post_lifecycle.delete_all_of(s, alice.id)
    assert sorted(gone) == [(post_id, v) for v, post_id in enumerate(mine, start=1)]
    assert await seed.all(select(Post.id)) == [(theirs,)]
