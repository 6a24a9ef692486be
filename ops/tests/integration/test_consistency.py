"""The consistency checker against real PostgreSQL databases migrated with the
services' own migrations (no service runs): a small consistent dataset is
written with plain SQL, then each test breaks one thing and expects exactly
one check to report it."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import aio_pika
import asyncpg
import pytest

from ops_tools.consistency import (
    CHECKS,
    Report,
    SourceUnavailable,
    asyncpg_dsn,
    check,
    redact,
    wait_until_settled,
)
from testkit.infra import Infra, run_sync
from testkit.processes import REPO_ROOT, run_migrations

OLD = "now() - interval '1 hour'"

CORE_SEED = f"""
INSERT INTO users (id, username, email, hashed_password, full_name, post_count,
                   follower_count, following_count, created_at, updated_at) VALUES
    (1, 'alice', 'alice@example.com', 'x', 'Alice A', 1, 2, 0, {OLD}, {OLD}),
    (2, 'bob', 'bob@example.com', 'x', 'Bob B', 1, 0, 1, {OLD}, {OLD}),
    (3, 'carol', 'carol@example.com', 'x', NULL, 0, 0, 1, {OLD}, {OLD});
INSERT INTO posts (id, author_id, content, hashtags, status, like_count, comment_count,
                   version, created_at, published_at) VALUES
    (1, 1, 'sunset at the beach #sunset', '{{sunset}}', 'published', 1, 1, 4, {OLD}, {OLD}),
    (2, 2, 'no tags here', '{{}}', 'published', 0, 0, 2, {OLD}, {OLD});
INSERT INTO follows (follower_id, followee_id, created_at) VALUES (2, 1, {OLD}), (3, 1, {OLD});
INSERT INTO likes (post_id, user_id, created_at) VALUES (1, 2, {OLD});
INSERT INTO comments (id, post_id, author_id, content, created_at)
    VALUES (1, 1, 3, 'lovely', {OLD});
INSERT INTO sagas (id, type, status, step_index, data, created_at, updated_at) VALUES
    (gen_random_uuid(), 'create_post', 'completed', 0, '{{"post_id": 1, "author_id": 1}}',
     {OLD}, {OLD});
INSERT INTO outbox (message_id, exchange, routing_key, message_type, body, created_at, sent_at)
    VALUES (gen_random_uuid(), 'core.events', 'post.published', 'post.published', '{{}}',
            {OLD}, {OLD});
"""

SOCIAL_SEED = f"""
INSERT INTO users (id, username, full_name, profile_image_url, is_active, version) VALUES
    (1, 'alice', 'Alice A', NULL, true, 1),
    (2, 'bob', 'Bob B', NULL, true, 1),
    (3, 'carol', NULL, NULL, true, 1);
INSERT INTO posts (id, author_id, author_username, content, hashtags, published, like_count,
                   comment_count, version, created_at) VALUES
    (1, 1, 'alice', 'sunset at the beach #sunset', '{{sunset}}', true, 1, 1, 4, {OLD}),
    (2, 2, 'bob', 'no tags here', '{{}}', true, 0, 0, 2, {OLD});
INSERT INTO hashtags (id, name) VALUES (1, 'sunset');
INSERT INTO post_hashtags (post_id, hashtag_id) VALUES (1, 1);
INSERT INTO follows (follower_id, followee_id, active, version) VALUES
    (2, 1, true, 1), (3, 1, true, 2);
INSERT INTO notifications (user_id, actor_id, type, reference_id, message, dedupe_key, seq,
                           created_at) VALUES
    (1, 2, 'like', 1, 'bob liked your post', 'like:1:2', 3, {OLD}),
    (1, 3, 'comment', 1, 'carol commented on your post: lovely', 'comment:1', 0, {OLD}),
    (1, 2, 'follow', 2, 'bob started following you', 'follow:2:1:1', 0, {OLD});
"""


async def _execute(url: str, sql: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@dataclass(frozen=True)
class Dbs:
    core: str
    social: str

    async def core_sql(self, sql: str) -> None:
        await _execute(self.core, sql)

    async def social_sql(self, sql: str) -> None:
        await _execute(self.social, sql)

    async def check(self, grace: float = 0.0, rabbitmq_api_url: str | None = None,
                    vhost: str = "/") -> Report:
        return await check(self.core, self.social, rabbitmq_api_url, vhost, grace_seconds=grace)


def _migrate(core: str, social: str) -> None:
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(run_migrations, ["core_service", "social_service"], [core, social]))


async def _reset(url: str, seed: str) -> None:
    """Empty every table but Alembic's, then write ``seed``."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        tables = [r["tablename"] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'")]
        await conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        await conn.execute(seed)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def migrated(infra: Infra) -> Iterator[Dbs]:
    """Two databases with the services' migrations, shared by this module's tests
    (creating and migrating a pair takes seconds; emptying one takes milliseconds)."""
    names = [f"t_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    try:
        core, social = (infra.create_database(name) for name in names)
        _migrate(core, social)
        yield Dbs(core, social)
    finally:
        for name in names:
            infra.drop_database(name)


@pytest.fixture
def dbs(migrated: Dbs) -> Dbs:
    """The migrated pair holding just the consistent dataset."""
    run_sync(_reset(migrated.core, CORE_SEED))
    run_sync(_reset(migrated.social, SOCIAL_SEED))
    return migrated


def _vhost_of(amqp_url: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlsplit(amqp_url).path[1:])


# ------------------------------------------------------------ consistent data
async def test_fresh_databases_with_the_dataset_are_consistent(
        new_database: Callable[[], str]) -> None:
    fresh = Dbs(new_database(), new_database())
    await asyncio.to_thread(_migrate, fresh.core, fresh.social)
    await fresh.core_sql(CORE_SEED)
    await fresh.social_sql(SOCIAL_SEED)
    report = await fresh.check()
    assert report.ok, report.to_text()


async def test_consistent_dataset_finds_nothing(
        dbs: Dbs, infra: Infra, new_vhost: Callable[[], str]) -> None:
    vhost = _vhost_of(new_vhost())
    report = await dbs.check(rabbitmq_api_url=infra.rabbitmq_api_url, vhost=vhost)
    assert report.found() == {}, report.to_text()
    assert report.ok
    assert [f.check for f in report.findings] == [c.__name__ for c in CHECKS]
    assert report.to_text().splitlines()[-1] == f"consistent: {len(CHECKS)} checks, nothing found"


async def test_without_rabbitmq_the_dead_letter_check_is_skipped(dbs: Dbs) -> None:
    report = await dbs.check(grace=60)
    assert report.ok, report.to_text()
    assert "dead_lettered_messages" not in [f.check for f in report.findings]
    assert report.skipped and "dead_lettered_messages" in report.skipped[0]
    assert f"consistent: {len(CHECKS) - 1} checks, nothing found" in report.to_text()


# ---------------------------------------------------------- one thing broken
BREAKAGES = [
    pytest.param(
        "", "DELETE FROM posts WHERE id = 2",
        "posts_missing_in_social", "post 2: published in core, missing in social",
        id="social-post-row-deleted"),
    pytest.param(
        "", "UPDATE posts SET published = false WHERE id = 2",
        "posts_missing_in_social", "post 2: published in core, published = false in social",
        id="social-post-unpublished"),
    pytest.param(
        "", f"""INSERT INTO posts (id, author_id, author_username, published, version, created_at)
                VALUES (50, 2, 'bob', true, 2, {OLD})""",
        "posts_only_in_social", "post 50: published in social, missing in core",
        id="orphan-social-post"),
    pytest.param(
        "UPDATE posts SET status = 'deleting' WHERE id = 2", "",
        "posts_only_in_social",
        "post 2: published in social, 'deleting' in core with no delete_post saga running",
        id="deleting-without-saga"),
    pytest.param(
        "", f"""INSERT INTO posts (id, author_id, author_username, published, version, created_at)
                VALUES (60, 1, 'alice', false, 5, {OLD});
                INSERT INTO post_hashtags (post_id, hashtag_id) VALUES (60, 1)""",
        "hashtag_links_to_unpublished_posts",
        "post 60 #sunset: tombstone (published = false, version 5; missing in core)",
        id="link-to-tombstone"),
    pytest.param(
        "", f"""INSERT INTO notifications (user_id, actor_id, type, reference_id, message,
                                           dedupe_key, created_at)
                VALUES (1, 2, 'like', 42, 'bob liked your post', 'like:42:2', {OLD})""",
        "notifications_about_deleted",
        "(like to user 1 from 2, post 42): post missing in social",
        id="notification-about-missing-post"),
    pytest.param(
        "", f"""INSERT INTO notifications (user_id, actor_id, type, reference_id, message,
                                           dedupe_key, created_at)
                VALUES (1, 77, 'follow', 77, 'ghost started following you', 'follow:77:1:9',
                        {OLD})""",
        "notifications_about_deleted", "(follow to user 1 from 77): actor 77 missing in core",
        id="notification-from-deleted-user"),
    pytest.param(
        "", "UPDATE users SET full_name = 'Bobby' WHERE id = 2",
        "user_projection_differs", "user 2: full_name 'Bob B' in core, 'Bobby' in social",
        id="user-field-differs"),
    pytest.param(
        f"""INSERT INTO users (id, username, email, hashed_password, created_at, updated_at)
            VALUES (4, 'dave', 'dave@example.com', 'x', {OLD}, {OLD})""", "",
        "user_projection_differs", "user 4 (dave): active in core, missing in social",
        id="user-missing-in-social"),
    pytest.param(
        "", "UPDATE follows SET active = false WHERE follower_id = 3",
        "follow_graph_differs", "follow 3 -> 1: in core, inactive in social",
        id="follow-inactive-in-social"),
    pytest.param(
        "", "INSERT INTO follows (follower_id, followee_id, active, version) "
            "VALUES (1, 3, true, 3)",
        "follow_graph_differs", "follow 1 -> 3: active in social, missing in core",
        id="follow-only-in-social"),
    pytest.param(
        f"INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES (2, 3, {OLD})", "",
        "blocks_differ", "block 2 -> 3: in core, missing in social", id="block-missing-in-social"),
    pytest.param(
        "", "INSERT INTO blocks (blocker_id, blocked_id, active, version) VALUES (2, 3, true, 9)",
        "blocks_differ", "block 2 -> 3: active in social, missing in core",
        id="block-only-in-social"),
    pytest.param(
        "", "UPDATE users SET is_private = true WHERE id = 3",
        "user_projection_differs", "user 3: is_private False in core, True in social",
        id="privacy-differs"),
    pytest.param(
        "UPDATE users SET is_private = true WHERE id = 1; INSERT INTO follow_requests "
        f"(requester_id, target_id, created_at) VALUES (2, 1, {OLD})",
        "UPDATE users SET is_private = true WHERE id = 1",
        "follows_against_blocks_and_requests", "request beside a follow: 2 -> 1",
        id="request-beside-a-follow"),
    pytest.param(
        f"INSERT INTO follow_requests (requester_id, target_id, created_at) VALUES (1, 3, {OLD})",
        "", "follows_against_blocks_and_requests", "request to a public account: 1 -> 3",
        id="request-to-a-public-account"),
    pytest.param(
        "", "UPDATE posts SET like_count = 5 WHERE id = 1",
        "post_counts_differ", "post 1: like_count 1 in core, 5 in social",
        id="like-count-differs"),
    pytest.param(
        "UPDATE users SET follower_count = 5 WHERE id = 1", "",
        "counters_differ_from_rows", "user 1: follower_count 5, 2 follows rows",
        id="wrong-follower-count"),
    pytest.param(
        "UPDATE posts SET comment_count = 0 WHERE id = 1",
        "UPDATE posts SET comment_count = 0 WHERE id = 1",
        "counters_differ_from_rows", "post 1: comment_count 0, 1 comments rows",
        id="wrong-comment-count"),
    pytest.param(
        """INSERT INTO sagas (id, type, status, step_index, data, deadline) VALUES
           ('00000000-0000-0000-0000-00000000000a', 'create_post', 'running', 1, '{}',
            now() - interval '5 minutes')""", "",
        "sagas_unfinished",
        "core create_post 00000000-0000-0000-0000-00000000000a: running at step 1, "
        "deadline passed 300 s ago",
        id="saga-past-deadline"),
    pytest.param(
        "", """INSERT INTO sagas (id, type, status, step_index, data, reason) VALUES
           ('00000000-0000-0000-0000-00000000000b', 'send_message', 'failed', 1, '{}',
            'compensation unanswered after 8 attempts')""",
        "sagas_unfinished",
        "social send_message 00000000-0000-0000-0000-00000000000b: failed at step 1: "
        "compensation unanswered after 8 attempts",
        id="failed-saga"),
    pytest.param(
        """INSERT INTO outbox (message_id, exchange, routing_key, message_type, body, created_at,
                               attempts, last_error)
           VALUES (gen_random_uuid(), 'core.commands', 'index_post_hashtags',
                   'index_post_hashtags', '{}', now() - interval '2 minutes', 3, 'NO_ROUTE')""",
        "", "outbox_unsent",
        "to core.commands: unsent for 120 s (3 attempts, last error: NO_ROUTE)",
        id="outbox-unsent-2-minutes"),
]


@pytest.mark.parametrize(("core_sql", "social_sql", "expected", "example"), BREAKAGES)
async def test_one_breakage_is_reported_by_its_check(
        dbs: Dbs, core_sql: str, social_sql: str, expected: str, example: str) -> None:
    if core_sql:
        await dbs.core_sql(core_sql)
    if social_sql:
        await dbs.social_sql(social_sql)
    report = await dbs.check()
    assert report.found() == {expected: 1}, report.to_text()
    finding = report.finding(expected)
    assert len(finding.examples) == 1
    assert example in finding.examples[0], finding.examples
    assert not report.ok
    text = report.to_text()
    assert f"{expected}: 1" in text and example in text
    assert text.splitlines()[-1] == f"INCONSISTENT: 1 of {len(CHECKS) - 1} checks found something"


async def test_examples_are_capped_at_five_but_all_are_counted(dbs: Dbs) -> None:
    await dbs.core_sql("UPDATE users SET post_count = 9, follower_count = 9, following_count = 9")
    finding = (await dbs.check()).finding("counters_differ_from_rows")
    assert finding.count == 9
    assert len(finding.examples) == 5


# ------------------------------------------------- what is not an inconsistency
async def test_young_changes_are_left_to_the_grace_period(dbs: Dbs) -> None:
    await dbs.core_sql("""
        INSERT INTO posts (id, author_id, content, status, version, published_at)
            VALUES (3, 1, 'just now', 'published', 2, now());
        UPDATE users SET post_count = 2 WHERE id = 1;
        INSERT INTO follows (follower_id, followee_id) VALUES (1, 2);
        UPDATE users SET following_count = 1 WHERE id = 1;
        UPDATE users SET follower_count = 1 WHERE id = 2;
        UPDATE users SET full_name = 'Bob Renamed', updated_at = now() WHERE id = 2;
    """)
    assert (await dbs.check(grace=60)).ok
    report = await dbs.check(grace=0)
    assert report.found() == {"posts_missing_in_social": 1, "follow_graph_differs": 1,
                              "user_projection_differs": 1}, report.to_text()


async def test_a_running_create_post_saga_may_have_links_before_publication(dbs: Dbs) -> None:
    await dbs.core_sql("""
        INSERT INTO posts (id, author_id, content, hashtags, status)
            VALUES (70, 1, 'soon #sunset', '{sunset}', 'pending');
        INSERT INTO sagas (id, type, status, step_index, data, deadline) VALUES
            (gen_random_uuid(), 'create_post', 'running', 1, '{"post_id": 70}',
             now() + interval '1 minute');
    """)
    await dbs.social_sql(f"""
        INSERT INTO posts (id, author_id, author_username, published, version, created_at)
            VALUES (70, 1, 'alice', false, 0, {OLD}), (71, 1, 'alice', false, 0, now());
        INSERT INTO post_hashtags (post_id, hashtag_id) VALUES (70, 1), (71, 1);
    """)
    # 70: saga running; 71: indexed a moment ago, no saga known yet
    assert (await dbs.check(grace=60)).ok
    report = await dbs.check(grace=0)
    assert report.found() == {"hashtag_links_to_unpublished_posts": 1}, report.to_text()
    assert report.finding("hashtag_links_to_unpublished_posts").examples == [
        "post 71 #sunset: indexed but never published (missing in core)"]


async def test_a_post_being_deleted_may_be_purged_from_social_already(dbs: Dbs) -> None:
    await dbs.core_sql("""
        UPDATE posts SET status = 'deleting' WHERE id = 2;
        INSERT INTO sagas (id, type, status, step_index, data, deadline) VALUES
            (gen_random_uuid(), 'delete_post', 'running', 1, '{"post_id": 2, "seq": 3}',
             now() + interval '1 minute');
    """)
    assert (await dbs.check()).ok  # social still shows it
    await dbs.social_sql("UPDATE posts SET published = false, version = 3 WHERE id = 2")
    assert (await dbs.check()).ok  # social purged it


async def test_hidden_notifications_and_fresh_outbox_rows_are_fine(dbs: Dbs) -> None:
    await dbs.social_sql(f"""
        INSERT INTO notifications (user_id, actor_id, type, reference_id, message, dedupe_key,
                                   hidden, created_at)
            VALUES (1, 77, 'like', 42, 'ghost liked your post', 'like:42:77', true, {OLD})""")
    await dbs.core_sql("""
        INSERT INTO outbox (message_id, exchange, routing_key, message_type, body)
            VALUES (gen_random_uuid(), 'core.events', 'post.liked', 'post.liked', '{}')""")
    report = await dbs.check()
    assert report.ok, report.to_text()


# ----------------------------------------------------------------- RabbitMQ
async def test_dead_lettered_messages_are_counted(
        dbs: Dbs, infra: Infra, new_vhost: Callable[[], str]) -> None:
    amqp_url = new_vhost()
    vhost = _vhost_of(amqp_url)
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue("x.commands.dlq", durable=True,
                                    arguments={"x-queue-type": "quorum"})
        await channel.default_exchange.publish(
            aio_pika.Message(b'{"poison": true}', delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key="x.commands.dlq")
    finally:
        await connection.close()

    # the management API's counts are statistics that lag by seconds
    deadline = time.monotonic() + 45
    while True:
        report = await dbs.check(rabbitmq_api_url=infra.rabbitmq_api_url, vhost=vhost)
        if report.found() or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert report.found() == {"dead_lettered_messages": 1}, report.to_text()
    assert report.finding("dead_lettered_messages").examples == ["x.commands.dlq: 1 message"]
    # a dead-letter queue is not work in flight
    assert await wait_until_settled(dbs.core, dbs.social, infra.rabbitmq_api_url, vhost,
                                    timeout=10)


async def test_an_unknown_vhost_cannot_be_checked(dbs: Dbs, infra: Infra) -> None:
    with pytest.raises(SourceUnavailable, match="no_such_vhost"):
        await dbs.check(rabbitmq_api_url=infra.rabbitmq_api_url, vhost="no_such_vhost")


async def test_wait_until_settled(dbs: Dbs, infra: Infra, new_vhost: Callable[[], str]) -> None:
    vhost = _vhost_of(new_vhost())
    assert await wait_until_settled(dbs.core, dbs.social, infra.rabbitmq_api_url, vhost,
                                    timeout=10)
    await dbs.social_sql("""
        INSERT INTO outbox (message_id, exchange, routing_key, message_type, body)
            VALUES (gen_random_uuid(), 'social.events', 'story.created', 'story.created', '{}')""")
    started = time.monotonic()
    assert not await wait_until_settled(dbs.core, dbs.social, infra.rabbitmq_api_url, vhost,
                                        timeout=1)
    assert time.monotonic() - started < 5


# ---------------------------------------------------------------------- CLI
def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("CORE_DATABASE_URL", "SOCIAL_DATABASE_URL", "RABBITMQ_API_URL")}
    return subprocess.run([sys.executable, "-m", "ops_tools.consistency", *args],
                          capture_output=True, text=True, timeout=120, cwd=REPO_ROOT, env=env)


async def test_cli_exit_codes(dbs: Dbs, infra: Infra, new_vhost: Callable[[], str]) -> None:
    vhost = _vhost_of(new_vhost())
    common = ("--core-db", asyncpg_dsn(dbs.core), "--social-db", dbs.social,
              "--rabbitmq-api", infra.rabbitmq_api_url, "--vhost", vhost, "--grace-seconds", "0")
    ok = await asyncio.to_thread(_cli, *common, "--settle", "5")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"consistent: {len(CHECKS)} checks, nothing found" in ok.stdout

    await dbs.core_sql("UPDATE users SET follower_count = 5 WHERE id = 1")
    found = await asyncio.to_thread(_cli, *common)
    assert found.returncode == 1, found.stdout + found.stderr
    assert "counters_differ_from_rows" in found.stdout
    assert "user 1: follower_count 5, 2 follows rows" in found.stdout

    unreachable = await asyncio.to_thread(
        _cli, "--core-db", "postgresql://postgres:secret@127.0.0.1:1/core",
        "--social-db", dbs.social, "--rabbitmq-api", "")
    assert unreachable.returncode == 2, unreachable.stdout + unreachable.stderr
    assert "core database" in unreachable.stderr and "secret" not in unreachable.stderr


def test_url_helpers() -> None:
    assert asyncpg_dsn("postgresql+asyncpg://u:p@h:5432/db") == "postgresql://u:p@h:5432/db"
    assert asyncpg_dsn("postgresql://h/db") == "postgresql://h/db"
    assert redact("postgresql://u:p@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact("http://h:15672") == "http://h:15672"


async def test_a_management_api_that_does_not_answer_names_the_plugin(dbs: Dbs) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SourceUnavailable, match="rabbitmq-plugins enable rabbitmq_management"):
        await dbs.check(rabbitmq_api_url=f"http://guest:guest@127.0.0.1:{port}", vhost="/")
