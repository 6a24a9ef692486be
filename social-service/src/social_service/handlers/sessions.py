"""core's session revocations (queue ``social.events.sessions``): a queue of their own,
so that a logout takes effect on social even while a backlog of projections waits."""

from __future__ import annotations

from shared_lib.contracts.messages import SessionRevoked
from shared_lib.messaging.consumer import MessageContext
from social_service.handlers.registry import SESSIONS, SUBSCRIPTIONS
from social_service.services import sessions


@SUBSCRIPTIONS.on(SESSIONS, SessionRevoked)
async def on_session_revoked(ctx: MessageContext, event: SessionRevoked) -> None:
    await sessions.record(ctx.session, event)
