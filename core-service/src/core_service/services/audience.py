"""Blocks and privacy as they apply to one viewer and one owner (the rules are in
:mod:`core_service.domain.audience`): the relation read in one statement, and the
checks the routes make with it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, exists, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.domain.audience import Relation, Sight
from core_service.models import Block, Follow, User
from shared_lib.database import Queries, Statement
from shared_lib.errors import Forbidden, NotFound

#: no user has this id: the viewer of an anonymous request
_NOBODY = -1

#: built once: the owner's privacy, and follows and blocks between the two
_RELATION = (
    select(
        User.is_private,
        exists().where(Follow.follower_id == bindparam("viewer_id"),
                       Follow.followee_id == User.id).label("follows"),
        exists().where(Block.blocker_id == User.id,
                       Block.blocked_id == bindparam("viewer_id")).label("blocked_by_owner"),
        exists().where(Block.blocker_id == bindparam("viewer_id"),
                       Block.blocked_id == User.id).label("blocks_owner"),
    )
    .where(User.id == bindparam("owner_id"), User.is_active)
)


#: ``_RELATION`` on the direct data path ($1 viewer, $2 owner)
_RELATION_DIRECT = Statement("audience.relation", """
    SELECT u.is_private,
           EXISTS (SELECT 1 FROM follows f
                   WHERE f.follower_id = $1 AND f.followee_id = u.id) AS follows,
           EXISTS (SELECT 1 FROM blocks b
                   WHERE b.blocker_id = u.id AND b.blocked_id = $1) AS blocked_by_owner,
           EXISTS (SELECT 1 FROM blocks b
                   WHERE b.blocker_id = $1 AND b.blocked_id = u.id) AS blocks_owner
    FROM users u WHERE u.id = $2 AND u.is_active""")


def _relation_of(viewer_id: int | None, owner_id: int, row: Any) -> Relation | None:
    if row is None:
        return None
    return Relation(viewer_id, owner_id, owner_private=row["is_private"],
                    viewer_follows=row["follows"], owner_blocked_viewer=row["blocked_by_owner"],
                    viewer_blocked_owner=row["blocks_owner"])


def _require_contact(found: Relation | None) -> None:
    if found is None or found.sight != Sight.full:
        raise NotFound("Post not found")
    if found.blocked:
        raise Forbidden("You cannot interact with this user")


#: a change that needs contact with the post's author, made in the statement that reads
#: their relation: CTE ``relation`` ($1 viewer, $2 owner, as ``_RELATION_DIRECT``) and
#: the columns :func:`require_contact_read` checks
RELATION_CTE = f"relation AS ({_RELATION_DIRECT.sql})"
RELATION_COLUMNS = """
    EXISTS (SELECT 1 FROM relation) AS related,
    (SELECT is_private FROM relation) AS is_private,
    (SELECT follows FROM relation) AS follows,
    (SELECT blocked_by_owner FROM relation) AS blocked_by_owner,
    (SELECT blocks_owner FROM relation) AS blocks_owner"""


def require_contact_read(viewer_id: int, author_id: int, row: Any) -> None:
    """``require_post_access(contact=True)`` from a row with :data:`RELATION_COLUMNS`,
    read by the statement that made the change after
    :func:`post_counters.lock_for_contact` had locked both users: the caller's
    transaction is rolled back, the change with it, when this raises."""
    if viewer_id == author_id:
        return
    _require_contact(_relation_of(viewer_id, author_id, row if row["related"] else None))


async def relation(session: AsyncSession, viewer_id: int | None, owner_id: int
                   ) -> Relation | None:
    """How ``viewer_id`` stands to ``owner_id``; None when the owner is not an
    active user."""
    row = (await session.execute(_RELATION, {
        "viewer_id": _NOBODY if viewer_id is None else viewer_id, "owner_id": owner_id,
    })).first()
    if row is None:
        return None
    return Relation(viewer_id, owner_id, owner_private=row.is_private,
                    viewer_follows=row.follows, owner_blocked_viewer=row.blocked_by_owner,
                    viewer_blocked_owner=row.blocks_owner)


async def require_profile(session: AsyncSession, viewer_id: int | None, owner_id: int
                          ) -> Relation:
    """The owner's profile may be shown (404 when they blocked the viewer)."""
    found = await relation(session, viewer_id, owner_id)
    if found is None or found.sight == Sight.none:
        raise NotFound("User not found")
    return found


async def require_content(session: AsyncSession, viewer_id: int | None, owner_id: int
                          ) -> Relation:
    """The owner's posts, stories, followers and following may be shown (404 when
    they blocked the viewer, 403 for a private account's stranger)."""
    found = await require_profile(session, viewer_id, owner_id)
    if found.sight == Sight.profile_only:
        raise Forbidden("This account is private")
    return found


#: the two users of a contact, locked against a concurrent block (which takes FOR UPDATE)
_LOCK_PAIR = text("SELECT id FROM users WHERE id = ANY(:ids) ORDER BY id FOR KEY SHARE")


async def require_post_access(session: AsyncSession, viewer_id: int | None, author_id: int,
                              *, contact: bool = False) -> None:
    """A post of ``author_id`` may be seen (else 404), and with ``contact`` liked or
    commented (403 when either blocked the other).

    With ``contact`` both users are locked first (``FOR KEY SHARE``, in id order), as a
    block locks them ``FOR UPDATE``: a block and a like or comment between the two are
    one after the other, never both deciding at once. A block that commits first is
    seen here (the check reads after the lock); a like or comment that locked first
    commits before the block does."""
    if viewer_id == author_id:
        return
    if contact and viewer_id is not None:
        await session.execute(_LOCK_PAIR, {"ids": sorted((viewer_id, author_id))})
    found = await relation(session, viewer_id, author_id)
    if contact:
        _require_contact(found)
    elif found is None or found.sight != Sight.full:
        raise NotFound("Post not found")


@dataclass(frozen=True)
class MessageStanding:
    """What a message between two users needs: both active, no block between them."""

    sender_active: bool
    receiver_active: bool
    blocked: bool


_MESSAGE_STANDING = Statement("audience.message_standing", """
    SELECT coalesce((SELECT is_active FROM users WHERE id = $1), false) AS sender_active,
           coalesce((SELECT is_active FROM users WHERE id = $2), false) AS receiver_active,
           EXISTS (SELECT 1 FROM blocks
                   WHERE (blocker_id = $1 AND blocked_id = $2)
                      OR (blocker_id = $2 AND blocked_id = $1)) AS blocked""")


async def message_standing(q: Queries, sender_id: int, receiver_id: int) -> MessageStanding:
    """Whether a message may go from the sender to the receiver, in one statement."""
    row = await q.fetchrow(_MESSAGE_STANDING, sender_id, receiver_id)
    assert row is not None  # one row always
    return MessageStanding(row["sender_active"], row["receiver_active"], row["blocked"])
