"""Following and unfollowing, with exact counters on both users; followers and
following lists; the removal of a deleted account's follows."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import Follow, User, follow_event_seq
from core_service.services.users import require_active
from shared_lib.contracts import CORE
from shared_lib.contracts.messages import UserFollowed, UserUnfollowed
from shared_lib.errors import BadRequest, Forbidden, NotFound
from shared_lib.outbox import publish_event


async def _lock_pair(session: AsyncSession, follower: User, followee_id: int) -> None:
    """Lock both users in id order (no deadlock between A→B and B→A), then check
    under the lock that both are active: the follower was loaded before, and a
    delete_account saga may have deactivated (or deleted) them since, which
    would leave an edge (and its event) behind the saga's unfollows."""
    if followee_id == follower.id:
        raise BadRequest("You cannot follow yourself")
    rows = (await session.execute(
        select(User.id, User.is_active).where(User.id.in_([follower.id, followee_id]))
        .order_by(User.id).with_for_update()
    )).all()
    active = {r.id for r in rows if r.is_active}
    if follower.id not in active:
        raise Forbidden("Your account is deactivated")
    if followee_id not in active:
        raise NotFound("User not found")


async def _add_following(session: AsyncSession, user_ids: Sequence[int], delta: int
                         ) -> dict[int, str]:
    """Add ``delta`` to the users' ``following_count``; their usernames by id."""
    rows = (await session.execute(
        update(User).where(User.id.in_(user_ids))
        .values(following_count=User.following_count + delta)
        .returning(User.id, User.username))).all()
    return {r.id: r.username for r in rows}


async def _add_followers(session: AsyncSession, user_ids: Sequence[int], delta: int) -> None:
    await session.execute(update(User).where(User.id.in_(user_ids))
                          .values(follower_count=User.follower_count + delta))


async def _counts(session: AsyncSession, follower_id: int, followee_id: int, delta: int) -> None:
    await _add_following(session, [follower_id], delta)
    await _add_followers(session, [followee_id], delta)


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


async def _people(session: AsyncSession, user_id: int, followers: bool, limit: int,
                  offset: int) -> list[User]:
    await require_active(session, user_id)
    mine, theirs = ((Follow.followee_id, Follow.follower_id) if followers
                    else (Follow.follower_id, Follow.followee_id))
    return list((await session.execute(
        select(User).join(Follow, theirs == User.id)
        .where(mine == user_id, User.is_active)
        .order_by(Follow.created_at.desc(), User.id).limit(limit).offset(offset)
    )).scalars())


async def followers(session: AsyncSession, user_id: int, limit: int, offset: int
                    ) -> list[User]:
    """The active users who follow an active user, the latest first."""
    return await _people(session, user_id, True, limit, offset)


async def following(session: AsyncSession, user_id: int, limit: int, offset: int
                    ) -> list[User]:
    """The active users an active user follows, the latest first."""
    return await _people(session, user_id, False, limit, offset)


async def remove_all_follows(session: AsyncSession, user_id: int, username: str
                             ) -> list[UserUnfollowed]:
    """Remove the user's follows both ways and correct the other users' counters;
    a ``user.unfollowed`` to publish for each removed edge, its ``seq`` newer than
    the edge's follow, so social's follow graph converges by events even if a
    follow event was still queued when social purged the user."""
    followee_ids = (await session.execute(
        delete(Follow).where(Follow.follower_id == user_id).returning(Follow.followee_id)
    )).scalars().all()
    follower_ids = (await session.execute(
        delete(Follow).where(Follow.followee_id == user_id).returning(Follow.follower_id)
    )).scalars().all()
    if followee_ids:
        await _add_followers(session, followee_ids, -1)
    names = await _add_following(session, follower_ids, -1) if follower_ids else {}
    edges = [(user_id, username, f) for f in sorted(followee_ids)]
    edges += [(f, names[f], user_id) for f in sorted(follower_ids)]
    if not edges:
        return []
    seqs = (await session.execute(
        select(follow_event_seq.next_value())
        .select_from(func.generate_series(1, len(edges))))).scalars().all()
    return [UserUnfollowed(seq=seq, follower_id=follower_id,
                           follower_username=follower_username, followee_id=followee_id)
            for (follower_id, follower_username, followee_id), seq
            in zip(edges, sorted(seqs), strict=True)]
