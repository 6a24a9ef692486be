"""/api/messages: send (send_message saga), conversations, read."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy import and_, case, func, or_, select, update

from shared_lib.deps import RuntimeDep, SessionDep
from shared_lib.saga import is_timeout
from shared_lib.web import IdPath, Limit, Offset, run_saga
from social_service.api.deps import CurrentViewer
from social_service.models import Message, MessageStatus
from social_service.sagas.send_message import RECEIVER_NOT_FOUND, SEND_MESSAGE
from social_service.schemas import ConversationOut, MarkedOut, MessageIn, MessageOut

router = APIRouter(prefix="/api/messages", tags=["messages"])


@router.post("", response_model=MessageOut, status_code=status.HTTP_201_CREATED,
             responses={202: {"model": MessageOut}, 400: {}, 403: {}, 404: {}, 503: {}})
async def send_message(body: MessageIn, request: Request, viewer: CurrentViewer,
                       runtime: RuntimeDep, session: SessionDep) -> Response:
    if body.receiver_id == viewer.id:
        raise HTTPException(400, "You cannot send a message to yourself")
    outcome = await run_saga(
        request, runtime, session, SEND_MESSAGE,
        {"sender_id": viewer.id, "sender_username": viewer.username,
         "receiver_id": body.receiver_id, "content": body.content})
    message = await session.get(Message, outcome.data["message_id"])
    assert message is not None
    out = MessageOut.model_validate(message).model_dump(mode="json")
    location = {"Location": f"/api/messages/{body.receiver_id}"}
    if message.status == MessageStatus.sent:
        return JSONResponse(out, status_code=201, headers=location)
    if message.status == MessageStatus.rejected:
        reason = message.rejection_reason or "The message was rejected"
        if is_timeout(reason):
            raise HTTPException(503, f"The message could not be sent now: {reason}")
        raise HTTPException(404 if reason == RECEIVER_NOT_FOUND else 403, reason)
    return JSONResponse(out, status_code=202, headers=location)


def _other(me: int):  # type: ignore[no-untyped-def]
    return case((Message.sender_id == me, Message.receiver_id), else_=Message.sender_id)


@router.get("", response_model=list[ConversationOut])
async def conversations(viewer: CurrentViewer, session: SessionDep, limit: Limit = 20,
                        offset: Offset = 0) -> list[ConversationOut]:
    me = viewer.id
    mine = (select(Message, _other(me).label("other_id"))
            .where(Message.status == MessageStatus.sent.value,
                   or_(Message.sender_id == me, Message.receiver_id == me))
            .subquery())
    last = (select(mine).distinct(mine.c.other_id)
            .order_by(mine.c.other_id, mine.c.created_at.desc(), mine.c.id.desc())
            .subquery())
    unread = (select(func.count()).select_from(Message)
              .where(Message.receiver_id == me, Message.sender_id == last.c.other_id,
                     Message.status == MessageStatus.sent.value, Message.is_read.is_(False))
              .scalar_subquery())
    rows = (await session.execute(
        select(last, unread.label("unread"))
        .order_by(last.c.created_at.desc(), last.c.id.desc()).limit(limit).offset(offset)
    )).all()
    return [ConversationOut(
        other_user_id=r.other_id, unread_count=r.unread,
        last_message=MessageOut(id=r.id, sender_id=r.sender_id, receiver_id=r.receiver_id,
                                content=r.content, is_read=r.is_read, status=r.status,
                                created_at=r.created_at)) for r in rows]


@router.get("/{other_user_id}", response_model=list[MessageOut])
async def conversation(other_user_id: IdPath, viewer: CurrentViewer, session: SessionDep,
                       limit: Limit = 20, offset: Offset = 0) -> list[Message]:
    me = viewer.id
    rows = (await session.execute(
        select(Message)
        .where(Message.status == MessageStatus.sent.value,
               or_(and_(Message.sender_id == me, Message.receiver_id == other_user_id),
                   and_(Message.sender_id == other_user_id, Message.receiver_id == me)))
        .order_by(Message.created_at, Message.id).limit(limit).offset(offset)
    )).scalars()
    return list(rows)


@router.post("/{sender_id}/read", response_model=MarkedOut)
async def mark_read(sender_id: IdPath, viewer: CurrentViewer, session: SessionDep) -> MarkedOut:
    result = await session.execute(
        update(Message)
        .where(Message.sender_id == sender_id, Message.receiver_id == viewer.id,
               Message.status == MessageStatus.sent.value, Message.is_read.is_(False))
        .values(is_read=True))
    await session.commit()
    return MarkedOut(marked=result.rowcount)  # type: ignore[attr-defined]
