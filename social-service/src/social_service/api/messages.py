"""/api/messages: send (send_message saga), conversations, read."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from shared_lib.deps import DatabaseDep, RuntimeDep, SessionDep
from shared_lib.idempotency import IdempotencyDep, owned_by
from shared_lib.openapi import accepted, described
from shared_lib.saga import SagaStatus
from shared_lib.saga.http import (
    Rejections,
    SagaOutcome,
    answer_started,
    record_response,
    start_saga,
)
from shared_lib.web import IdPath, Limit, Offset
from social_service.api.deps import CurrentViewer
from social_service.models import Message, MessageStatus
from social_service.sagas.send_message import SEND_MESSAGE, SendMessageData, SendMessageRejection
from social_service.schemas import ConversationOut, MarkedOut, MessageIn, MessageOut
from social_service.services import messages
from social_service.services.messages import MessageRecord

router = APIRouter(prefix="/api/messages", tags=["messages"])

SEND_MESSAGE_REJECTIONS = Rejections({SendMessageRejection.receiver_not_found: 404},
                                     default=403)
#: the saga's outcome each status of its message stands for (pending: still running)
_OUTCOME = {MessageStatus.sent: SagaStatus.completed,
            MessageStatus.rejected: SagaStatus.compensated}


def sent_message_response(outcome: SagaOutcome, message: MessageRecord) -> Response:
    """201 sent, 202 pending, or the rejection (404, 403, 503 on a timeout)."""
    return record_response(
        outcome, record_status=_OUTCOME.get(message.status),
        reason=message.rejection_reason or "The message was rejected",
        rejections=SEND_MESSAGE_REJECTIONS, unavailable="The message could not be sent now",
        body=MessageOut.model_validate(message).model_dump(mode="json"),
        location=f"/api/messages/{message.receiver_id}")


@router.post("", response_model=MessageOut, status_code=status.HTTP_201_CREATED,
             responses={**accepted(MessageOut, "The conversation with the receiver, where "
                                               "the message shows once sent"),
                        **described({400: "To yourself",
                                     403: "The receiver does not take messages from you",
                                     404: "No such receiver",
                                     503: "core-service did not answer in time"})})
async def send_message(body: MessageIn, request: Request, viewer: CurrentViewer,
                       runtime: RuntimeDep, db: DatabaseDep,
                       key: IdempotencyDep) -> Response:
    messages.check_receiver(viewer.id, body.receiver_id)
    outcome = await start_saga(
        request, runtime, SEND_MESSAGE,
        SendMessageData(sender_id=viewer.id, sender_username=viewer.username,
                        receiver_id=body.receiver_id, content=body.content),
        key=owned_by(key, viewer.id))

    async def answer() -> Response:
        message = await messages.get_message(db, outcome.data.message)
        return sent_message_response(outcome, message)

    return await answer_started(outcome, f"/api/messages/{body.receiver_id}", answer,
                                outcome.data.message)


@router.get("", response_model=list[ConversationOut])
async def conversations(viewer: CurrentViewer, session: SessionDep, limit: Limit = 20,
                        offset: Offset = 0) -> list[ConversationOut]:
    found = await messages.conversations(session, viewer.id, limit=limit, offset=offset)
    return [ConversationOut(other_user_id=c.other_user_id, unread_count=c.unread_count,
                            last_message=MessageOut.model_validate(c.last_message))
            for c in found]


@router.get("/{other_user_id}", response_model=list[MessageOut])
async def conversation(other_user_id: IdPath, viewer: CurrentViewer, session: SessionDep,
                       limit: Limit = 20, offset: Offset = 0) -> list[Message]:
    return await messages.conversation(session, viewer.id, other_user_id, limit=limit,
                                       offset=offset)


@router.post("/{sender_id}/read", response_model=MarkedOut)
async def mark_read(sender_id: IdPath, viewer: CurrentViewer, session: SessionDep) -> MarkedOut:
    marked = await messages.mark_read(session, receiver_id=viewer.id, sender_id=sender_id)
    await session.commit()
    return MarkedOut(marked=marked)
