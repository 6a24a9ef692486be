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
    if changes:
        await session.execute(
            update(User).where(User.id == user.id)
            .values(**changes, version=User.version + 1, updated_at=func.now())
        )
        await session.refresh(user)
        await publish_event(session, UserUpdated(
            seq=user.version, user_id=user.id, username=user.username,
            full_name=user.full_name, bio=user.bio, profile_image_url=user.profile_image_url,
            is_active=user.is_active), source=CORE)
    return user
