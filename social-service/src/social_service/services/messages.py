"""Direct messages: stored ``pending`` by the send_message saga, then ``sent``
or ``rejected``; conversations show only sent ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from shared_lib.database import Database, Queries, Statement
from shared_lib.errors import BadRequest, NotFound
from social_service.models import Message, MessageStatus


@dataclass(frozen=True)
class Conversation:
    other_user_id: int
    last_message: Message
    unread_count: int


def check_receiver(sender_id: int, receiver_id: int) -> None:
    """BadRequest for a message to oneself (refused before any saga starts)."""
    if receiver_id == sender_id:
        raise BadRequest("You cannot send a message to yourself")


@dataclass(frozen=True)
class MessageRecord:
    """A message as its sender is answered."""

    id: int
    sender_id: int
    receiver_id: int
    content: str
    is_read: bool
    status: str
    rejection_reason: str | None
    created_at: datetime


_GET = Statement("messages.get", """
    SELECT id, sender_id, receiver_id, content, is_read, status, rejection_reason, created_at
    FROM messages WHERE id = $1""")


async def get_message(db: Database, message_id: int) -> MessageRecord:
    """One message, in one autocommit statement (NotFound when it is gone)."""
    row = await db.fetchrow(_GET, message_id)
    if row is None:
        raise NotFound("Message not found")
    return MessageRecord(**dict(row))


#: a message's life in the send_message saga (statements defined once)
_INSERT_PENDING = Statement("messages.insert_pending", f"""
    INSERT INTO messages (sender_id, receiver_id, content, status)
    VALUES ($1, $2, $3, '{MessageStatus.pending.value}') RETURNING id""")
_REJECT = Statement("messages.reject", f"""
    UPDATE messages SET status = '{MessageStatus.rejected.value}', rejection_reason = $2
    WHERE id = $1 AND status = '{MessageStatus.pending.value}'""")
_MARK_SENT = Statement("messages.mark_sent", f"""
    UPDATE messages SET status = '{MessageStatus.sent.value}'
    WHERE id = $1 AND status = '{MessageStatus.pending.value}'
    RETURNING created_at""")


async def insert_pending(q: Queries, *, sender_id: int, receiver_id: int, content: str) -> int:
    """Store a message ``pending``; its id."""
    return await q.fetchval(_INSERT_PENDING, sender_id, receiver_id, content)  # type: ignore[no-any-return]


async def reject(q: Queries, message_id: int, reason: str | None) -> None:
    """A message still ``pending`` becomes ``rejected`` with ``reason``."""
    await q.execute(_REJECT, message_id, reason)


async def mark_sent(q: Queries, message_id: int) -> datetime | None:
    """A message still ``pending`` becomes ``sent``; its creation time, or None
    when it is no longer pending (rejected, or deleted by a purge)."""
    return await q.fetchval(_MARK_SENT, message_id)  # type: ignore[no-any-return]


def _other(me: int):  # type: ignore[no-untyped-def]
    return case((Message.sender_id == me, Message.receiver_id), else_=Message.sender_id)


async def conversations(session: AsyncSession, user_id: int, *, limit: int,
                        offset: int) -> list[Conversation]:
    """The user's conversations, the one with the latest sent message first."""
    me = user_id
    mine = (select(Message, _other(me).label("other_id"))
            .where(Message.status == MessageStatus.sent.value,
                   or_(Message.sender_id == me, Message.receiver_id == me))
            .subquery())
    last = (select(mine).distinct(mine.c.other_id)
            .order_by(mine.c.other_id, mine.c.created_at.desc(), mine.c.id.desc())
            .subquery())
    last_message = aliased(Message, last)
    unread = (select(func.count()).select_from(Message)
              .where(Message.receiver_id == me, Message.sender_id == last.c.other_id,
                     Message.status == MessageStatus.sent.value, Message.is_read.is_(False))
              .scalar_subquery())
    rows = (await session.execute(
        select(last_message, last.c.other_id, unread.label("unread"))
        .order_by(last.c.created_at.desc(), last.c.id.desc()).limit(limit).offset(offset)
    )).all()
    return [Conversation(other_user_id=other_id, last_message=message, unread_count=unread)
            for message, other_id, unread in rows]


async def conversation(session: AsyncSession, user_id: int, other_user_id: int, *, limit: int,
                       offset: int) -> list[Message]:
    """The sent messages between two users, oldest first."""
    me = user_id
    rows = (await session.execute(
        select(Message)
        .where(Message.status == MessageStatus.sent.value,
               or_(and_(Message.sender_id == me, Message.receiver_id == other_user_id),
                   and_(Message.sender_id == other_user_id, Message.receiver_id == me)))
        .order_by(Message.created_at, Message.id).limit(limit).offset(offset)
    )).scalars()
    return list(rows)


async def mark_read(session: AsyncSession, *, receiver_id: int, sender_id: int) -> int:
    """Mark read the sent messages ``sender_id`` sent to ``receiver_id``; how many."""
    result = await session.execute(
        update(Message)
        .where(Message.sender_id == sender_id, Message.receiver_id == receiver_id,
               Message.status == MessageStatus.sent.value, Message.is_read.is_(False))
        .values(is_read=True))
    return result.rowcount  # type: ignore[attr-defined,no-any-return]


async def delete_involving(session: AsyncSession, user_id: int) -> int:
    """Delete every message from or to ``user_id``; how many."""
    result = await session.execute(delete(Message).where(
        or_(Message.sender_id == user_id, Message.receiver_id == user_id)))
    return result.rowcount  # type: ignore[attr-defined,no-any-return]
