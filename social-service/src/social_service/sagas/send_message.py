"""send_message saga (docs/sagas.md#send_message).

1. social ``insert_message``: stored ``pending``
   (compensation: mark it ``rejected`` with the reason);
2. core ``authorize_message``: the receiver exists and is active, the sender
   is active, neither blocked the other (no compensation: it changes nothing);
3. social ``deliver``: ``sent``, a ``message`` notification for the receiver,
   event ``message.sent``.
"""

from __future__ import annotations

from enum import StrEnum

from instasaga.messages import AuthorizeMessage, AuthorizeMessageRefusal, MessageSent
from shared_lib.saga import (
    LocalStep,
    RemoteStep,
    SagaContext,
    SagaData,
    SagaDefinition,
    StepRejected,
    made_by,
    start_only,
)
from social_service.models import NotificationType
from social_service.services import messages
from social_service.services.notifications import notify

SEND_MESSAGE = "send_message"


class SendMessageRejection(StrEnum):
    """The reasons a send_message saga (and its message) is rejected with,
    besides a participant's timeout."""

    #: core's authorize_message: the sender is missing or deactivated
    sender_deactivated = AuthorizeMessageRefusal.sender_deactivated.value
    #: core's authorize_message: the receiver is missing or deactivated
    receiver_not_found = AuthorizeMessageRefusal.receiver_not_found.value
    #: core's authorize_message: either has blocked the other
    blocked = AuthorizeMessageRefusal.blocked.value
    #: deliver: the message is no longer pending (purged by a delete_account)
    message_gone = "The message is gone"


class SendMessageData(SagaData):
    """The ids the commands and the event carry; the text lives in the message row only."""

    sender_id: int
    sender_username: str
    receiver_id: int
    content: str | None = start_only()
    #: set by insert_message
    message_id: int | None = None

    @property
    def message(self) -> int:
        return made_by(self.message_id, "insert_message")


Context = SagaContext[SendMessageData]


async def insert_message(ctx: Context) -> None:
    d = ctx.data
    assert d.content is not None, "the saga's start carries the text"
    d.message_id = await messages.insert_pending(
        ctx.q, sender_id=d.sender_id, receiver_id=d.receiver_id, content=d.content)


async def reject_message(ctx: Context) -> None:
    await messages.reject(ctx.q, ctx.data.message, ctx.reason)


def authorize_command(d: SendMessageData) -> AuthorizeMessage:
    return AuthorizeMessage(message_id=d.message, sender_id=d.sender_id,
                            receiver_id=d.receiver_id)


async def deliver(ctx: Context) -> None:
    d = ctx.data
    created_at = await messages.mark_sent(ctx.q, d.message)
    if created_at is None:
        raise StepRejected(SendMessageRejection.message_gone)
    await notify(ctx.q, user_id=d.receiver_id, actor_id=d.sender_id,
                 type_=NotificationType.message, reference_id=d.message,
                 message=f"{d.sender_username} sent you a message",
                 dedupe_key=f"message:{d.message}")
    await ctx.publish(MessageSent(message_id=d.message, sender_id=d.sender_id,
                                  receiver_id=d.receiver_id, created_at=created_at))


def send_message_saga() -> SagaDefinition:
    return SagaDefinition(
        type=SEND_MESSAGE,
        data=SendMessageData,
        description="Store a message pending, have core authorize it, deliver it",
        steps=(
            LocalStep("insert_message", insert_message, compensation=reject_message,
                      can_reject=False),
            RemoteStep("authorize_message", authorize_command),
            # refuses when its first write (marking it sent) matched no message
            LocalStep("deliver", deliver, rejects_before_writing=True),
        ),
    )
