"""services/messages: a message's life in the send_message saga (pending, then sent
or rejected, each change only from pending), and what its users are shown:
conversations and their unread counts, a conversation, its reading, and the removal
of a user's messages. Only sent messages are ever shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared_lib.database import Database
from shared_lib.errors import BadRequest, NotFound
from social_service.models import Message, MessageStatus
from social_service.services import messages

if TYPE_CHECKING:
    from conftest import Seed

NOW = datetime.now(UTC)


def at(minutes: int) -> datetime:
    """A time ``minutes`` before the module was loaded (0 is the most recent)."""
    return NOW - timedelta(minutes=minutes)


async def test_insert_pending_stores_an_unread_pending_message(
        database: Database, seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    async with database.transaction() as q:
        message_id = await messages.insert_pending(q, sender_id=alice.id, receiver_id=bob.id,
                                                   content="hi bob")
    record = await messages.get_message(database, message_id)
    assert (record.id, record.sender_id, record.receiver_id, record.content) == (
        message_id, alice.id, bob.id, "hi bob")
    assert (record.status, record.is_read, record.rejection_reason) == (
        MessageStatus.pending, False, None)


async def test_mark_sent_and_reject_change_only_a_message_still_pending(
        database: Database, seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    async with database.transaction() as q:
        sent = await messages.insert_pending(q, sender_id=alice.id, receiver_id=bob.id,
                                             content="to send")
        refused = await messages.insert_pending(q, sender_id=alice.id, receiver_id=bob.id,
                                                content="to refuse")
    async with database.transaction() as q:
        created_at = await messages.mark_sent(q, sent)
        await messages.reject(q, refused, "blocked")
    record = await messages.get_message(database, sent)
    assert (record.status, created_at) == (MessageStatus.sent, record.created_at)
    async with database.transaction() as q:
        assert await messages.mark_sent(q, sent) is None  # sent already
        assert await messages.mark_sent(q, refused) is None  # rejected: never sent
        assert await messages.mark_sent(q, 10_000) is None  # gone (a purge deleted it)
        await messages.reject(q, sent, "too late")  # a sent message stays sent
        await messages.reject(q, refused, "another reason")  # the first reason stays
    sent_record = await messages.get_message(database, sent)
    refused_record = await messages.get_message(database, refused)
    assert (sent_record.status, sent_record.rejection_reason) == (MessageStatus.sent, None)
    assert (refused_record.status, refused_record.rejection_reason) == (
        MessageStatus.rejected, "blocked")


async def test_get_message_of_a_message_that_is_gone_is_not_found(
        database: Database, seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    message_id = await seed.message(alice, bob)
    assert (await messages.get_message(database, message_id)).id == message_id
    with pytest.raises(NotFound):
        await messages.get_message(database, message_id + 1)


def test_check_receiver_refuses_a_message_to_oneself() -> None:
    messages.check_receiver(1, 2)
    with pytest.raises(BadRequest):
        messages.check_receiver(1, 1)


async def test_conversations_show_the_latest_sent_message_per_user_latest_first_with_unread(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob, carol, dave = [await seed.user(n) for n in ("alice", "bob", "carol", "dave")]
    # with bob: two unread from him, one read, alice's reply the latest sent
    await seed.message(bob, alice, "bob 1", is_read=True, created_at=at(50))
    await seed.message(bob, alice, "bob 2", created_at=at(40))
    await seed.message(bob, alice, "bob 3", created_at=at(30))
    bobs_last = await seed.message(alice, bob, "alice to bob", created_at=at(20))
    # newer than that, but never sent: not shown, and not counted unread
    await seed.message(bob, alice, "pending", status=MessageStatus.pending, created_at=at(1))
    await seed.message(bob, alice, "rejected", status=MessageStatus.rejected,
                       created_at=at(1))
    # with carol: her one message, later than alice's reply to bob
    carols_last = await seed.message(carol, alice, "carol", created_at=at(10))
    # with dave: nothing sent, so no conversation at all
    await seed.message(dave, alice, "dave", status=MessageStatus.pending, created_at=at(0))
    # between others: not alice's
    await seed.message(bob, carol, "not alice's", created_at=at(0))

    async with sessions() as s:
        found = await messages.conversations(s, alice.id, limit=20, offset=0)
        page = await messages.conversations(s, alice.id, limit=1, offset=1)
        bobs = await messages.conversations(s, bob.id, limit=20, offset=0)
    assert [(c.other_user_id, c.last_message.id, c.unread_count) for c in found] == [
        (carol.id, carols_last, 1), (bob.id, bobs_last, 2)]
    assert [c.other_user_id for c in page] == [bob.id]
    # bob's side: carol's conversation is his latest; alice's reply is unread by him
    assert [(c.other_user_id, c.unread_count) for c in bobs] == [(carol.id, 0), (alice.id, 1)]


async def test_conversation_has_the_sent_messages_between_two_users_oldest_first(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob, carol = await seed.user("alice"), await seed.user("bob"), await seed.user("carol")
    second = await seed.message(alice, bob, "second", created_at=at(20))
    first = await seed.message(bob, alice, "first", created_at=at(30))
    third = await seed.message(bob, alice, "third", created_at=at(10))
    await seed.message(alice, bob, "pending", status=MessageStatus.pending, created_at=at(25))
    await seed.message(alice, bob, "rejected", status=MessageStatus.rejected,
                       created_at=at(25))
    await seed.message(alice, carol, "to carol", created_at=at(25))
    await seed.message(carol, bob, "carol to bob", created_at=at(25))
    async with sessions() as s:
        both = await messages.conversation(s, alice.id, bob.id, limit=20, offset=0)
        bobs_view = await messages.conversation(s, bob.id, alice.id, limit=20, offset=0)
        page = await messages.conversation(s, alice.id, bob.id, limit=2, offset=1)
    assert [m.id for m in both] == [first, second, third]
    assert [m.id for m in bobs_view] == [first, second, third]
    assert [m.id for m in page] == [second, third]


async def test_mark_read_reads_only_the_sent_unread_messages_of_that_sender(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob, carol = await seed.user("alice"), await seed.user("bob"), await seed.user("carol")
    unread = [await seed.message(bob, alice, f"bob {i}") for i in range(2)]
    already = await seed.message(bob, alice, "read", is_read=True)
    pending = await seed.message(bob, alice, "pending", status=MessageStatus.pending)
    reply = await seed.message(alice, bob, "reply")  # to bob: bob reads it, not alice
    carols = await seed.message(carol, alice, "carol")
    async with sessions() as s, s.begin():
        assert await messages.mark_read(s, receiver_id=alice.id, sender_id=bob.id) == 2
    async with sessions() as s, s.begin():
        assert await messages.mark_read(s, receiver_id=alice.id, sender_id=bob.id) == 0
    read = dict(await seed.all(select(Message.id, Message.is_read)))
    assert read == {unread[0]: True, unread[1]: True, already: True, pending: False,
                    reply: False, carols: False}


async def test_delete_involving_deletes_every_message_from_or_to_the_user(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    alice, bob, carol = await seed.user("alice"), await seed.user("bob"), await seed.user("carol")
    await seed.message(alice, bob)
    await seed.message(bob, alice, status=MessageStatus.pending)
    await seed.message(carol, alice, status=MessageStatus.rejected)
    kept = await seed.message(bob, carol)
    async with sessions() as s, s.begin():
        assert await messages.delete_involving(s, alice.id) == 3
    assert await seed.all(select(Message.id)) == [(kept,)]
