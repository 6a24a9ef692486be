"""core's follow graph as social keeps it (for the story feed). An unfollow
keeps the edge with ``active = false`` at its ``seq``, so that a late, older
follow event cannot revive it."""

from __future__ import annotations

from sqlalchemy import Select, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared_lib.database import Queries, Statement, Transaction
from social_service.models import FollowEdge
from social_service.projections.tombstones import any_user_deleted

_APPLY_DIRECT = Statement("follows.apply", """
    INSERT INTO follows (follower_id, followee_id, active, version) VALUES ($1, $2, $3, $4)
    ON CONFLICT (follower_id, followee_id) DO UPDATE
    SET active = excluded.active, version = excluded.version
    WHERE follows.version < excluded.version""")


async def apply(tx: Transaction, *, follower_id: int, followee_id: int, follows: bool,
                seq: int) -> None:
    """Record a follow (``follows``) or an unfollow at ``seq``, unless the edge
    holds a newer one. A follow of or by a deleted user (queued when
    purge_user ran) changes nothing: core's unfollow for that pair follows anyway."""
    if follows and await any_user_deleted(tx, [follower_id, followee_id]):
        return
    if isinstance(tx, Queries):
        await tx.execute(_APPLY_DIRECT, follower_id, followee_id, follows, seq)
        return
    session = tx
    values = {"active": follows, "version": seq}
    stmt = pg_insert(FollowEdge).values(follower_id=follower_id, followee_id=followee_id,
                                        **values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[FollowEdge.follower_id, FollowEdge.followee_id], set_=values,
            where=FollowEdge.version < stmt.excluded.version,
        )
    )


def followees_of(user_id: int) -> Select[tuple[int]]:
    """The query of the users ``user_id`` follows (to use in another query)."""
    return select(FollowEdge.followee_id).where(FollowEdge.follower_id == user_id,
                                                FollowEdge.active)


async def deactivate_edges_of(session: AsyncSession, user_id: int) -> None:
    """Every edge from or to ``user_id`` becomes inactive (kept, at its ``seq``)."""
    await session.execute(update(FollowEdge)
                          .where(or_(FollowEdge.follower_id == user_id,
                                     FollowEdge.followee_id == user_id))
                          .values(active=False))
