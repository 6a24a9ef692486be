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

#: an unfollow at ``seq`` ($3), unless the edge holds a newer follow or unfollow, with
#: the claim of the message, in one statement ($1 follower, $2 followee)
_UNFOLLOW_CLAIMED = claimed("follows.unfollow_claimed", """
    INSERT INTO follows (follower_id, followee_id, active, version)
    SELECT $1, $2, false, $3 FROM claim
    ON CONFLICT (follower_id, followee_id) DO UPDATE
    SET active = excluded.active, version = excluded.version
    WHERE follows.version < excluded.version""")


async def unfollow_claimed(ctx: MessageContext, event: UserUnfollowed) -> None:
    """Record an unfollow and claim the message being handled, in one statement."""
    await ctx.claimed(_UNFOLLOW_CLAIMED, event.follower_id, event.followee_id, event.seq)


#: a follow ($3 follower, $2 followee, at ``seq`` $7) unless the edge holds a newer one,
#: and the follow's notification (:func:`notifications.follow_notice`), with the claim,
#: in one statement; the users read FOR SHARE in id order first, and a follow of or by
#: a deleted user (queued when purge_user ran) changes nothing
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
