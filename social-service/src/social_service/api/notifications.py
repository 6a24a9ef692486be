"""/api/notifications: list, mark one read, mark all read (only one's own)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from sqlalchemy import select, update

from shared_lib.deps import SessionDep
from shared_lib.web import IdPath, Limit, Offset
from social_service.api.deps import CurrentViewer
from social_service.models import Notification
from social_service.schemas import MarkedOut, NotificationOut

router = APIRouter(prefix="/api/notifications", tags=["notifications"])


@router.get("", response_model=list[NotificationOut])
async def list_notifications(viewer: CurrentViewer, session: SessionDep, limit: Limit = 20,
                             offset: Offset = 0) -> list[Notification]:
    return list((await session.execute(
        select(Notification)
        .where(Notification.user_id == viewer.id, Notification.hidden.is_(False))
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(limit).offset(offset)
    )).scalars())


@router.post("/read-all", response_model=MarkedOut)
async def mark_all_read(viewer: CurrentViewer, session: SessionDep) -> MarkedOut:
    result = await session.execute(
        update(Notification)
        .where(Notification.user_id == viewer.id, Notification.hidden.is_(False),
               Notification.is_read.is_(False))
        .values(is_read=True))
    await session.commit()
    return MarkedOut(marked=result.rowcount)  # type: ignore[attr-defined]


@router.post("/{notification_id}/read", response_model=NotificationOut)
async def mark_read(notification_id: IdPath, viewer: CurrentViewer,
                    session: SessionDep) -> Notification:
    notification = (await session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.user_id == viewer.id,
               Notification.hidden.is_(False))
        .values(is_read=True).returning(Notification)
    )).scalar_one_or_none()
    if notification is None:
        raise HTTPException(404, "Notification not found")
    await session.commit()
    return notification
