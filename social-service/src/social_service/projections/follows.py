"""core's follow graph as social keeps it (for the story feed). An unfollow
keeps the edge with ``active = false`` at its ``seq``, so that a late, older
follow event cannot revive it."""

from __future__ import annotations

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from instasaga.messages import UserFollowed, UserUnfollowed
from shared_lib.messaging.consumer import MessageContext
from shared_lib.messaging.inbox import claimed
from social_service.models import FollowEdge
from social_service.services import notifications

#: a follow ($3) or an unfollow at ``seq`` ($4), unless the edge holds a newer one, with
#: the claim of the message, in one statement; a follow of or by a deleted user
#: (queued when purge_user ran) changes nothing, the users read FOR SHARE in id order
#: first (core's unfollow for that pair follows anyway)
_APPLY_CLAIMED = claimed("follows.apply_claimed", before="""
    gone AS MATERIALIZED (
        SELECT coalesce(bool_or(u.deleted), false) AS deleted FROM (
            SELECT deleted FROM users
            WHERE $3 AND id IN ($1, $2) AND EXISTS (SELECT 1 FROM claim)
            ORDER BY id FOR SHARE) u)""", effect="""
    INSERT INTO follows (follower_id, followee_id, active, version)
    SELECT $1, $2, $3, $4 FROM claim WHERE NOT (SELECT deleted FROM gone)
    ON CONFLICT (follower_id, followee_id) DO UPDATE
    SET active = excluded.active, version = excluded.version
    WHERE follows.version < excluded.version""")


async def unfollow_claimed(ctx: MessageContext, event: UserUnfollowed) -> None:
    """Record an unfollow (see ``_APPLY_CLAIMED``) and claim the message being
    handled, in one statement."""
    await ctx.claimed(_APPLY_CLAIMED, event.follower_id, event.followee_id, False, event.seq)


#: a follow: the edge as ``_APPLY_CLAIMED`` records it ($3 follower, $2 followee, $7
#: seq) and the follow's notification (:func:`notifications.follow_notice`), with the
#: claim, in one statement; the users read FOR SHARE in id order first
_FOLLOW_CLAIMED = notifications.claimed_notification("follows.follow_claimed", effects="""
    edge AS (
        INSERT INTO follows (follower_id, followee_id, active, version)
        SELECT $3, $2, true, $7 FROM claim WHERE NOT (SELECT deleted FROM gone)
        ON CONFLICT (follower_id, followee_id) DO UPDATE
        SET active = excluded.active, version = excluded.version
        WHERE follows.version < excluded.version)""")


async def follow_claimed(ctx: MessageContext, event: UserFollowed) -> None:
    """Record a follow and notify the user followed, and claim the message being
    handled, in one statement."""
    await ctx.claimed(_FOLLOW_CLAIMED, *notifications.follow_notice(event).args())


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
