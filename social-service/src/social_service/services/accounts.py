"""The purge of a user whose account is being deleted (delete_account's pivot, the
command ``purge_user``): social's own data about them and its projections of them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from social_service.projections import blocks, follows, posts
from social_service.projections.tombstones import mark_user_deleted
from social_service.services import messages, notifications, stories


@dataclass(frozen=True)
class Purged:
    """What a purge of a user deleted."""

    messages: int
    stories: int
    notifications: int


async def purge(session: AsyncSession, user_id: int, seq: int) -> Purged:
    """Forget a user whose account is being deleted (delete_account's pivot):
    their messages, stories, notifications to or about them, search entry (kept
    as an inactive tombstone), follow edges (kept inactive) and their posts'
    hashtag links (the posts hidden until core's post.deleted events). The user
    becomes a deleted tombstone, locked first: an event still queued now
    creates nothing about them."""
    await mark_user_deleted(session, user_id, seq)
    about_their_posts = await posts.withdraw_posts_of(session, user_id)
    deleted_messages = await messages.delete_involving(session, user_id)
    deleted_stories = await stories.delete_by_author(session, user_id)
    deleted_notifications = (about_their_posts
                             + await notifications.delete_involving(session, user_id))
    await follows.deactivate_edges_of(session, user_id)
    await blocks.deactivate_edges_of(session, user_id)
    return Purged(messages=deleted_messages, stories=deleted_stories,
                  notifications=deleted_notifications)
