"""services/feed: one autocommit statement, the token check and the page together:
the published posts of the user and of the people they follow, newest first."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import update

from core_service.domain.posts import PostStatus
from core_service.models import AuthSession, Follow, User
from core_service.services import feed
from core_service.services.users import AccessToken
from shared_lib.database import Database

if TYPE_CHECKING:
    from conftest import Seed


async def test_the_feed_has_own_and_followed_published_posts_newest_first(
        database: Database, seed: Seed) -> None:
    alice, bob, carol = await seed.user("alice"), await seed.user("bob"), await seed.user("carol")
    await seed.rows(Follow, {"follower_id": alice.id, "followee_id": bob.id},
                    {"follower_id": carol.id, "followee_id": alice.id})
    token = AccessToken(alice.id, 1, await seed.auth_session(alice))
    now = datetime.now(UTC)

    def at(hours: int) -> datetime:
        return now - timedelta(hours=hours)

    # ids in another order than creation times: the order must come from created_at
    bobs_old = await seed.post(bob, content="bob old", created_at=at(5))
    own = await seed.post(alice, content="own", created_at=at(2), hashtags=["sun"],
                          like_count=3, comment_count=1)
    bobs_new = await seed.post(bob, content="bob new", created_at=at(1), image_url="/i.jpg")
    alices_old = await seed.post(alice, content="own old", created_at=at(4))
    for status in (PostStatus.pending, PostStatus.rejected, PostStatus.deleting):
        await seed.post(bob, status=status, created_at=at(0))
        await seed.post(alice, status=status, created_at=at(0))
    await seed.post(carol, content="carol follows alice, not the reverse", created_at=at(0))

    page = await feed.feed(database, token, 20, 0)
    assert page is not None
    assert [(p.id, p.author_username, p.content) for p in page] == [
        (bobs_new, "bob", "bob new"), (own, "alice", "own"), (alices_old, "alice", "own old"),
        (bobs_old, "bob", "bob old")]
    first, second = page[0], page[1]
    assert (first.author_id, first.image_url, first.created_at) == (bob.id, "/i.jpg", at(1))
    assert (second.hashtags, second.like_count, second.comment_count) == (["sun"], 3, 1)


async def test_the_feed_pages_by_limit_and_offset(database: Database, seed: Seed) -> None:
    alice = await seed.user("alice")
    token = AccessToken(alice.id, 1, await seed.auth_session(alice))
    now = datetime.now(UTC)
    ids = [await seed.post(alice, created_at=now - timedelta(minutes=m)) for m in range(5)]
    pages = [await feed.feed(database, token, 2, offset) for offset in (0, 2, 4, 6)]
    assert [[p.id for p in page or []] for page in pages] == [ids[:2], ids[2:4], ids[4:], []]
    assert pages[3] == []  # past the end: an empty page, not a refused token


@pytest.mark.parametrize("spoil", ["revoked_session", "older_token_version", "deactivated",
                                   "unknown_session", "another_users_session"])
async def test_the_feed_is_none_for_a_token_no_longer_good(
        database: Database, seed: Seed, spoil: str) -> None:
    alice, bob = await seed.user("alice", token_version=2), await seed.user("bob")
    await seed.post(alice)
    sid, bobs_sid = await seed.auth_session(alice), await seed.auth_session(bob)
    token = AccessToken(alice.id, 2, sid)
    assert [p.author_id for p in await feed.feed(database, token, 20, 0) or []] == [alice.id]

    async with seed.sessions() as s, s.begin():
        match spoil:
            case "revoked_session":
                await s.execute(update(AuthSession).where(AuthSession.id == sid)
                                .values(revoked_at=datetime.now(UTC)))
            case "older_token_version":
                token = AccessToken(alice.id, 1, sid)
            case "deactivated":
                await s.execute(update(User).where(User.id == alice.id)
                                .values(is_active=False))
            case "unknown_session":
                token = AccessToken(alice.id, 2, uuid.uuid4())
            case "another_users_session":
                token = AccessToken(alice.id, 2, bobs_sid)
    assert await feed.feed(database, token, 20, 0) is None
