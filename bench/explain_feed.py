"""EXPLAIN ANALYZE of the feed query for a user following 500 people.

Creates a scratch database on TEST_POSTGRES_URL (default: local server),
migrates it, fills it (1,000 users with 20 published posts each; user 1
follows 500 of them), prints the plan of ``/api/feed``'s query, then drops
the database.

    uv run python bench/explain_feed.py
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from sqlalchemy.dialects import postgresql

from core_service.services.feed import feed_query
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
            FROM generate_series(1, 1000) u, generate_series(1, 20);
            INSERT INTO follows (follower_id, followee_id)
            SELECT 1, g FROM generate_series(2, 501) g;
            ANALYZE;
        """)
        sql = str(feed_query(1, 20, 0).compile(dialect=postgresql.dialect(),
                                                compile_kwargs={"literal_binds": True}))
        rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return sql + "\n\n" + "\n".join(r[0] for r in rows)
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
