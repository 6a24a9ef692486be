"""services/accounts: the purge of a user whose account is being deleted
(delete_account's pivot): their messages, stories and notifications go (counted),
their posts are hidden with their hashtag links and the notifications about them,
their follow and block edges end (kept, inactive) and the user becomes a deleted
tombstone. Nothing of anyone else's changes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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
    Story,
    StoryStatus,
    UserProjection,
)
from social_service.services import accounts
from social_service.services.accounts import Purged

if TYPE_CHECKING:
    from conftest import Seed

LIKE, COMMENT, MENTION, FOLLOW = (NotificationType.like, NotificationType.comment,
                                  NotificationType.mention, NotificationType.follow)


async def _purge(sessions: async_sessionmaker[AsyncSession], user_id: int, seq: int
                 ) -> Purged:
    async with sessions() as s, s.begin():
        return await accounts.purge(s, user_id, seq)


async def test_purge_deletes_the_users_messages_stories_and_notifications_and_counts_them(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob, carol = await seed.user("alice"), await seed.user("bob"), await seed.user("carol")
    await seed.message(alice, bob)
    await seed.message(bob, alice, status=MessageStatus.pending)
    await seed.message(carol, alice, status=MessageStatus.rejected)
    others_message = await seed.message(bob, carol)
    await seed.story(alice)
    await seed.story(alice, status=StoryStatus.pending)
    others_story = await seed.story(bob)
    bobs_post = await seed.post(bob)
    await seed.notification(alice, bob, FOLLOW, bob.id)  # to her
    await seed.notification(bob, alice, LIKE, bobs_post)  # from her
    await seed.notification(carol, alice, FOLLOW, alice.id, hidden=True)  # hidden too
    others_notification = await seed.notification(bob, carol, COMMENT, bobs_post)

    assert await _purge(sessions, alice.id, 7) == Purged(messages=3, stories=2,
                                                         notifications=3)
    assert await seed.all(select(Message.id)) == [(others_message,)]
    assert await seed.all(select(Story.id)) == [(others_story,)]
    assert await seed.all(select(Notification.id)) == [(others_notification,)]
    # a redelivered purge finds nothing left to delete
    assert await _purge(sessions, alice.id, 7) == Purged(messages=0, stories=0,
                                                         notifications=0)


async def test_purge_leaves_a_deleted_tombstone_at_its_seq_or_a_newer_version(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice = await seed.user("alice", full_name="Alice A", version=3)
    bob = await seed.user("bob", version=12)
    await _purge(sessions, alice.id, 9)
    await _purge(sessions, bob.id, 9)  # a user event newer than the purge was applied
    await _purge(sessions, 77, 5)  # not projected yet: a tombstone row of its own
    rows = await seed.all(select(UserProjection.id, UserProjection.username,
                                 UserProjection.is_active, UserProjection.deleted,
                                 UserProjection.version).order_by(UserProjection.id))
    assert rows == [(alice.id, "alice", False, True, 9), (bob.id, "bob", False, True, 12),
                    (77, "", False, True, 5)]


async def test_purge_ends_the_users_follow_and_block_edges_keeping_them_at_their_seq(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob, carol = await seed.user("alice"), await seed.user("bob"), await seed.user("carol")
    await seed.follow(alice, bob, version=4)
    await seed.follow(carol, alice, version=5)
    await seed.follow(bob, carol, version=6)
    await seed.block(alice, carol, version=7)
    await seed.block(bob, alice, version=8)
    await seed.block(carol, bob, version=9)
    await _purge(sessions, alice.id, 20)
    follows = await seed.all(select(FollowEdge.follower_id, FollowEdge.followee_id,
                                    FollowEdge.active, FollowEdge.version)
                             .order_by(FollowEdge.version))
    blocks = await seed.all(select(BlockEdge.blocker_id, BlockEdge.blocked_id,
                                   BlockEdge.active, BlockEdge.version)
                            .order_by(BlockEdge.version))
    assert follows == [(alice.id, bob.id, False, 4), (carol.id, alice.id, False, 5),
                       (bob.id, carol.id, True, 6)]
    assert blocks == [(alice.id, carol.id, False, 7), (bob.id, alice.id, False, 8),
                      (carol.id, bob.id, True, 9)]


async def test_purge_hides_the_users_posts_with_their_hashtag_links_and_notifications(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob, carol = await seed.user("alice"), await seed.user("bob"), await seed.user("carol")
    published = await seed.post(alice, tags=["sun", "moon"], version=2)
    pending = await seed.post(alice, tags=["sun"], published=False)
    bobs = await seed.post(bob, tags=["sun"])
    # about her posts, though neither to nor from her: a mention of carol by bob
    await seed.notification(carol, bob, MENTION, published)
    await seed.notification(carol, bob, MENTION, pending, hidden=True)
    about_bobs = await seed.notification(bob, carol, LIKE, bobs)
    await _purge(sessions, alice.id, 9)
    posts = await seed.all(select(PostProjection.id, PostProjection.published,
                                  PostProjection.version).order_by(PostProjection.id))
    # hidden, not deleted: core's post.deleted events make them tombstones
    assert posts == [(published, False, 2), (pending, False, 0), (bobs, True, 1)]
    assert await seed.all(select(PostHashtag.post_id)) == [(bobs,)]
    assert sorted(await seed.all(select(Hashtag.name))) == [("moon",), ("sun",)]
    assert await seed.all(select(Notification.id)) == [(about_bobs,)]


async def test_purge_counts_every_notification_to_the_user_it_deletes(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    post_id = await seed.post(alice)
    await seed.notification(alice, bob, LIKE, post_id)  # to her, about her post
    await seed.notification(alice, bob, FOLLOW, bob.id)  # to her
    purged = await _purge(sessions, alice.id, 9)
    assert await seed.all(select(Notification.id)) == []
    assert purged.notifications == 2
