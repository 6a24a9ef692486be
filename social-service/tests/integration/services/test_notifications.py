"""services/notifications: a fact notifies once (its ``dedupe_key``) and a newer ``seq``
alone changes it; the users and post an event involves (nobody is notified when one
of its users or its post is deleted; mentions leave out deleted users and those in a
block with the actor); notifications about a post withdrawn, restored and deleted
with it; and a user's own list and its reading.

The functions that take a ``Transaction`` run in both kinds of transaction: an ORM
session and the statements of an asyncpg transaction (``transaction``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from instasaga.messages import PostPublished
from shared_lib.database import Database, Transaction
from shared_lib.errors import NotFound
from social_service.models import Notification, NotificationType
from social_service.projections.tombstones import PostState
from social_service.services import notifications

if TYPE_CHECKING:
    from conftest import Seed

NOW = datetime.now(UTC)
LIKE, COMMENT, MENTION, FOLLOW = (NotificationType.like, NotificationType.comment,
                                  NotificationType.mention, NotificationType.follow)

Transactions = Callable[[], AbstractAsyncContextManager[Transaction]]


def at(minutes: int) -> datetime:
    """A time ``minutes`` before the module was loaded (0 is the most recent)."""
    return NOW - timedelta(minutes=minutes)


@pytest.fixture(params=["session", "queries"])
def transaction(request: pytest.FixtureRequest, sessions: async_sessionmaker[AsyncSession],
                database: Database) -> Transactions:
    """A new transaction of either kind, committed when its block ends: an ORM session's
    or an asyncpg one's statements (``Queries``)."""

    @asynccontextmanager
    async def session() -> AsyncIterator[Transaction]:
        async with sessions() as s, s.begin():
            yield s

    @asynccontextmanager
    async def queries() -> AsyncIterator[Transaction]:
        async with database.transaction() as q:
            yield q

    return session if request.param == "session" else queries


async def _state(seed: Seed) -> dict[str, tuple[bool, bool, int, str]]:
    """Each notification's (hidden, withdrawn, seq, message), by dedupe key."""
    rows = await seed.all(select(Notification.dedupe_key, Notification.hidden,
                                 Notification.withdrawn, Notification.seq,
                                 Notification.message))
    return {key: (hidden, withdrawn, seq, message)
            for key, hidden, withdrawn, seq, message in rows}


async def test_notify_records_a_fact_once(transaction: Transactions, seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    for message in ("bob started following you", "a redelivery, worded otherwise"):
        async with transaction() as tx:
            await notifications.notify(tx, user_id=alice.id, actor_id=bob.id, type_=FOLLOW,
                                       reference_id=bob.id, message=message,
                                       dedupe_key=f"follow:{bob.id}:{alice.id}")
    async with transaction() as tx:  # another fact: another notification
        await notifications.notify(tx, user_id=bob.id, actor_id=alice.id, type_=FOLLOW,
                                   reference_id=alice.id, message="alice started following you",
                                   dedupe_key=f"follow:{alice.id}:{bob.id}")
    rows = await seed.all(select(Notification.user_id, Notification.actor_id,
                                 Notification.type, Notification.reference_id,
                                 Notification.message, Notification.hidden,
                                 Notification.is_read).order_by(Notification.id))
    assert rows == [(alice.id, bob.id, "follow", bob.id, "bob started following you",
                     False, False),
                    (bob.id, alice.id, "follow", alice.id, "alice started following you",
                     False, False)]


async def test_notify_with_a_newer_seq_updates_the_fact_and_an_older_one_changes_nothing(
        transaction: Transactions, seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    key = f"like:100:{bob.id}"

    async def like(seq: int, *, hidden: bool = False, message: str = "bob liked your post"
                   ) -> tuple[bool, bool, int, str]:
        async with transaction() as tx:
            await notifications.notify(tx, user_id=alice.id, actor_id=bob.id, type_=LIKE,
                                       reference_id=100, message=message, dedupe_key=key,
                                       seq=seq, hidden=hidden)
        return (await _state(seed))[key]

    assert await like(5) == (False, False, 5, "bob liked your post")
    assert await like(7, hidden=True) == (True, False, 7, "bob liked your post")  # unliked
    assert await like(6, message="late") == (True, False, 7, "bob liked your post")
    assert await like(7, message="again") == (True, False, 7, "bob liked your post")
    assert await like(8, message="liked again") == (False, False, 8, "liked again")
    assert len(await seed.all(select(Notification.id))) == 1


async def test_involved_is_none_when_a_user_of_the_event_is_deleted(
        transaction: Transactions, seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    gone = await seed.user("gone", deleted=True)
    resting = await seed.user("resting", active=False)  # deactivated: may come back
    async with transaction() as tx:
        assert await notifications.involved(tx, [alice.id, gone.id]) is None
        assert await notifications.involved(tx, [gone.id], "hi @alice", actor_id=gone.id) \
            is None
        assert await notifications.involved(tx, [alice.id, resting.id]) == []
        assert await notifications.involved(tx, [alice.id, 999]) == []  # not projected yet
        # a deleted user who is only mentioned does not stop the event
        assert await notifications.involved(tx, [alice.id], "@gone @bob",
                                            actor_id=alice.id) == [bob.id]


async def test_involved_mentions_by_name_minus_deleted_users_and_blocks_with_the_actor(
        transaction: Transactions, seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    carol = await seed.user("Carol")  # names match whatever their case
    await seed.user("dave", deleted=True)
    erin, frank = await seed.user("erin"), await seed.user("frank")
    gina, henry = await seed.user("gina"), await seed.user("henry", active=False)
    await seed.block(erin, alice)  # erin blocked the actor
    await seed.block(alice, frank)  # the actor blocked frank
    await seed.block(gina, alice, active=False)  # unblocked since
    text = "hi @CAROL @dave @erin @frank @gina @henry @nobody and @bob"
    async with transaction() as tx:
        by_alice = await notifications.involved(tx, [alice.id, bob.id], text,
                                                actor_id=alice.id)
        no_actor = await notifications.involved(tx, [alice.id, bob.id], text)
        no_mentions = await notifications.involved(tx, [alice.id, bob.id], "no names here",
                                                   actor_id=alice.id)
    assert by_alice == [bob.id, carol.id, gina.id, henry.id]
    assert no_actor == [bob.id, carol.id, erin.id, frank.id, gina.id, henry.id]
    assert no_mentions == []


async def test_live_post_is_none_only_for_a_deleted_post(
        transaction: Transactions, seed: Seed) -> None:
    alice = await seed.user("alice")
    published = await seed.post(alice)
    pending = await seed.post(alice, published=False)  # indexed by a running create_post
    purged = await seed.post(alice, published=False, version=3)
    deleted = await seed.post(alice, published=False, version=4, deleted=True)
    async with transaction() as tx:
        states = [await notifications.live_post(tx, post_id)
                  for post_id in (published, pending, 999, purged, deleted)]
    assert states == [PostState.visible, PostState.visible, PostState.visible,
                      PostState.withdrawn, None]


async def test_notify_post_mentions_notifies_the_mentioned_users_but_the_author(
        transaction: Transactions, seed: Seed) -> None:
    alice, bob, carol = await seed.user("alice"), await seed.user("bob"), await seed.user("carol")
    dave = await seed.user("dave")
    await seed.block(dave, alice)
    post_id = await seed.post(alice)
    withdrawn = await seed.post(alice, published=False, version=3)
    deleted = await seed.post(alice, published=False, version=4, deleted=True)

    def published(post: int) -> PostPublished:
        return PostPublished(seq=3, post_id=post, author_id=alice.id, author_username="alice",
                             content="with @bob, @carol, @dave and me, @alice",
                             created_at=NOW)

    async with transaction() as tx:
        for post in (post_id, withdrawn, deleted):
            await notifications.notify_post_mentions(tx, published(post))
        await notifications.notify_post_mentions(tx, published(post_id))  # redelivered
    rows = await seed.all(select(Notification.user_id, Notification.actor_id,
                                 Notification.type, Notification.reference_id,
                                 Notification.message, Notification.hidden,
                                 Notification.withdrawn).order_by(Notification.id))
    assert rows == [
        (bob.id, alice.id, "mention", post_id, "alice mentioned you in a post", False, False),
        (carol.id, alice.id, "mention", post_id, "alice mentioned you in a post", False,
         False),
        (bob.id, alice.id, "mention", withdrawn, "alice mentioned you in a post", True, True),
        (carol.id, alice.id, "mention", withdrawn, "alice mentioned you in a post", True,
         True)]


async def test_withdraw_about_a_post_hides_and_restore_shows_again_only_what_it_withdrew(
        sessions: async_sessionmaker[AsyncSession], transaction: Transactions,
        seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    post_id, other = await seed.post(alice), await seed.post(alice)
    await seed.notification(alice, bob, LIKE, post_id, dedupe_key="liked")
    await seed.notification(alice, bob, COMMENT, post_id, dedupe_key="commented")
    await seed.notification(alice, bob, LIKE, post_id, dedupe_key="unliked", hidden=True)
    await seed.notification(alice, bob, LIKE, other, dedupe_key="other post")
    # not about a post, though its reference is the same number
    await seed.notification(alice, post_id, FOLLOW, post_id, dedupe_key="follow")
    async with sessions() as s, s.begin():
        await notifications.withdraw_about_post(s, post_id)
    withdrawn = {k: v[:2] for k, v in (await _state(seed)).items()}
    assert withdrawn == {"liked": (True, True), "commented": (True, True),
                         "unliked": (True, False), "other post": (False, False),
                         "follow": (False, False)}
    async with transaction() as tx:  # a like while the post is withdrawn: hidden with it
        await notifications.notify(tx, user_id=alice.id, actor_id=bob.id, type_=LIKE,
                                   reference_id=post_id, message="late", dedupe_key="late",
                                   withdrawn=True)
    assert (await _state(seed))["late"][:2] == (True, True)
    async with transaction() as tx:
        await notifications.restore_about_post(tx, post_id)
    restored = {k: v[:2] for k, v in (await _state(seed)).items()}
    assert restored == {"liked": (False, False), "commented": (False, False),
                        "unliked": (True, False), "other post": (False, False),
                        "follow": (False, False), "late": (False, False)}


async def test_delete_about_a_post_and_about_an_authors_posts_deletes_them_hidden_too(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    first, second = await seed.post(alice), await seed.post(alice)
    bobs = await seed.post(bob)
    await seed.notification(alice, bob, LIKE, first, dedupe_key="like first")
    await seed.notification(alice, bob, COMMENT, first, dedupe_key="comment first",
                            withdrawn=True)
    await seed.notification(bob, alice, MENTION, first, dedupe_key="mention first")
    await seed.notification(alice, bob, LIKE, second, dedupe_key="like second", hidden=True)
    await seed.notification(bob, alice, LIKE, bobs, dedupe_key="like bobs")
    await seed.notification(alice, second, FOLLOW, second, dedupe_key="follow")
    async with sessions() as s, s.begin():
        await notifications.delete_about_post(s, first)
    assert sorted(await _state(seed)) == ["follow", "like bobs", "like second"]
    async with sessions() as s, s.begin():
        await notifications.delete_about_posts_of(s, alice.id)
    assert sorted(await _state(seed)) == ["follow", "like bobs"]


async def test_delete_involving_deletes_every_notification_to_or_from_the_user(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob, carol = await seed.user("alice"), await seed.user("bob"), await seed.user("carol")
    await seed.notification(alice, bob, dedupe_key="to")
    await seed.notification(bob, alice, FOLLOW, alice.id, dedupe_key="from")
    await seed.notification(alice, carol, dedupe_key="hidden", hidden=True)
    await seed.notification(bob, carol, dedupe_key="others")
    async with sessions() as s, s.begin():
        assert await notifications.delete_involving(s, alice.id) == 3
    assert list(await _state(seed)) == ["others"]


async def test_list_for_has_the_users_visible_notifications_newest_first(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    old = await seed.notification(alice, bob, created_at=at(30), is_read=True)
    new = await seed.notification(alice, bob, COMMENT, created_at=at(10))
    middle = await seed.notification(alice, bob, FOLLOW, created_at=at(20))
    await seed.notification(alice, bob, created_at=at(0), hidden=True)
    await seed.notification(alice, bob, created_at=at(0), withdrawn=True)
    await seed.notification(bob, alice, created_at=at(0))
    async with sessions() as s:
        found = await notifications.list_for(s, alice.id, limit=20, offset=0)
        page = await notifications.list_for(s, alice.id, limit=1, offset=1)
    assert [(n.id, n.is_read) for n in found] == [(new, False), (middle, False), (old, True)]
    assert [n.id for n in page] == [middle]


async def test_mark_all_read_and_mark_read_read_only_the_users_visible_notifications(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    one, two = await seed.notification(alice, bob), await seed.notification(alice, bob)
    await seed.notification(alice, bob, is_read=True)
    hidden = await seed.notification(alice, bob, hidden=True)
    bobs = await seed.notification(bob, alice)
    async with sessions() as s, s.begin():
        marked = await notifications.mark_read(s, alice.id, one)
    assert (marked.id, marked.is_read) == (one, True)
    for user, notification_id in ((bob, two), (alice, hidden), (alice, 10_000)):
        with pytest.raises(NotFound):  # another's, hidden, or gone
            async with sessions() as s, s.begin():
                await notifications.mark_read(s, user.id, notification_id)
    async with sessions() as s, s.begin():
        assert await notifications.mark_all_read(s, alice.id) == 1  # only two was unread
    read = dict(await seed.all(select(Notification.id, Notification.is_read)))
    assert (read[one], read[two], read[hidden], read[bobs]) == (True, True, False, False)
