"""send_message saga (SPEC 5).

1. social ``insert_message``: stored ``pending``
   (compensation: mark it ``rejected`` with the reason);
2. core ``authorize_message``: the receiver exists and is active, the sender
   is active (no compensation: it changes nothing);
3. social ``deliver``: ``sent``, a ``message`` notification for the receiver,
   event ``message.sent``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from shared_lib.contracts.messages import AuthorizeMessage, MessageSent
from shared_lib.saga import LocalStep, RemoteStep, SagaContext, SagaDefinition, StepRejected
from social_service.handlers.notifications import notify
from social_service.models import Message, MessageStatus, NotificationType

SEND_MESSAGE = "send_message"
RECEIVER_NOT_FOUND = "Receiver not found"


async def insert_message(ctx: SagaContext) -> None:
    d = ctx.data
    message = Message(sender_id=d["sender_id"], receiver_id=d["receiver_id"],
                      content=d["content"], status=MessageStatus.pending.value)
    ctx.session.add(message)
    await ctx.session.flush()
    d["message_id"] = message.id


async def reject_message(ctx: SagaContext) -> None:
    await ctx.session.execute(
        update(Message)
        .where(Message.id == ctx.data["message_id"],
               Message.status == MessageStatus.pending.value)
        .values(status=MessageStatus.rejected.value, rejection_reason=ctx.reason))


def authorize_command(d: dict[str, Any]) -> AuthorizeMessage:
    return AuthorizeMessage(message_id=d["message_id"], sender_id=d["sender_id"],
                            receiver_id=d["receiver_id"])


async def deliver(ctx: SagaContext) -> None:
    d = ctx.data
    row = (await ctx.session.execute(
        update(Message)
        .where(Message.id == d["message_id"], Message.status == MessageStatus.pending.value)
        .values(status=MessageStatus.sent.value)
        .returning(Message.created_at))).first()
    if row is None:
        raise StepRejected("The message is gone")
    await notify(ctx.session, user_id=d["receiver_id"], actor_id=d["sender_id"],
                 type_=NotificationType.message, reference_id=d["message_id"],
                 message=f"{d['sender_username']} sent you a message",
                 dedupe_key=f"message:{d['message_id']}")
    await ctx.publish(MessageSent(message_id=d["message_id"], sender_id=d["sender_id"],
                                  receiver_id=d["receiver_id"], created_at=row.created_at))


def send_message_saga() -> SagaDefinition:
    return SagaDefinition(
        type=SEND_MESSAGE,
        description="Store a message pending, have core authorize it, deliver it",
        steps=(
            LocalStep("insert_message", insert_message, compensation=reject_message,
                      can_reject=False),
            RemoteStep("authorize_message", authorize_command),
            LocalStep("deliver", deliver),
        ),
    )
