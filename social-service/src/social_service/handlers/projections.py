"""Projections of core's data, kept from core's events.

Each event carries ``seq`` (the version of its aggregate in core); an event
whose ``seq`` is not newer than what the projection holds is stale or a
duplicate and changes nothing, so any delivery order ends in the same state.
"""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert

from shared_lib.contracts.messages import PostPublished, UserRegistered, UserUpdated
from shared_lib.messaging.consumer import MessageContext
from social_service.models import PostProjection, UserProjection


async def on_user_changed(ctx: MessageContext, event: UserRegistered | UserUpdated) -> None:
    values = {"username": event.username, "full_name": event.full_name,
              "profile_image_url": event.profile_image_url, "is_active": event.is_active,
              "version": event.seq}
    stmt = pg_insert(UserProjection).values(id=event.user_id, **values)
    await ctx.session.execute(
        stmt.on_conflict_do_update(
            index_elements=[UserProjection.id], set_=values,
            where=UserProjection.version < stmt.excluded.version,
        )
    )


async def on_post_published(ctx: MessageContext, event: PostPublished) -> None:
    values = {"author_id": event.author_id, "author_username": event.author_username,
              "content": event.content, "image_url": event.image_url,
              "created_at": event.created_at, "published": True,
              "like_count": event.like_count, "comment_count": event.comment_count,
              "version": event.seq}
    stmt = pg_insert(PostProjection).values(id=event.post_id, **values)
    await ctx.session.execute(
        stmt.on_conflict_do_update(
            index_elements=[PostProjection.id], set_=values,
            where=PostProjection.version < stmt.excluded.version,
        )
    )
