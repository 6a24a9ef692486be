"""Inbox: the record of what a consumer has already handled.

A consumer inserts ``(consumer, message_id)`` in the same transaction as the
effects of the message; a redelivered message finds its row and changes
nothing. For commands the row also keeps the reply, so a repeated command
gets the same reply again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared_lib.tables import inbox


@dataclass(frozen=True)
class InboxRecord:
    new: bool
    reply: dict[str, Any] | None = None


async def record_message(
    session: AsyncSession, consumer: str, message_id: uuid.UUID, message_type: str
) -> InboxRecord:
    """Claim a message for this consumer; ``new=False`` if it was handled before.

    A concurrent duplicate (another replica) waits on the primary key until the
    first transaction ends, then sees the row.
    """
    inserted = await session.scalar(
        pg_insert(inbox)
        .values(consumer=consumer, message_id=message_id, message_type=message_type)
        .on_conflict_do_nothing()
        .returning(inbox.c.message_id)
    )
    if inserted is not None:
        return InboxRecord(new=True)
    reply = await session.scalar(
        select(inbox.c.reply).where(inbox.c.consumer == consumer,
                                    inbox.c.message_id == message_id)
    )
    return InboxRecord(new=False, reply=reply)


async def stored_reply(session: AsyncSession, consumer: str, message_id: uuid.UUID
                       ) -> dict[str, Any] | None:
    return await session.scalar(
        select(inbox.c.reply).where(inbox.c.consumer == consumer,
                                    inbox.c.message_id == message_id))


async def store_reply(
    session: AsyncSession, consumer: str, message_id: uuid.UUID, reply: dict[str, Any]
) -> None:
    await session.execute(
        update(inbox)
        .where(inbox.c.consumer == consumer, inbox.c.message_id == message_id)
        .values(reply=reply)
    )


async def preempt(
    session: AsyncSession, consumer: str, message_id: uuid.UUID, message_type: str,
    reply: dict[str, Any],
) -> bool:
    """Mark a message as handled before it arrives, with the reply it will get.

    Used when a compensation overtakes its command: the late command then
    changes nothing. Returns False when the command was handled already.
    """
    inserted = await session.scalar(
        pg_insert(inbox)
        .values(consumer=consumer, message_id=message_id, message_type=message_type,
                reply=reply)
        .on_conflict_do_nothing()
        .returning(inbox.c.message_id)
    )
    return inserted is not None
