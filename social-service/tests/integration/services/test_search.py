"""services/search: users by a part of their username or full name (the exact name
first, then those starting with it), hashtags by prefix with their published posts'
counts (checked with the caller's token, in one autocommit statement), and the posts
of a hashtag the viewer may see. The search text is matched literally and whatever
its case."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared_lib.database import Database
from social_service.models import UserProjection
from social_service.projections.users import Standing, TokenCheck
from social_service.services import search

if TYPE_CHECKING:
    from conftest import Seed

NOW = datetime.now(UTC)


def at(minutes: int) -> datetime:
    """A time ``minutes`` before the module was loaded (0 is the most recent)."""
    return NOW - timedelta(minutes=minutes)


async def _users(sessions: async_sessionmaker[AsyncSession], q: str, viewer_id: int, *,
                 limit: int = 20, offset: int = 0) -> list[str]:
    async with sessions() as s:
        found = await search.users(s, q, limit=limit, offset=offset, viewer_id=viewer_id)
    return [u.username for u in found]


async def test_users_match_username_or_full_name_the_exact_name_then_prefixes_first(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    viewer = await seed.user("viewer")
    for name, full_name in (("aanna", None), ("anna_b", None), ("Anna", "Anna Smith"),
                            ("bob", "Joanna Bob"), ("zanna", None), ("annabel", None),
                            ("carol", "Carol Jones")):
        await seed.user(name, full_name=full_name)
    assert await _users(sessions, "  ANNA ", viewer.id) == [
        "Anna", "anna_b", "annabel", "aanna", "bob", "zanna"]
    assert await _users(sessions, "anna", viewer.id, limit=2, offset=1) == [
        "anna_b", "annabel"]
    assert await _users(sessions, "jones", viewer.id) == ["carol"]
    assert await _users(sessions, "nobody", viewer.id) == []


async def test_users_match_the_search_text_literally(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    viewer = await seed.user("viewer")
    for name in ("a_b", "axb", "a%b", "a\\b"):
        await seed.user(name)
    assert await _users(sessions, "a_b", viewer.id) == ["a_b"]
    assert await _users(sessions, "a%b", viewer.id) == ["a%b"]
    assert await _users(sessions, "a\\b", viewer.id) == ["a\\b"]
    assert await _users(sessions, "%", viewer.id) == ["a%b"]


async def test_users_leave_out_inactive_users_and_those_who_blocked_the_viewer(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    viewer = await seed.user("viewer")
    await seed.user("sam_resting", active=False)
    await seed.user("sam_gone", deleted=True)
    blocker, blocked = await seed.user("sam_blocker"), await seed.user("sam_blocked")
    unblocked = await seed.user("sam_unblocked")
    await seed.block(blocker, viewer)
    await seed.block(viewer, blocked)  # the viewer's own block does not hide them
    await seed.block(unblocked, viewer, active=False)
    await seed.user("sam_public")
    assert await _users(sessions, "sam", viewer.id) == [
        "sam_blocked", "sam_public", "sam_unblocked"]
    assert await _users(sessions, "sam", blocker.id) == [
        "sam_blocked", "sam_blocker", "sam_public", "sam_unblocked"]


async def test_hashtags_by_prefix_count_published_posts_the_most_used_first(
        database: Database, seed: Seed) -> None:
    alice, bob = await seed.user("alice"), await seed.user("bob")
    sid = uuid.uuid4()
    await seed.post(alice, tags=["sun", "sunset"])
    await seed.post(bob, tags=["sunset", "sunday"])
    await seed.post(bob, tags=["sunset"])
    await seed.post(alice, tags=["sunday", "sunrise"], published=False)  # pending
    await seed.post(alice, tags=["sunrise"], published=False, version=3)  # purged
    await seed.post(alice, tags=["moon", "sun_dog"])
    await seed.post(bob, tags=["sun_dog"])

    async def found(q: str, limit: int = 20, offset: int = 0) -> list[tuple[str, int]]:
        check, page = await search.hashtags(database, q, limit=limit, offset=offset,
                                            user_id=alice.id, session_id=sid,
                                            token_version=1)
        assert check == TokenCheck(Standing(is_active=True, username="alice",
                                            token_version=1, deleted=False),
                                   session_revoked=False)
        return [(h.name, h.post_count) for h in page]

    # sunrise is carried by no published post: it is not found
    assert await found("sun") == [("sunset", 3), ("sun_dog", 2), ("sun", 1), ("sunday", 1)]
    assert await found("#SUNS") == [("sunset", 3)]
    assert await found("sun_") == [("sun_dog", 2)]  # '_' is no wildcard
    assert await found("sun", limit=2, offset=1) == [("sun_dog", 2), ("sun", 1)]
    assert await found("sunrise") == []
    assert await found("star") == []


@pytest.mark.parametrize("spoil", ["revoked_session", "older_token_version", "deactivated",
                                   "deleted"])
async def test_hashtags_page_is_empty_for_a_token_no_longer_good(
        database: Database, sessions: async_sessionmaker[AsyncSession], seed: Seed,
        spoil: str) -> None:
    alice = await seed.user("alice", token_version=2)
    await seed.post(alice, tags=["sun"])
    sid, version = uuid.uuid4(), 2
    check, page = await search.hashtags(database, "sun", limit=20, offset=0,
                                        user_id=alice.id, session_id=sid, token_version=2)
    assert (check.session_revoked, [h.name for h in page]) == (False, ["sun"])
    match spoil:
        case "revoked_session":
            sid = await seed.revoked_session(alice)
        case "older_token_version":
            version = 1
        case "deactivated" | "deleted":
            async with sessions() as s, s.begin():
                await s.execute(update(UserProjection).where(UserProjection.id == alice.id)
                                .values(is_active=False, deleted=spoil == "deleted"))
    check, page = await search.hashtags(database, "sun", limit=20, offset=0,
                                        user_id=alice.id, session_id=sid,
                                        token_version=version)
    assert page == []
    assert check.session_revoked == (spoil == "revoked_session")
    assert check.user is not None
    assert (check.user.is_active, check.user.deleted) == (
        spoil not in ("deactivated", "deleted"), spoil == "deleted")


async def test_hashtags_accept_the_token_of_a_user_not_projected_yet(
        database: Database, seed: Seed) -> None:
    alice = await seed.user("alice")
    await seed.post(alice, tags=["sun"])
    check, page = await search.hashtags(database, "sun", limit=20, offset=0, user_id=999,
                                        session_id=uuid.uuid4(), token_version=1)
    assert (check.user, check.session_revoked) == (None, False)
    assert [(h.name, h.post_count) for h in page] == [("sun", 1)]


async def test_posts_with_hashtag_are_the_published_ones_the_viewer_may_see_newest_first(
        sessions: async_sessionmaker[AsyncSession], seed: Seed) -> None:
    viewer = await seed.user("viewer", private=True)
    public, blocker = await seed.user("public"), await seed.user("blocker")
    followed = await seed.user("followed", private=True)
    stranger = await seed.user("stranger", private=True)
    await seed.follow(viewer, followed)
    await seed.follow(viewer, stranger, active=False)  # unfollowed since
    await seed.block(blocker, viewer)
    own = await seed.post(viewer, tags=["sun"], created_at=at(40))
    publics = await seed.post(public, tags=["sun", "moon"], created_at=at(10))
    followeds = await seed.post(followed, tags=["sun"], created_at=at(20))
    publics_old = await seed.post(public, tags=["sun"], created_at=at(30))
    blockers = await seed.post(blocker, tags=["sun"], created_at=at(0))
    await seed.post(stranger, tags=["sun"], created_at=at(0))
    await seed.post(public, tags=["sun"], published=False, created_at=at(0))
    await seed.post(public, tags=["moon"], created_at=at(0))
    async with sessions() as s:
        found = await search.posts_with_hashtag(s, "#SUN", limit=20, offset=0,
                                                viewer_id=viewer.id)
        page = await search.posts_with_hashtag(s, "sun", limit=2, offset=1,
                                               viewer_id=viewer.id)
        strangers_view = await search.posts_with_hashtag(s, "sun", limit=20, offset=0,
                                                         viewer_id=public.id)
    assert [p.id for p in found] == [publics, followeds, publics_old, own]
    assert [p.id for p in page] == [followeds, publics_old]
    # a public viewer: the public posts, the blocker's, not the private accounts'
    assert [p.id for p in strangers_view] == [blockers, publics, publics_old]
