"""The feed: published posts of the user and of the people they follow.

One autocommit statement: the token check and the page together, newest first,
from the published-posts index (``EXPLAIN``: ``bench/explain_feed.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core_service.services.users import TOKEN_HOLDER_CTE, AccessToken
from shared_lib.database import Database, Statement


@dataclass(frozen=True)
class FeedPost:
    id: int
    author_id: int
    author_username: str
    content: str | None
    image_url: str | None
    hashtags: list[str]
    like_count: int
    comment_count: int
    created_at: datetime


FEED = Statement("feed", f"""
    WITH {TOKEN_HOLDER_CTE}
    SELECT h.ok, page.*
    FROM (SELECT EXISTS (SELECT 1 FROM holder) AS ok) h
    LEFT JOIN LATERAL (
        SELECT p.id, p.author_id, a.username AS author_username, p.content, p.image_url,
               p.hashtags, p.like_count, p.comment_count, p.created_at
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
               ) -> list[FeedPost] | None:
    """The page, or None when the token is no longer good (revoked, an older token
    version, the user deactivated)."""
    rows = await db.fetch(FEED, token.user_id, token.token_version, token.session_id,
                          limit, offset)
    if not rows[0]["ok"]:
        return None
    return [FeedPost(id=r["id"], author_id=r["author_id"],
                     author_username=r["author_username"], content=r["content"],
                     image_url=r["image_url"], hashtags=list(r["hashtags"] or []),
                     like_count=r["like_count"], comment_count=r["comment_count"],
                     created_at=r["created_at"])
            for r in rows if r["id"] is not None]
