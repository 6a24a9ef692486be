"""Profile changes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import User
from shared_lib.contracts import CORE
from shared_lib.contracts.messages import UserUpdated
from shared_lib.outbox import publish_event


async def update_profile(session: AsyncSession, user: User, changes: dict[str, Any]) -> User:
    if not changes:
        return user
    updated = (await session.execute(
        update(User).where(User.id == user.id)
        .values(**changes, version=User.version + 1, updated_at=func.now())
        .returning(User)
        .execution_options(populate_existing=True)
    )).scalar_one()
    await publish_event(session, UserUpdated(
        seq=updated.version, user_id=updated.id, username=updated.username,
        full_name=updated.full_name, bio=updated.bio,
        profile_image_url=updated.profile_image_url, is_active=updated.is_active), source=CORE)
    return updated
