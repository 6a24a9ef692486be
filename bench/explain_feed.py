"""EXPLAIN ANALYZE of the feed's statement for a user following 500 people.

Creates a scratch database on TEST_POSTGRES_URL (default: local server),
migrates it, fills it (1,000 users with 100 published posts each, 100k posts;
user 1 follows 500 of them), prints the plan of ``/api/feed``'s statement (its
token check included), then drops the database.

    uv run python bench/explain_feed.py
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from core_service.services.feed import FEED
from testkit.infra import provide_infra
from testkit.processes import run_migrations


async def fill_and_explain(url: str) -> str:
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        await conn.execute("""
            INSERT INTO users (username, email, hashed_password)
            SELECT 'u' || g, 'u' || g || '@example.com', 'x' FROM generate_series(1, 1000) g;
            INSERT INTO posts (author_id, content, status, created_at)
            SELECT u, 'post', 'published', now() - (random() * interval '30 days')
            FROM generate_series(1, 1000) u, generate_series(1, 100);
            INSERT INTO follows (follower_id, followee_id)
            SELECT 1, g FROM generate_series(2, 501) g;
            ANALYZE;
        """)
        session_id = uuid.uuid4()
        await conn.execute("INSERT INTO auth_sessions (id, user_id, secret_hash, expires_at) "
                           "VALUES ($1, 1, '\\x00', now() + interval '1 day')", session_id)
        rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {FEED.sql}",
                                1, 1, session_id, 20, 0)
        return FEED.sql + "\n\n" + "\n".join(r[0] for r in rows)
    finally:
        await conn.close()


def main() -> None:
    with provide_infra() as infra:
        name = f"explain_{uuid.uuid4().hex[:8]}"
        url = infra.create_database(name)
        try:
            run_migrations("core_service", url)
            print(asyncio.run(fill_and_explain(url)))
        finally:
            infra.drop_database(name)


if __name__ == "__main__":
    main()
