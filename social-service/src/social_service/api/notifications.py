"""/api/notifications: list, mark one read, mark all read (only one's own)."""

from __future__ import annotations

from fastapi import APIRouter

from shared_lib.deps import SessionDep
from shared_lib.openapi import errors
from shared_lib.web import IdPath, Limit, Offset
from social_service.api.deps import CurrentViewer
from social_service.models import Notification
from social_service.schemas import MarkedOut, NotificationOut
from social_service.services import notifications

router = APIRouter(prefix="/api/notifications", tags=["notifications"])


@router.get("", response_model=list[NotificationOut])
async def list_notifications(viewer: CurrentViewer, session: SessionDep, limit: Limit = 20,
                             offset: Offset = 0) -> list[Notification]:
    return await notifications.list_for(session, viewer.id, limit=limit, offset=offset)


@router.post("/read-all", response_model=MarkedOut)
async def mark_all_read(viewer: CurrentViewer, session: SessionDep) -> MarkedOut:
    marked = await notifications.mark_all_read(session, viewer.id)
    await session.commit()
    return MarkedOut(marked=marked)


@router.post("/{notification_id}/read", response_model=NotificationOut,
             responses=errors(404))
async def mark_read(notification_id: IdPath, viewer: CurrentViewer,
                    session: SessionDep) -> Notification:
    notification = await notifications.mark_read(session, viewer.id, notification_id)
    await session.commit()
    return notification
