"""The feed: published posts of the user and of the people they follow.

One autocommit statement: the token check and the page together, newest first,
from the published-posts index (``EXPLAIN``: ``bench/explain_feed.py``).
"""

from __future__ import annotations

from core_service.services.posts import PostRecord, post_record
from core_service.services.users import TOKEN_HOLDER_CTE, AccessToken
from shared_lib.database import Database, Statement

FEED = Statement("feed", f"""
    WITH {TOKEN_HOLDER_CTE}
    SELECT h.ok, page.*
    FROM (SELECT EXISTS (SELECT 1 FROM holder) AS ok) h
    LEFT JOIN LATERAL (
        SELECT p.id, p.author_id, a.username AS author_username, p.content, p.image_url,
               p.hashtags, p.like_count, p.comment_count, p.status, p.rejection_reason,
               p.created_at
        FROM posts p JOIN users a ON a.id = p.author_id
        WHERE h.ok AND p.status = 'published'
          AND (p.author_id = $1
               OR EXISTS (SELECT 1 FROM follows f
                          WHERE f.follower_id = $1 AND f.followee_id = p.author_id))
        ORDER BY p.created_at DESC, p.id DESC
        LIMIT $4 OFFSET $5
    ) page ON true
    ORDER BY page.created_at DESC, page.id DESC
""")


async def feed(db: Database, token: AccessToken, limit: int, offset: int
               ) -> list[PostRecord] | None:
    """The page, or None when the token is no longer good (revoked, an older token
    version, the user deactivated)."""
    rows = await db.fetch(FEED, token.user_id, token.token_version, token.session_id,
                          limit, offset)
    if not rows[0]["ok"]:
        return None
    return [post_record(r) for r in rows if r["id"] is not None]
