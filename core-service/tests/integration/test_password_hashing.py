"""A password hash never holds a database connection: registration, sign-in,
re-authentication and a password change end their transaction before hashing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core_service.models import User
from core_service.services import auth
from shared_lib.errors import Forbidden
from shared_lib.security import PasswordHasher


class WatchingHasher(PasswordHasher):
    """Records, at every hash, whether the session holds a connection."""

    def __init__(self) -> None:
        super().__init__(rounds=4)
        self.session: AsyncSession | None = None
        self.held: list[bool] = []

    def _note(self) -> None:
        assert self.session is not None
        self.held.append(self.session.in_transaction())

    async def hash_async(self, password: str) -> str:
        self._note()
        return await super().hash_async(password)

    async def verify_async(self, password: str, hashed: str | None) -> bool:
        self._note()
        return await super().verify_async(password, hashed)




async def test_no_hash_runs_inside_a_transaction(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    hasher = WatchingHasher()
    async with sessions() as s:
        hasher.session = s
        await auth.register(s, hasher, username="alice", email="alice@example.com",
                            password="correct horse", full_name=None)
        await s.commit()
        assert await auth.authenticate(s, hasher, "alice", "correct horse") is not None
        assert await auth.authenticate(s, hasher, "nobody", "correct horse") is None
        assert await auth.authenticate(s, hasher, "alice", "wrong horse") is None
        user = await s.get(User, 1)
        assert user is not None
        with pytest.raises(Forbidden):
            await auth.check_password(s, hasher, user, "wrong horse")
        user = await s.get(User, 1)
        assert user is not None
        await auth.change_password(s, hasher, user, "correct horse", "new horse!",
                                   timedelta(minutes=15))
        await s.commit()
    assert len(hasher.held) == 7 and not any(hasher.held), hasher.held
