"""core's blocks and account privacy as social applies them to what a viewer sees.

A block edge is kept with ``active = false`` after an unblock, at its ``seq``,
so a late, older block event cannot revive it (like the follow edges)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, not_, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from social_service.models import BlockEdge, FollowEdge, UserProjection
from social_service.projections.tombstones import any_user_deleted


async def apply(session: AsyncSession, *, blocker_id: int, blocked_id: int, blocks: bool,
                seq: int) -> None:
    """Record a block (``blocks``) or an unblock at ``seq``, unless the edge holds a
    newer one. A block of or by a deleted user (queued when purge_user ran) changes
    nothing: the purge ended that user's blocks, and core deleted them with the account."""
    if blocks and await any_user_deleted(session, [blocker_id, blocked_id]):
        return
    values = {"active": blocks, "version": seq}
    stmt = pg_insert(BlockEdge).values(blocker_id=blocker_id, blocked_id=blocked_id, **values)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=[BlockEdge.blocker_id, BlockEdge.blocked_id], set_=values,
        where=BlockEdge.version < stmt.excluded.version))


async def deactivate_edges_of(session: AsyncSession, user_id: int) -> None:
    """A purged user's blocks end (core deletes them with the account)."""
    await session.execute(update(BlockEdge)
                          .where(or_(BlockEdge.blocker_id == user_id,
                                     BlockEdge.blocked_id == user_id))
                          .values(active=False))


def blocked(blocker: ColumnElement[int] | int, blocked_: ColumnElement[int] | int
            ) -> ColumnElement[bool]:
    """``blocker`` blocked ``blocked_`` (to use in a query)."""
    return exists().where(BlockEdge.blocker_id == blocker, BlockEdge.blocked_id == blocked_,
                          BlockEdge.active)


def either_blocked(a: ColumnElement[int] | int, b: ColumnElement[int] | int
                   ) -> ColumnElement[bool]:
    """Either of the two blocked the other (to use in a query)."""
    return or_(blocked(a, b), blocked(b, a))


def sees_content_of(viewer_id: int, owner: ColumnElement[int]) -> ColumnElement[bool]:
    """The viewer may see the owner's posts and stories: their own, or the owner did
    not block them and is public or followed by them (to use in a query)."""
    private = exists().where(UserProjection.id == owner, UserProjection.is_private)
    follows = exists().where(FollowEdge.follower_id == viewer_id,
                             FollowEdge.followee_id == owner, FollowEdge.active)
    return or_(owner == viewer_id,
               and_(not_(blocked(owner, viewer_id)), or_(not_(private), follows)))
