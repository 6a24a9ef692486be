"""Following and unfollowing, with exact counters on both users; followers and
following lists; the removal of a deleted account's follows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import Follow, FollowRequest, User, follow_event_seq
from core_service.services.users import TOKEN_HOLDER_CTE, AccessToken, require_active
from instasaga.messages import FollowAccepted, FollowRequested, UserFollowed, UserUnfollowed
from instasaga.services import CORE
from shared_lib.database import Queries, Statement
from shared_lib.errors import BadRequest, Forbidden, NotFound, Unauthorized
from shared_lib.outbox import publish_event, write_events


@dataclass(frozen=True)
class Pair:
    """Two users locked together, with what a follow between them needs."""

    usernames: dict[int, str]
    private: dict[int, bool]


async def lock_pair(session: AsyncSession, user: User, other_id: int) -> Pair:
    """Lock both users in id order (no deadlock between A→B and B→A), then check
    under the lock that both are active: ``user`` was loaded before, and a
    delete_account saga may have deactivated (or deleted) them since, which
    would leave an edge (and its event) behind the saga's unfollows."""
    rows = (await session.execute(
        select(User.id, User.is_active, User.username, User.is_private)
        .where(User.id.in_([user.id, other_id]))
        .order_by(User.id).with_for_update()
    )).all()
    active = {r.id for r in rows if r.is_active}
    if user.id not in active:
        raise Forbidden("Your account is deactivated")
    if other_id not in active:
        raise NotFound("User not found")
    return Pair({r.id: r.username for r in rows}, {r.id: r.is_private for r in rows})


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


async def next_seq(session: AsyncSession) -> int:
    """The next ordering key of a follow, follow request or block event."""
    return int(await session.scalar(follow_event_seq.next_value()))  # type: ignore[arg-type]


async def add_edge(session: AsyncSession, follower_id: int, follower_username: str,
                   followee_id: int) -> bool:
    """Create the edge, count it and announce it; False when it exists."""
    inserted = await session.scalar(
        pg_insert(Follow).values(follower_id=follower_id, followee_id=followee_id)
        .on_conflict_do_nothing().returning(Follow.followee_id))
    if inserted is None:
        return False
    await _counts(session, follower_id, followee_id, 1)
    await publish_event(session, UserFollowed(
        seq=await next_seq(session), follower_id=follower_id,
        follower_username=follower_username, followee_id=followee_id), source=CORE)
    return True


async def remove_edge(session: AsyncSession, follower_id: int, follower_username: str,
                      followee_id: int) -> bool:
    """Delete the edge, uncount it and announce it; False when there was none."""
    deleted = await session.scalar(
        delete(Follow).where(Follow.follower_id == follower_id,
                             Follow.followee_id == followee_id)
        .returning(Follow.followee_id))
    if deleted is None:
        return False
    await _counts(session, follower_id, followee_id, -1)
    await publish_event(session, UserUnfollowed(
        seq=await next_seq(session), follower_id=follower_id,
        follower_username=follower_username, followee_id=followee_id), source=CORE)
    return True


@dataclass(frozen=True)
class FollowState:
    following: bool
    requested: bool = False


#: a follow's first statement: the token's check, then both users locked FOR UPDATE in
#: id order (as ``lock_pair``); no row of the token's user when the token is not good
#: ($4: the user to follow)
_LOCK_PAIR_FOR = Statement("follows.lock_pair", f"""
    WITH {TOKEN_HOLDER_CTE}
    SELECT u.id, u.is_active, u.username, u.is_private FROM users u
    WHERE u.id IN ($1, $4) AND EXISTS (SELECT 1 FROM holder)
    ORDER BY u.id FOR UPDATE OF u""")

#: a follow of a public account (an edge) or a request to follow a private one, unless
#: the two are in a block or the edge exists, with both counters and the event's
#: ``seq`` when something was made ($1 follower, $2 followee, $3 followee is private)
_FOLLOW = Statement("follows.follow", """
    WITH blocked AS (
        SELECT EXISTS (SELECT 1 FROM blocks
                       WHERE (blocker_id = $1 AND blocked_id = $2)
                          OR (blocker_id = $2 AND blocked_id = $1)) AS b
    ), already AS (
        SELECT EXISTS (SELECT 1 FROM follows
                       WHERE follower_id = $1 AND followee_id = $2) AS f
    ), edge AS (
        INSERT INTO follows (follower_id, followee_id)
        SELECT $1, $2 WHERE NOT $3 AND NOT (SELECT b FROM blocked)
        ON CONFLICT DO NOTHING RETURNING 1
    ), request AS (
        INSERT INTO follow_requests (requester_id, target_id)
        SELECT $1, $2 WHERE $3 AND NOT (SELECT b FROM blocked) AND NOT (SELECT f FROM already)
        ON CONFLICT DO NOTHING RETURNING 1
    ), following AS (
        UPDATE users SET following_count = following_count + 1
        WHERE id = $1 AND EXISTS (SELECT 1 FROM edge)
    ), followers AS (
        UPDATE users SET follower_count = follower_count + 1
        WHERE id = $2 AND EXISTS (SELECT 1 FROM edge)
    )
    SELECT (SELECT b FROM blocked) AS blocked, (SELECT f FROM already) AS already,
           EXISTS (SELECT 1 FROM edge) AS followed, EXISTS (SELECT 1 FROM request) AS asked,
           CASE WHEN EXISTS (SELECT 1 FROM edge) OR EXISTS (SELECT 1 FROM request)
                THEN nextval('follow_event_seq') END AS seq""")


async def follow(q: Queries, token: AccessToken, followee_id: int) -> FollowState:
    """Follow a public account, or ask to follow a private one (its owner approves).
    Three statements in the caller's transaction: the token and both users locked,
    the follow or request with its counters, the event (when one was made)."""
    if followee_id == token.user_id:
        raise BadRequest("You cannot follow yourself")
    rows = {r["id"]: r for r in await q.fetch(_LOCK_PAIR_FOR, token.user_id,
                                               token.token_version, token.session_id,
                                               followee_id)}
    me, them = rows.get(token.user_id), rows.get(followee_id)
    if me is None:
        raise Unauthorized
    if not me["is_active"]:  # deactivated while this request waited for the lock
        raise Forbidden("Your account is deactivated")
    if them is None or not them["is_active"]:
        raise NotFound("User not found")
    private = them["is_private"]
    done = await q.fetchrow(_FOLLOW, token.user_id, followee_id, private)
    assert done is not None  # one row always
    if done["blocked"]:
        raise Forbidden("You cannot follow this user")
    if done["followed"]:
        await write_events(q, [UserFollowed(
            seq=done["seq"], follower_id=token.user_id, follower_username=me["username"],
            followee_id=followee_id)], source=CORE)
    elif done["asked"]:
        await write_events(q, [FollowRequested(
            seq=done["seq"], requester_id=token.user_id, requester_username=me["username"],
            target_id=followee_id)], source=CORE)
    if private and not done["already"]:
        return FollowState(following=False, requested=True)
    return FollowState(following=True)


async def unfollow(session: AsyncSession, follower: User, followee_id: int) -> None:
    """Stop following, or withdraw a pending request."""
    if followee_id == follower.id:
        raise BadRequest("You cannot follow yourself")
    await lock_pair(session, follower, followee_id)
    await session.execute(delete(FollowRequest).where(
        FollowRequest.requester_id == follower.id, FollowRequest.target_id == followee_id))
    await remove_edge(session, follower.id, follower.username, followee_id)


# ------------------------------------------------------------ follow requests
async def requests_to(session: AsyncSession, user_id: int, limit: int, offset: int
                      ) -> list[User]:
    """The users waiting for ``user_id`` to approve them, oldest first."""
    return list((await session.execute(
        select(User).join(FollowRequest, FollowRequest.requester_id == User.id)
        .where(FollowRequest.target_id == user_id, User.is_active)
        .order_by(FollowRequest.created_at, User.id).limit(limit).offset(offset)
    )).scalars())


async def _take_request(session: AsyncSession, owner: User, requester_id: int) -> Pair:
    pair = await lock_pair(session, owner, requester_id)
    taken = await session.scalar(
        delete(FollowRequest).where(FollowRequest.requester_id == requester_id,
                                    FollowRequest.target_id == owner.id)
        .returning(FollowRequest.requester_id))
    if taken is None:
        raise NotFound("No such follow request")
    return pair


async def _accept(session: AsyncSession, owner_id: int, owner_username: str,
                  requester_id: int, requester_username: str) -> None:
    await add_edge(session, requester_id, requester_username, owner_id)
    await publish_event(session, FollowAccepted(
        seq=await next_seq(session), requester_id=requester_id, target_id=owner_id,
        target_username=owner_username), source=CORE)


async def approve(session: AsyncSession, owner: User, requester_id: int) -> None:
    pair = await _take_request(session, owner, requester_id)
    await _accept(session, owner.id, owner.username, requester_id,
                  pair.usernames[requester_id])


async def decline(session: AsyncSession, owner: User, requester_id: int) -> None:
    await _take_request(session, owner, requester_id)


async def approve_all(session: AsyncSession, owner_id: int, owner_username: str) -> None:
    """Approve every pending request (the account went public), oldest first."""
    rows = (await session.execute(
        delete(FollowRequest).where(FollowRequest.target_id == owner_id)
        .returning(FollowRequest.requester_id, FollowRequest.created_at))).all()
    if not rows:
        return
    names = dict((await session.execute(
        select(User.id, User.username).where(User.id.in_([r.requester_id for r in rows]),
                                             User.is_active))).all())
    for row in sorted(rows, key=lambda r: (r.created_at, r.requester_id)):
        if row.requester_id in names:
            await _accept(session, owner_id, owner_username, row.requester_id,
                          names[row.requester_id])


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


#: a deleted account's follows both ways, removed in one statement: the edges deleted;
#: each other user's counters corrected by one update of their row (one who both
#: followed the account and was followed by it loses a follower and a following),
#: the rows locked in the order of the former two updates (first the users the
#: account followed, then the others who followed it, each set in id order); a
#: ``seq`` drawn for each edge; and each edge's follower's username where the follower
#: is not the account ($1 the account)
_REMOVE_ALL_FOLLOWS = Statement("follows.remove_all", """
    WITH gone AS (
        DELETE FROM follows WHERE follower_id = $1 OR followee_id = $1
        RETURNING follower_id, followee_id
    ), others AS (
        SELECT other, sum(followers)::int AS followers, sum(following)::int AS following
        FROM (SELECT followee_id AS other, 1 AS followers, 0 AS following
              FROM gone WHERE follower_id = $1
              UNION ALL
              SELECT follower_id, 0, 1 FROM gone WHERE followee_id = $1 AND follower_id <> $1
             ) AS edge
        GROUP BY other
    ), locked AS (
        SELECT u.id, others.followers, others.following
        FROM users u JOIN others ON others.other = u.id
        ORDER BY others.followers DESC, u.id FOR UPDATE OF u
    ), changed AS (
        UPDATE users SET follower_count = users.follower_count - locked.followers,
                         following_count = users.following_count - locked.following
        FROM locked WHERE users.id = locked.id
        RETURNING users.id, users.username
    )
    SELECT gone.follower_id, gone.followee_id, changed.username AS follower_username,
           nextval('follow_event_seq') AS seq
    FROM gone LEFT JOIN changed ON changed.id = gone.follower_id""")


async def remove_all_follows(q: Queries, user_id: int, username: str
                             ) -> list[UserUnfollowed]:
    """Remove the user's follows both ways and correct the other users' counters;
    a ``user.unfollowed`` to publish for each removed edge, its ``seq`` newer than
    the edge's follow, so social's follow graph converges by events even if a
    follow event was still queued when social purged the user. One statement."""
    rows = await q.fetch(_REMOVE_ALL_FOLLOWS, user_id)
    if not rows:
        return []
    followee_ids = sorted(r["followee_id"] for r in rows if r["follower_id"] == user_id)
    names = {r["follower_id"]: r["follower_username"] for r in rows
             if r["follower_id"] != user_id}
    edges = [(user_id, username, f) for f in followee_ids]
    edges += [(f, names[f], user_id) for f in sorted(names)]
    return [UserUnfollowed(seq=seq, follower_id=follower_id,
                           follower_username=follower_username, followee_id=followee_id)
            for (follower_id, follower_username, followee_id), seq
            in zip(edges, sorted(r["seq"] for r in rows), strict=True)]
