"""Records of social's stories (social owns the stories; core keeps which user
has one that has not expired)."""

from __future__ import annotations

from datetime import datetime

from shared_lib.database import Queries, Statement

#: the story recorded, if its author is active (record_story of create_story);
#: whether the author is ($1 story, $2 author, $3 expiry)
_RECORD = Statement("stories.record", """
    WITH author AS (SELECT is_active FROM users WHERE id = $2),
    recorded AS (
        INSERT INTO story_records (story_id, author_id, expires_at)
        SELECT $1, $2, $3 WHERE (SELECT is_active FROM author)
        ON CONFLICT DO NOTHING)
    SELECT coalesce((SELECT is_active FROM author), false)""")
_FORGET = Statement("stories.forget", "DELETE FROM story_records WHERE story_id = $1")


async def record_story(q: Queries, story_id: int, author_id: int,
                       expires_at: datetime) -> bool:
    """Record a story of an active author (one statement); False, writing nothing,
    when the author is deactivated or gone."""
    return bool(await q.fetchval(_RECORD, story_id, author_id, expires_at))


async def forget_story(q: Queries, story_id: int) -> None:
    await q.execute(_FORGET, story_id)
