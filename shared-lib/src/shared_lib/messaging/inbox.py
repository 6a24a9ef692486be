"""Inbox: the record of what a consumer has already handled.

A consumer inserts ``(consumer, message_id)`` in the same transaction as the
effects of the message; a redelivered message finds its row and changes
nothing. For commands the row also keeps the reply, so a repeated command
gets the same reply again.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared_lib.database import Queries, Statement, Transaction
from shared_lib.tables import inbox

# Every statement runs once or twice per message: each is built once, here, and
# executed with parameters, so that a message costs no statement building (the
# compiled form comes from SQLAlchemy's cache, the prepared one from asyncpg's).
# (an UPDATE's bind parameters may not carry the names of the table's columns)
_KEY = ((inbox.c.consumer == bindparam("key_consumer"))
        & (inbox.c.message_id == bindparam("key_message_id")))
_CLAIM = (pg_insert(inbox)
          .values(consumer=bindparam("consumer"), message_id=bindparam("message_id"),
                  message_type=bindparam("message_type"))
          .on_conflict_do_nothing()
          .returning(inbox.c.message_id))
_PREEMPT = (pg_insert(inbox)
            .values(consumer=bindparam("consumer"), message_id=bindparam("message_id"),
                    message_type=bindparam("message_type"), reply=bindparam("reply"))
            .on_conflict_do_nothing()
            .returning(inbox.c.message_id))
_REPLY = select(inbox.c.reply).where(_KEY)
_STORE_REPLY = update(inbox).where(_KEY).values(reply=bindparam("new_reply"))


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
    inserted = await session.scalar(_CLAIM, {"consumer": consumer, "message_id": message_id,
                                             "message_type": message_type})
    if inserted is not None:
        return InboxRecord(new=True)
    return InboxRecord(new=False, reply=await stored_reply(session, consumer, message_id))


async def stored_reply(tx: Transaction, consumer: str, message_id: uuid.UUID
                       ) -> dict[str, Any] | None:
    if isinstance(tx, Queries):
        return await tx.fetchval(_REPLY_DIRECT, consumer, message_id)  # type: ignore[no-any-return]
    return await tx.scalar(_REPLY, {"key_consumer": consumer, "key_message_id": message_id})


async def store_reply(
    tx: Transaction, consumer: str, message_id: uuid.UUID, reply: dict[str, Any]
) -> None:
    if isinstance(tx, Queries):
        await tx.execute(_STORE_REPLY_DIRECT, consumer, message_id, reply)
        return
    await tx.execute(_STORE_REPLY, {"key_consumer": consumer,
                                    "key_message_id": message_id, "new_reply": reply})


async def preempt(
    tx: Transaction, consumer: str, message_id: uuid.UUID, message_type: str,
    reply: dict[str, Any],
) -> bool:
    """Mark a message as handled before it arrives, with the reply it will get.

    Used when a compensation overtakes its command: the late command then
    changes nothing. Returns False when the command was handled already.
    """
    if isinstance(tx, Queries):
        return await tx.fetchval(_PREEMPT_DIRECT, consumer, message_id, message_type,
                                 reply) is not None
    inserted = await tx.scalar(_PREEMPT, {"consumer": consumer, "message_id": message_id,
                                          "message_type": message_type, "reply": reply})
    return inserted is not None


# The same on the direct data path (shared_lib.database), for direct handlers.

_CLAIM_DIRECT = Statement("inbox.claim", """
    INSERT INTO inbox (consumer, message_id, message_type) VALUES ($1, $2, $3)
    ON CONFLICT DO NOTHING RETURNING 1""")
_REPLY_DIRECT = Statement("inbox.reply", """
    SELECT reply FROM inbox WHERE consumer = $1 AND message_id = $2""")
_STORE_REPLY_DIRECT = Statement("inbox.store_reply", """
    UPDATE inbox SET reply = $3 WHERE consumer = $1 AND message_id = $2""")
_PREEMPT_DIRECT = Statement("inbox.preempt", """
    INSERT INTO inbox (consumer, message_id, message_type, reply) VALUES ($1, $2, $3, $4)
    ON CONFLICT DO NOTHING RETURNING 1""")


async def claim(q: Queries, consumer: str, message_id: uuid.UUID, message_type: str
                ) -> InboxRecord:
    """:func:`record_message` in the caller's direct transaction."""
    if await q.fetchval(_CLAIM_DIRECT, consumer, message_id, message_type) is not None:
        return InboxRecord(new=True)
    return InboxRecord(new=False, reply=await q.fetchval(_REPLY_DIRECT, consumer, message_id))


_CLAIM_MANY = Statement("inbox.claim_many", """
    INSERT INTO inbox (consumer, message_id, message_type)
    SELECT $1, m.id, m.type FROM unnest($2::uuid[], $3::text[]) AS m(id, type)
    ON CONFLICT DO NOTHING RETURNING message_id""")


async def claim_many(q: Queries, consumer: str, messages: list[tuple[uuid.UUID, str]]
                     ) -> set[uuid.UUID]:
    """Claim several messages in one statement; the ids that are new here."""
    ids = [m for m, _ in messages]
    rows = await q.fetch(_CLAIM_MANY, consumer, ids, [t for _, t in messages])
    return {r["message_id"] for r in rows}


_PARAM = re.compile(r"\$(\d+)")


def claimed(name: str, effect: str, *, before: str = "", claim_if: str | None = None
            ) -> Statement:
    """A handler's whole effect and its inbox claim as **one statement** (run in
    autocommit: one round trip instead of BEGIN, claim, effect and COMMIT).

    ``effect`` is one data-modifying statement that reads the CTE ``claim`` (one row
    when the message is new to this consumer, none for a duplicate) and changes
    nothing without it; ``before`` are more CTEs it uses (``"a AS (...), b AS
    (...)"``), in the order they must lock rows (a CTE that must lock first is
    referenced from the next). With ``claim_if`` (a condition on the database as it
    is), the message is claimed only when it holds: otherwise the statement changes
    nothing and the handler does the message another way. Parameters: the effect's
    own ``$1``..``$n``, then the claim's three (consumer, message id, message type),
    added here. The statement returns whether the message was new, or NULL when
    ``claim_if`` declined it.
    """
    params = [int(n) for n in _PARAM.findall(before + effect + (claim_if or ""))]
    n = max(params, default=0)
    ctes = f"{before.strip()},\n" if before.strip() else ""
    condition = f"({claim_if.strip()})" if claim_if else "true"
    return Statement(name, f"""
    WITH claim AS (
        INSERT INTO inbox (consumer, message_id, message_type)
        SELECT ${n + 1}, ${n + 2}, ${n + 3} WHERE {condition}
        ON CONFLICT DO NOTHING RETURNING 1),
    {ctes}effect AS ({effect.strip()})
    SELECT CASE WHEN EXISTS (SELECT 1 FROM claim) THEN true
                WHEN {condition} THEN false END""")
