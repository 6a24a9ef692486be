"""core's saga steps run on the direct data path: each local step and compensation of
create_post, delete_post and delete_account, called as the saga engine calls it, with
``ctx.tx`` a transaction of :class:`shared_lib.database.Queries` (the engine's
savepoints and the remote steps are shared-lib's and social's tests)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.domain.posts import PostStatus
from core_service.models import Comment, Follow, Like, Post, StoryRecord, User
from core_service.sagas import create_post, delete_account, delete_post
from core_service.services import comments, follows, likes
from instasaga.services import CORE
from shared_lib.database import Database, Queries
from shared_lib.saga import SagaContext, SagaData, StepRejected

if TYPE_CHECKING:
    from conftest import Seed


def _ctx(q: Queries, saga_type: str, data: SagaData, reason: str | None = None
         ) -> SagaContext[Any]:
    return SagaContext(tx=q, saga_id=uuid.uuid4(), saga_type=saga_type, data=data,
                       service=CORE, reason=reason)


async def test_create_post_inserts_pending_then_publishes_and_counts(
        database: Database, seed: Seed) -> None:
    alice = await seed.user("alice")
    data = create_post.CreatePostData.new(alice.id, "alice", "hello #sun", None)
    async with database.transaction() as q:
        await create_post.insert_post(_ctx(q, create_post.CREATE_POST, data))
    assert data.post_id is not None and data.created_at is not None
    assert (await seed.get(Post, data.post_id)).status == PostStatus.pending
    async with database.transaction() as q:
        await create_post.publish_post(_ctx(q, create_post.CREATE_POST, data))
    post = await seed.get(Post, data.post_id)
    assert (post.status, post.version, post.hashtags) == ("published", 2, ["sun"])
    assert (await seed.get(User, alice.id)).post_count == 1
    [event] = await seed.events()
    assert event.type == "post.published"
    assert {k: event.payload[k] for k in ("post_id", "author_username", "hashtags", "seq")} == {
        "post_id": data.post_id, "author_username": "alice", "hashtags": ["sun"], "seq": 2}


async def test_create_post_refuses_to_publish_then_rejects_the_pending_post(
        database: Database, seed: Seed) -> None:
    alice = await seed.user("alice", active=False)  # deactivated while the saga ran
    data = create_post.CreatePostData.new(alice.id, "alice", "hi", None)
    async with database.transaction() as q:
        await create_post.insert_post(_ctx(q, create_post.CREATE_POST, data))
    async with database.transaction() as q:
        with pytest.raises(StepRejected) as rejected:
            await create_post.publish_post(_ctx(q, create_post.CREATE_POST, data))
        assert rejected.value.reason == create_post.CreatePostRejection.author_deactivated
        await create_post.reject_post(_ctx(q, create_post.CREATE_POST, data,
                                           reason=rejected.value.reason))
    post = await seed.get(Post, data.post)
    assert (post.status, post.rejection_reason, post.version) == (
        "rejected", create_post.CreatePostRejection.author_deactivated, 2)
    assert (await seed.get(User, alice.id)).post_count == 0
    assert await seed.events() == []

    gone = create_post.CreatePostData.new(alice.id, "alice", "hi", None)
    gone.post_id = data.post + 1000
    async with database.transaction() as q:
        with pytest.raises(StepRejected, match="deleted"):
            await create_post.publish_post(_ctx(q, create_post.CREATE_POST, gone))


async def test_delete_post_hides_restores_and_deletes_with_their_events(
        database: Database, seed: Seed) -> None:
    alice, bob = await seed.user("alice", post_count=1), await seed.user("bob")
    post_id = await seed.post(alice, hashtags=["sun"], like_count=1)
    await seed.rows(Like, {"post_id": post_id, "user_id": bob.id})
    data = delete_post.DeletePostData(post_id=post_id)
    async with database.transaction() as q:
        await delete_post.mark_deleting(_ctx(q, delete_post.DELETE_POST, data))
    assert data.seq == 2
    async with database.transaction() as q:  # given up: published again, announced anew
        await delete_post.restore(_ctx(q, delete_post.DELETE_POST, data))
        await delete_post.restore(_ctx(q, delete_post.DELETE_POST, data))  # once only
    post = await seed.get(Post, post_id)
    assert (post.status, post.version) == ("published", 3)
    [published] = await seed.events()
    assert published.type == "post.published"
    assert {k: published.payload[k] for k in (
        "post_id", "author_id", "author_username", "hashtags", "like_count", "seq")} == {
        "post_id": post_id, "author_id": alice.id, "author_username": "alice",
        "hashtags": ["sun"], "like_count": 1, "seq": 3}

    data = delete_post.DeletePostData(post_id=post_id)
    async with database.transaction() as q:
        await delete_post.mark_deleting(_ctx(q, delete_post.DELETE_POST, data))
        with pytest.raises(StepRejected):  # hidden already
            await delete_post.mark_deleting(_ctx(q, delete_post.DELETE_POST, data))
    assert data.seq == 4
    async with database.transaction() as q:
        await delete_post.delete_post(_ctx(q, delete_post.DELETE_POST, data))
        await delete_post.delete_post(_ctx(q, delete_post.DELETE_POST, data))  # gone: nothing
    assert await seed.get(Post, post_id) is None and await seed.all(select(Like)) == []
    assert (await seed.get(User, alice.id)).post_count == 0
    deleted = (await seed.events())[1:]
    assert [(e.type, e.payload["post_id"], e.payload["author_id"], e.payload["seq"])
            for e in deleted] == [("post.deleted", post_id, alice.id, 5)]


async def test_delete_account_deactivates_once_and_reactivates(
        database: Database, seed: Seed) -> None:
    alice = await seed.user("alice")
    data = delete_account.DeleteAccountData(user_id=alice.id, username="alice")
    async with database.transaction() as q:
        await delete_account.deactivate(_ctx(q, delete_account.DELETE_ACCOUNT, data))
    assert data.seq == 2
    async with database.transaction() as q:
        with pytest.raises(StepRejected) as rejected:  # a second saga for the same account
            await delete_account.deactivate(_ctx(q, delete_account.DELETE_ACCOUNT, data))
        assert rejected.value.reason == delete_account.DeleteAccountRejection.already_deleting
    async with database.transaction() as q:
        await delete_account.reactivate(_ctx(q, delete_account.DELETE_ACCOUNT, data))
        await delete_account.reactivate(_ctx(q, delete_account.DELETE_ACCOUNT, data))  # once
    assert (await seed.get(User, alice.id)).is_active
    assert [(e.type, e.payload["user_id"], e.payload["is_active"], e.payload["seq"])
            for e in await seed.events()] == [
        ("user.updated", alice.id, False, 2), ("user.updated", alice.id, True, 3)]


async def test_delete_user_data_removes_everything_of_the_account_with_its_events(
        sessions: async_sessionmaker[AsyncSession], database: Database, seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    own, bobs = await seed.post(alice), await seed.post(bob)
    async with sessions() as s, s.begin():
        await s.execute(User.__table__.update().where(User.id == alice.id)
                        .values(post_count=1))
        await s.execute(User.__table__.update().where(User.id == bob.id)
                        .values(post_count=1))
    tokens = {u.id: await seed.token(u) for u in (alice, bob)}
    async with database.transaction() as q:
        await likes.toggle_like(q, tokens[alice.id], bobs)
        await likes.toggle_like(q, tokens[bob.id], own)
        await comments.add_comment(q, tokens[alice.id], bobs, "hi bob")
        await follows.follow(q, tokens[alice.id], bob.id)
        await follows.follow(q, tokens[bob.id], alice.id)
    await seed.rows(StoryRecord, {"story_id": 1, "author_id": alice.id,
                                  "expires_at": datetime.now(UTC) + timedelta(hours=1)})
    before = len(await seed.events())
    data = delete_account.DeleteAccountData(user_id=alice.id, username="alice")
    async with database.transaction() as q:
        await delete_account.deactivate(_ctx(q, delete_account.DELETE_ACCOUNT, data))
    async with database.transaction() as q:
        await delete_account.delete_user_data(_ctx(q, delete_account.DELETE_ACCOUNT, data))
    async with database.transaction() as q:  # already deleted: nothing more
        await delete_account.delete_user_data(_ctx(q, delete_account.DELETE_ACCOUNT, data))

    events = (await seed.events())[before:]
    assert [e.type for e in events] == [
        "user.updated", "post.unliked", "comment.deleted", "user.unfollowed",
        "user.unfollowed", "post.deleted", "user.deleted"]
    assert (events[5].payload["post_id"], events[5].payload["seq"]) == (own, 2 + 1)
    assert events[-1].payload == {"user_id": alice.id, "seq": 3}  # deactivated at 2
    assert await seed.all(select(User.id)) == [(bob.id,)]
    for model in (Like, Comment, Follow, StoryRecord):
        assert await seed.all(select(model)) == []
    assert await seed.all(select(Post.id)) == [(bobs,)]
    stored = await seed.get(User, bob.id)
    assert (stored.follower_count, stored.following_count, stored.post_count) == (0, 0, 1)
    post = await seed.get(Post, bobs)
    assert (post.like_count, post.comment_count) == (0, 0)


async def test_the_steps_refuse_a_session(sessions: async_sessionmaker[AsyncSession],
                                          seed: Seed) -> None:
    alice = await seed.user("alice")
    async with sessions() as s, s.begin():
        ctx = SagaContext(tx=s, saga_id=uuid.uuid4(), saga_type=delete_account.DELETE_ACCOUNT,
                          data=delete_account.DeleteAccountData(user_id=alice.id,
                                                                username="alice"),
                          service=CORE)
        with pytest.raises(RuntimeError, match="no direct transaction"):
            await delete_account.deactivate(ctx)
