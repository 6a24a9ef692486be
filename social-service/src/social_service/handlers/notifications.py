"""Notifications from core's events that keep no projection (queue
``social.events.notifications``): follow requests, accepted requests and the
removal of a deleted user's notifications.

The facts that also change a projection are notified by the projections
consumer, in the statement or transaction that changes it, so that each such
event is delivered to social once: likes and unlikes and comments (with the
post's counter), follows (with the follow edge) and mentions in a post (with its
publication); see :mod:`social_service.projections.handlers`.

Each notification has a ``dedupe_key`` naming the fact it reports, so the same
fact never notifies twice; ``seq`` decides which of two records of the same fact
(a like and an unlike) is the newer one. Nothing notifies to or from a deleted
user, nor about a deleted post (see :mod:`social_service.projections.tombstones`).
The reads and writes are in :mod:`social_service.services.notifications`.
"""

from __future__ import annotations

from instasaga.messages import FollowAccepted, FollowRequested, UserDeleted
from shared_lib.messaging.consumer import MessageContext, one_statement
from social_service.handlers.registry import NOTIFICATIONS, SUBSCRIPTIONS
from social_service.projections.tombstones import mark_user_deleted
from social_service.services.notifications import (
    delete_involving,
    follow_accepted_notice,
    follow_request_notice,
    notify_claimed,
)


@SUBSCRIPTIONS.on(NOTIFICATIONS, FollowRequested)
@one_statement
async def on_follow_requested(ctx: MessageContext, event: FollowRequested) -> None:
    await notify_claimed(ctx, follow_request_notice(event))


@SUBSCRIPTIONS.on(NOTIFICATIONS, FollowAccepted)
@one_statement
async def on_follow_accepted(ctx: MessageContext, event: FollowAccepted) -> None:
    await notify_claimed(ctx, follow_accepted_notice(event))


@SUBSCRIPTIONS.on(NOTIFICATIONS, UserDeleted)
async def on_user_deleted(ctx: MessageContext, event: UserDeleted) -> None:
    """The user's tombstone (as on the projections queue, whichever comes first),
    then every notification to or from them goes, hidden ones too: an event
    handled here after this finds the tombstone and notifies nobody."""
    await mark_user_deleted(ctx.session, event.user_id, event.seq)
    await delete_involving(ctx.session, event.user_id)
