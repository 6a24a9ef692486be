"""Notifications: recording the facts that notify someone, and a user's own list.

Each notification has a ``dedupe_key`` naming the fact it reports, so the
same fact never notifies twice; ``seq`` decides which of two records of the
same fact (a like and an unlike) is the newer one. Nothing notifies to or
from a deleted user, nor about a deleted post (see
:mod:`social_service.projections.tombstones`); a fact about a post being deleted
(withdrawn) is recorded hidden and withdrawn, and shows if the post is
restored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from instasaga.messages import (
    CommentAdded,
    FollowAccepted,
    FollowRequested,
    PostLiked,
    PostPublished,
    PostUnliked,
    UserFollowed,
)
from shared_lib.database import Queries, Statement, Transaction
from shared_lib.errors import NotFound
from shared_lib.messaging.consumer import MessageContext
from shared_lib.messaging.inbox import claimed
from social_service.domain.mentions import extract_mentions
from social_service.models import (
    POST_NOTIFICATION_TYPES,
    Notification,
    NotificationType,
    PostProjection,
    UserProjection,
)
from social_service.projections import blocks
from social_service.projections.tombstones import PostState, post_state


def _upsert() -> Any:
    stmt = pg_insert(Notification).values(
        dedupe_key=bindparam("dedupe_key"), user_id=bindparam("user_id"),
        actor_id=bindparam("actor_id"), type=bindparam("type"),
        reference_id=bindparam("reference_id"), message=bindparam("message"),
        seq=bindparam("seq"), hidden=bindparam("hidden"), withdrawn=bindparam("withdrawn"))
    return stmt.on_conflict_do_update(
        index_elements=[Notification.dedupe_key],
        set_={"hidden": stmt.excluded.hidden, "withdrawn": stmt.excluded.withdrawn,
              "seq": stmt.excluded.seq, "message": stmt.excluded.message},
        where=Notification.seq < stmt.excluded.seq)


#: built once: every like, comment, follow and message notifies through it
_NOTIFY = _upsert()
#: the users of an event without mentions, FOR SHARE in id order (built once)
_INVOLVED = (select(UserProjection.id, UserProjection.username, UserProjection.deleted)
             .where(UserProjection.id.in_(bindparam("ids", expanding=True)))
             .order_by(UserProjection.id).with_for_update(read=True))


_NOTIFY_DIRECT = Statement("notifications.notify", """
    INSERT INTO notifications (dedupe_key, user_id, actor_id, type, reference_id, message,
                               seq, hidden, withdrawn)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    ON CONFLICT (dedupe_key) DO UPDATE
    SET hidden = excluded.hidden, withdrawn = excluded.withdrawn, seq = excluded.seq,
        message = excluded.message
    WHERE notifications.seq < excluded.seq""")
#: ``_INVOLVED`` ($1 ids), and with the users a text mentions ($2 lower-case names)
_INVOLVED_DIRECT = Statement("notifications.involved", """
    SELECT id, username, deleted FROM users WHERE id = ANY($1::bigint[])
    ORDER BY id FOR SHARE""")
_INVOLVED_OR_NAMED = Statement("notifications.involved_or_named", """
    SELECT id, username, deleted FROM users
    WHERE id = ANY($1::bigint[]) OR lower(username) = ANY($2::text[])
    ORDER BY id FOR SHARE""")
#: which of the users ($1) are in a block with the actor ($2)
_CUT_OFF_DIRECT = Statement("notifications.cut_off", """
    SELECT u FROM unnest($1::bigint[]) AS u
    WHERE EXISTS (SELECT 1 FROM blocks b WHERE b.active
                  AND ((b.blocker_id = u AND b.blocked_id = $2)
                       OR (b.blocker_id = $2 AND b.blocked_id = u)))""")


async def notify(tx: Transaction, *, user_id: int, actor_id: int, type_: NotificationType,
                 reference_id: int | None, message: str, dedupe_key: str, seq: int = 0,
                 hidden: bool = False, withdrawn: bool = False) -> None:
    """Create (or, for a newer ``seq``, update) the notification of one fact;
    a ``withdrawn`` one stays hidden until its post is restored."""
    if isinstance(tx, Queries):
        await tx.execute(_NOTIFY_DIRECT, dedupe_key, user_id, actor_id, type_.value,
                         reference_id, message, seq, hidden or withdrawn, withdrawn)
        return
    await tx.execute(_NOTIFY, {
        "dedupe_key": dedupe_key, "user_id": user_id, "actor_id": actor_id,
        "type": type_.value, "reference_id": reference_id, "message": message, "seq": seq,
        "hidden": hidden or withdrawn, "withdrawn": withdrawn})


def claimed_notification(name: str, *, post: str = "", effects: str = "") -> Statement:
    """The whole of an event that notifies one user about one fact, with its inbox
    claim, as one statement: nothing when the message is a duplicate, one of the
    involved users ($9) is deleted, or the post it is about ($10, none for NULL) is
    deleted, or $12 is false (a like of one's own post); a post being deleted makes
    it withdrawn when $11 says so. Locks as the transaction of :func:`involved`,
    :func:`live_post` and :func:`notify` would: the claim, the users FOR SHARE in id
    order, then the post ($1..$8 as in ``_NOTIFY_DIRECT``).

    An event that also keeps a projection does that in the same statement, so that
    it has one consumer (one delivery, one claim): ``post`` replaces the read of the
    post (an UPDATE of one of its counters, after the users, returning ``published,
    version, deleted``), ``effects`` adds data-modifying CTEs (the follow edge).
    Their own parameters come after $12."""
    post = post.strip() or """
        SELECT published, version, deleted FROM posts
        WHERE id = $10 AND NOT (SELECT deleted FROM gone) FOR SHARE"""
    extra = f",\n    {effects.strip()}" if effects.strip() else ""
    return claimed(name, before=f"""
    gone AS MATERIALIZED (
        SELECT coalesce(bool_or(u.deleted), false) AS deleted FROM (
            SELECT deleted FROM users
            WHERE id = ANY($9::bigint[]) AND EXISTS (SELECT 1 FROM claim)
            ORDER BY id FOR SHARE) u),
    post AS MATERIALIZED ({post}),
    state AS (
        SELECT EXISTS (SELECT 1 FROM post WHERE NOT published AND version <> 0
                       AND deleted) AS deleted,
               $11::boolean AND EXISTS (SELECT 1 FROM post WHERE NOT published
                                        AND version <> 0 AND NOT deleted) AS withdrawn){extra}""",
    effect="""
    INSERT INTO notifications (dedupe_key, user_id, actor_id, type, reference_id, message,
                               seq, hidden, withdrawn)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8 OR state.withdrawn, state.withdrawn
    FROM claim, gone, state
    WHERE $12::boolean AND NOT gone.deleted AND NOT state.deleted
    ON CONFLICT (dedupe_key) DO UPDATE
    SET hidden = excluded.hidden, withdrawn = excluded.withdrawn, seq = excluded.seq,
        message = excluded.message
    WHERE notifications.seq < excluded.seq""")


_NOTIFY_CLAIMED = claimed_notification("notifications.notify_claimed")


@dataclass(frozen=True)
class Notice:
    """One fact that notifies one user (the parameters of :func:`notify_claimed`)."""

    involved: Sequence[int]
    post_id: int | None
    user_id: int
    actor_id: int
    type: NotificationType
    reference_id: int | None
    message: str
    dedupe_key: str
    seq: int = 0
    hidden: bool = False
    may_withdraw: bool = True
    #: False: the fact notifies nobody (its statement may still keep a projection)
    notifies: bool = True

    def args(self) -> tuple[Any, ...]:
        """$1..$12 of a :func:`claimed_notification` statement."""
        return (self.dedupe_key, self.user_id, self.actor_id, self.type.value,
                self.reference_id, self.message, self.seq, self.hidden,
                sorted(set(self.involved)), self.post_id, self.may_withdraw, self.notifies)


def like_notice(event: PostLiked | PostUnliked) -> Notice:
    """A like notifies the post's author, but not of a like of their own post. An
    unlike hides it, recorded (hidden) even if the like was not seen yet, so that a
    late like stays hidden: ``seq`` decides which is newer."""
    unliked = isinstance(event, PostUnliked)
    return Notice(involved=[event.user_id, event.post_author_id], post_id=event.post_id,
                  user_id=event.post_author_id, actor_id=event.user_id,
                  type=NotificationType.like, reference_id=event.post_id,
                  message=f"{event.username} liked your post",
                  dedupe_key=f"like:{event.post_id}:{event.user_id}", seq=event.seq,
                  hidden=unliked, may_withdraw=not unliked,
                  notifies=event.user_id != event.post_author_id)


def comment_notice(event: CommentAdded) -> Notice:
    """A comment notifies the post's author, but not of a comment of their own."""
    return Notice(involved=[event.author_id, event.post_author_id], post_id=event.post_id,
                  user_id=event.post_author_id, actor_id=event.author_id,
                  type=NotificationType.comment, reference_id=event.post_id,
                  message=(f"{event.author_username} commented on your post: "
                           f"{event.content[:100]}"),
                  dedupe_key=f"comment:{event.comment_id}",
                  notifies=event.author_id != event.post_author_id)


def _from_user(type_: NotificationType, *, to: int, by: int, message: str, key: str,
               seq: int) -> Notice:
    """A fact between two users that notifies ``to`` about ``by`` (no post)."""
    return Notice(involved=[to, by], post_id=None, user_id=to, actor_id=by, type=type_,
                  reference_id=by, message=message, dedupe_key=f"{type_.value}:{key}",
                  seq=seq)


def follow_notice(event: UserFollowed) -> Notice:
    """A follow notifies the user followed, once per pair: following again after an
    unfollow notifies nobody."""
    return _from_user(NotificationType.follow, to=event.followee_id, by=event.follower_id,
                      message=f"{event.follower_username} started following you",
                      key=f"{event.follower_id}:{event.followee_id}", seq=event.seq)


def follow_request_notice(event: FollowRequested) -> Notice:
    return _from_user(NotificationType.follow_request, to=event.target_id,
                      by=event.requester_id,
                      message=f"{event.requester_username} asked to follow you",
                      key=f"{event.requester_id}:{event.target_id}", seq=event.seq)


def follow_accepted_notice(event: FollowAccepted) -> Notice:
    return _from_user(NotificationType.follow_accepted, to=event.requester_id,
                      by=event.target_id,
                      message=f"{event.target_username} accepted your follow request",
                      key=f"{event.requester_id}:{event.target_id}", seq=event.seq)


async def notify_claimed(ctx: MessageContext, notice: Notice) -> None:
    """:func:`involved`, :func:`live_post` and :func:`notify` for an event without
    mentions, and the claim of the message being handled, in one statement (see
    :func:`claimed_notification`): nothing if one of the involved users or the post
    is deleted; withdrawn (if ``may_withdraw``) when the post is being deleted."""
    await ctx.claimed(_NOTIFY_CLAIMED, *notice.args())


async def involved(tx: Transaction, user_ids: Iterable[int],
                   text: str | None = None, actor_id: int | None = None) -> list[int] | None:
    """Read the users an event involves, and those its ``text`` mentions, FOR
    SHARE in id order (a purge_user running now finishes first). None when one
    of ``user_ids`` is deleted: the event notifies nobody. Otherwise the ids of
    the mentioned users who are not deleted (one who is only deactivated is
    still notified: the deletion may yet be compensated) and, when ``actor_id``
    wrote the text, not in a block with them."""
    ids, names = set(user_ids), extract_mentions(text)
    rows: list[Any]
    if isinstance(tx, Queries):
        found = (await tx.fetch(_INVOLVED_OR_NAMED, sorted(ids), sorted(names)) if names
                 else await tx.fetch(_INVOLVED_DIRECT, sorted(ids)))
        rows = [(r["id"], r["username"], r["deleted"]) for r in found]
    elif names:
        matches = or_(UserProjection.id.in_(sorted(ids)),
                      func.lower(UserProjection.username).in_(names))
        rows = list((await tx.execute(
            select(UserProjection.id, UserProjection.username, UserProjection.deleted)
            .where(matches).order_by(UserProjection.id).with_for_update(read=True))).all())
    else:
        rows = list((await tx.execute(_INVOLVED, {"ids": sorted(ids)})).all())
    if any(deleted for user_id, _, deleted in rows if user_id in ids):
        return None
    mentioned = [user_id for user_id, username, deleted in rows
                 if not deleted and username.lower() in names]
    if mentioned and actor_id is not None:  # nobody in a block with the text's author
        actor = actor_id
        if isinstance(tx, Queries):
            cut_off = {r["u"] for r in await tx.fetch(_CUT_OFF_DIRECT, mentioned, actor)}
        else:
            cut_off = set((await tx.execute(
                select(UserProjection.id).where(
                    UserProjection.id.in_(mentioned),
                    blocks.either_blocked(UserProjection.id, actor))
            )).scalars())
        mentioned = [m for m in mentioned if m not in cut_off]
    return mentioned


async def live_post(tx: Transaction, post_id: int) -> PostState | None:
    """The post's state (its row read FOR SHARE, after the users'); None when it
    is deleted and the event must notify nobody."""
    state = await post_state(tx, post_id)
    return None if state == PostState.deleted else state


async def notify_mentions(tx: Transaction, mentioned: Sequence[int], *, actor_id: int,
                          actor_username: str, post_id: int, where: str, key: str,
                          state: PostState) -> None:
    for user_id in mentioned:
        if user_id == actor_id:
            continue
        await notify(tx, user_id=user_id, actor_id=actor_id,
                     type_=NotificationType.mention, reference_id=post_id,
                     message=f"{actor_username} mentioned you in {where}",
                     dedupe_key=f"mention:{key}:{user_id}",
                     withdrawn=state == PostState.withdrawn)


async def notify_post_mentions(tx: Transaction, post: PostPublished) -> None:
    """Notify the users a published post mentions (a post without mentions reads
    nothing). Runs after the publication, in its transaction."""
    if not extract_mentions(post.content):
        return
    mentioned = await involved(tx, [post.author_id], post.content,
                               actor_id=post.author_id)
    if not mentioned or (state := await live_post(tx, post.post_id)) is None:
        return
    await notify_mentions(tx, mentioned, actor_id=post.author_id,
                          actor_username=post.author_username, post_id=post.post_id,
                          where="a post", key=f"post:{post.post_id}", state=state)


def _about_post(post_id: int):  # type: ignore[no-untyped-def]
    return Notification.type.in_(POST_NOTIFICATION_TYPES), Notification.reference_id == post_id


async def withdraw_about_post(session: AsyncSession, post_id: int) -> None:
    """Hide the notifications about a post being deleted, as withdrawn: a restore
    of the post shows them again."""
    await session.execute(
        update(Notification)
        .where(*_about_post(post_id), Notification.hidden.is_(False))
        .values(hidden=True, withdrawn=True))


_RESTORE_ABOUT_POST = Statement("notifications.restore_about_post", """
    UPDATE notifications SET hidden = false, withdrawn = false
    WHERE type = ANY($2::varchar[]) AND reference_id = $1 AND withdrawn""")


async def restore_about_post(tx: Transaction, post_id: int) -> None:
    """Show again the notifications a purge of the post withdrew."""
    if isinstance(tx, Queries):
        await tx.execute(_RESTORE_ABOUT_POST, post_id, list(POST_NOTIFICATION_TYPES))
        return
    session = tx
    await session.execute(
        update(Notification)
        .where(*_about_post(post_id), Notification.withdrawn)
        .values(hidden=False, withdrawn=False))


async def delete_about_post(session: AsyncSession, post_id: int) -> None:
    await session.execute(delete(Notification).where(*_about_post(post_id)))


async def delete_about_posts_of(session: AsyncSession, author_id: int) -> int:
    """Delete the notifications about every post of ``author_id``; how many."""
    posts = select(PostProjection.id).where(PostProjection.author_id == author_id)
    result = await session.execute(delete(Notification).where(
        Notification.type.in_(POST_NOTIFICATION_TYPES), Notification.reference_id.in_(posts)))
    return result.rowcount  # type: ignore[attr-defined,no-any-return]


async def delete_involving(session: AsyncSession, user_id: int) -> int:
    """Delete every notification to or from ``user_id``, hidden ones too; how many."""
    result = await session.execute(delete(Notification).where(
        or_(Notification.user_id == user_id, Notification.actor_id == user_id)))
    return result.rowcount  # type: ignore[attr-defined,no-any-return]


async def list_for(session: AsyncSession, user_id: int, *, limit: int,
                   offset: int) -> list[Notification]:
    """The user's visible notifications, newest first."""
    return list((await session.execute(
        select(Notification)
        .where(Notification.user_id == user_id, Notification.hidden.is_(False))
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(limit).offset(offset)
    )).scalars())


async def mark_all_read(session: AsyncSession, user_id: int) -> int:
    """Mark the user's visible unread notifications read; how many."""
    result = await session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.hidden.is_(False),
               Notification.is_read.is_(False))
        .values(is_read=True))
    return result.rowcount  # type: ignore[attr-defined,no-any-return]


async def mark_read(session: AsyncSession, user_id: int, notification_id: int) -> Notification:
    """Mark one of the user's visible notifications read (NotFound if there is none)."""
    notification = (await session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.user_id == user_id,
               Notification.hidden.is_(False))
        .values(is_read=True).returning(Notification)
    )).scalar_one_or_none()
    if notification is None:
        raise NotFound("Notification not found")
    return notification
