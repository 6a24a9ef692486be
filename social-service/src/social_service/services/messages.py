"""Direct messages: stored ``pending`` by the send_message saga, then ``sent``
or ``rejected``; conversations show only sent ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

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


async def get_message(session: AsyncSession, message_id: int) -> Message:
    message = await session.get(Message, message_id)
    if message is None:
        raise NotFound("Message not found")
    return message


async def insert_pending(session: AsyncSession, *, sender_id: int, receiver_id: int,
                         content: str) -> int:
    """Store a message ``pending``; its id."""
    message = Message(sender_id=sender_id, receiver_id=receiver_id, content=content,
                      status=MessageStatus.pending.value)
    session.add(message)
    await session.flush()
    return message.id


async def reject(session: AsyncSession, message_id: int, reason: str | None) -> None:
    """A message still ``pending`` becomes ``rejected`` with ``reason``."""
    await session.execute(
        update(Message)
        .where(Message.id == message_id, Message.status == MessageStatus.pending.value)
        .values(status=MessageStatus.rejected.value, rejection_reason=reason))


async def mark_sent(session: AsyncSession, message_id: int) -> datetime | None:
    """A message still ``pending`` becomes ``sent``; its creation time, or None
    when it is no longer pending (rejected, or deleted by a purge)."""
    return await session.scalar(
        update(Message)
        .where(Message.id == message_id, Message.status == MessageStatus.pending.value)
        .values(status=MessageStatus.sent.value)
        .returning(Message.created_at))


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
