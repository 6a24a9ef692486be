"""Following and unfollowing, with exact counters on both users."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import Follow, User, follow_event_seq
from core_service.services.errors import BadRequest, NotFound
from shared_lib.contracts import CORE
from shared_lib.contracts.messages import UserFollowed, UserUnfollowed
from shared_lib.outbox import publish_event


async def _lock_pair(session: AsyncSession, follower: User, followee_id: int) -> None:
    """Lock both users in id order (no deadlock between A→B and B→A)."""
    if followee_id == follower.id:
        raise BadRequest("You cannot follow yourself")
    rows = (await session.execute(
        select(User.id, User.is_active).where(User.id.in_([follower.id, followee_id]))
        .order_by(User.id).with_for_update()
    )).all()
    if not any(r.id == followee_id and r.is_active for r in rows):
        raise NotFound("User not found")


async def _counts(session: AsyncSession, follower_id: int, followee_id: int, delta: int) -> None:
    await session.execute(update(User).where(User.id == follower_id)
                          .values(following_count=User.following_count + delta))
    await session.execute(update(User).where(User.id == followee_id)
                          .values(follower_count=User.follower_count + delta))


async def follow(session: AsyncSession, follower: User, followee_id: int) -> None:
    await _lock_pair(session, follower, followee_id)
    inserted = await session.scalar(
        pg_insert(Follow).values(follower_id=follower.id, followee_id=followee_id)
        .on_conflict_do_nothing().returning(Follow.followee_id))
    if inserted is None:
        return  # already following: nothing changes, no event
    await _counts(session, follower.id, followee_id, 1)
    seq = await session.scalar(follow_event_seq.next_value())
    await publish_event(session, UserFollowed(
        seq=seq, follower_id=follower.id, follower_username=follower.username,
        followee_id=followee_id), source=CORE)


async def unfollow(session: AsyncSession, follower: User, followee_id: int) -> None:
    await _lock_pair(session, follower, followee_id)
    deleted = await session.scalar(
        delete(Follow).where(Follow.follower_id == follower.id,
                             Follow.followee_id == followee_id)
        .returning(Follow.followee_id))
    if deleted is None:
        return
    await _counts(session, follower.id, followee_id, -1)
    seq = await session.scalar(follow_event_seq.next_value())
    await publish_event(session, UserUnfollowed(
        seq=seq, follower_id=follower.id, follower_username=follower.username,
        followee_id=followee_id), source=CORE)
