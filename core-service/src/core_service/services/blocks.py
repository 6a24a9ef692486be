"""Blocking: the block itself, what it removes (follows both ways, pending follow
requests both ways) and its events."""

from __future__ import annotations

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import Block, FollowRequest, User
from core_service.services import follows
from instasaga.messages import UserBlocked, UserUnblocked
from instasaga.services import CORE
from shared_lib.errors import BadRequest
from shared_lib.outbox import publish_event


async def block(session: AsyncSession, blocker: User, blocked_id: int) -> None:
    """Block a user (idempotent): follows and follow requests between the two end."""
    if blocked_id == blocker.id:
        raise BadRequest("You cannot block yourself")
    pair = await follows.lock_pair(session, blocker, blocked_id)
    inserted = await session.scalar(
        pg_insert(Block).values(blocker_id=blocker.id, blocked_id=blocked_id)
        .on_conflict_do_nothing().returning(Block.blocked_id))
    if inserted is None:
        return
    await follows.remove_edge(session, blocker.id, pair.usernames[blocker.id], blocked_id)
    await follows.remove_edge(session, blocked_id, pair.usernames[blocked_id], blocker.id)
    await session.execute(delete(FollowRequest).where(or_(
        and_(FollowRequest.requester_id == blocker.id, FollowRequest.target_id == blocked_id),
        and_(FollowRequest.requester_id == blocked_id, FollowRequest.target_id == blocker.id))))
    await publish_event(session, UserBlocked(
        seq=await follows.next_seq(session), blocker_id=blocker.id, blocked_id=blocked_id),
        source=CORE)


async def unblock(session: AsyncSession, blocker: User, blocked_id: int) -> None:
    """Lift a block (idempotent; nothing that it removed comes back)."""
    if blocked_id == blocker.id:
        raise BadRequest("You cannot block yourself")
    removed = await session.scalar(
        delete(Block).where(Block.blocker_id == blocker.id, Block.blocked_id == blocked_id)
        .returning(Block.blocked_id))
    if removed is not None:
        await publish_event(session, UserUnblocked(
            seq=await follows.next_seq(session), blocker_id=blocker.id,
            blocked_id=blocked_id), source=CORE)


async def blocked_by(session: AsyncSession, user_id: int, limit: int, offset: int
                     ) -> list[User]:
    """The users ``user_id`` blocked, the latest first."""
    return list((await session.execute(
        select(User).join(Block, Block.blocked_id == User.id)
        .where(Block.blocker_id == user_id, User.is_active)
        .order_by(Block.created_at.desc(), User.id).limit(limit).offset(offset)
    )).scalars())
