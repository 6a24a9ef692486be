"""Likes: toggling one (with the post's exact counter and its event), and the removal
of every like of an account being deleted."""

from __future__ import annotations

from core_service.services import audience, post_counters
from core_service.services.users import AccessToken
from instasaga.messages import PostLiked, PostUnliked
from instasaga.services import CORE
from shared_lib.database import Queries, Statement
from shared_lib.outbox import write_events

#: a like, or taking it back when there is one, and the post's counters, with the
#: relation of the user to the post's author: one statement, on a post locked by
#: ``lock_for_contact`` ($1 user, $2 author, $3 post)
_TOGGLE = Statement("likes.toggle", f"""
    WITH {audience.RELATION_CTE},
    liked AS (
        INSERT INTO likes (post_id, user_id) VALUES ($3, $1)
        ON CONFLICT DO NOTHING RETURNING 1
    ), unliked AS (
        DELETE FROM likes WHERE post_id = $3 AND user_id = $1
          AND NOT EXISTS (SELECT 1 FROM liked)
        RETURNING 1
    )
    UPDATE posts
    SET like_count = like_count + CASE WHEN EXISTS (SELECT 1 FROM liked) THEN 1 ELSE -1 END,
        version = version + 1
    WHERE id = $3
    RETURNING EXISTS (SELECT 1 FROM liked) AS liked, version, like_count,
              {audience.RELATION_COLUMNS}""")


async def toggle_like(q: Queries, token: AccessToken, post_id: int) -> tuple[bool, int]:
    """Like the post, or take the like back; whether it is liked now, and its count.
    Three statements in the caller's transaction: the token and the locks, the
    toggle with the counters and the block and privacy check (a refusal rolls the
    transaction back), the event."""
    locked = await post_counters.lock_for_contact(q, token, post_id)
    post = locked.post
    row = await q.fetchrow(_TOGGLE, locked.user_id, post.author_id, post_id)
    assert row is not None  # the post is locked
    audience.require_contact_read(locked.user_id, post.author_id, row)
    event = PostLiked if row["liked"] else PostUnliked
    await write_events(q, [event(
        seq=row["version"], post_id=post_id, post_author_id=post.author_id,
        user_id=locked.user_id, username=locked.username, like_count=row["like_count"])],
        source=CORE)
    return row["liked"], row["like_count"]


#: one statement however many likes: delete them, and take one off each liked post of
#: others (rows locked in id order, like every other multi-post change) ($1 user)
_REMOVE_LIKES_OF = Statement("likes.remove_likes_of", """
    WITH gone AS (
        DELETE FROM likes WHERE user_id = $1 RETURNING post_id
    ), locked AS (
        SELECT p.id FROM posts p JOIN gone ON gone.post_id = p.id
        WHERE p.author_id <> $1 ORDER BY p.id FOR UPDATE OF p
    )
    UPDATE posts SET like_count = posts.like_count - 1, version = posts.version + 1
    FROM locked WHERE posts.id = locked.id
    RETURNING posts.id, posts.author_id, posts.version, posts.like_count""")


async def remove_likes_of(q: Queries, user_id: int, username: str) -> list[PostUnliked]:
    """Delete every like of a user; the counters of the posts of others go down,
    each with the ``post.unliked`` event to publish (their own posts are being
    deleted with them)."""
    rows = await q.fetch(_REMOVE_LIKES_OF, user_id)
    return [PostUnliked(seq=r["version"], post_id=r["id"], post_author_id=r["author_id"],
                        user_id=user_id, username=username, like_count=r["like_count"])
            for r in sorted(rows, key=lambda r: r["id"])]
