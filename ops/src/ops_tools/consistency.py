"""Cross-service consistency check: across both databases (and the dead-letter
queues), nothing lost and nothing orphaned.

It reads core's and social's databases with plain SQL (no service code, so it
can be pointed at production) and, optionally, the RabbitMQ management API
for dead-lettered messages. Each check is a function returning a
:class:`Finding`: how many things it found wrong and a few examples.

Eventual consistency: core's events reach social some time after core's
commit, so rows changed less than ``grace_seconds`` ago are not flagged where
a timestamp tells their age (posts, users, follows, likes, comments,
notifications). A post or user that a saga is working on (one still running
or compensating, or one that changed within the grace period, found by the
``post_id`` / ``user_id`` in the saga's data) is "in flux" and not flagged
either: its two sides legitimately differ until the saga ends, and a saga
stuck for longer than its deadline is reported by ``sagas_unfinished``.
Tests settle the system first (:func:`wait_until_settled`) and pass
``grace_seconds=0``.

Each database is read in one REPEATABLE READ, read-only transaction, so every
check sees one snapshot per database; the two snapshots are not taken at the
same instant, which is what the grace period also covers.

Run it as ``python -m ops_tools.consistency`` (``make check``): exit code 0
when nothing is found, 1 when something is, 2 when a database (or the
RabbitMQ management API) cannot be read.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

MAX_EXAMPLES = 5
#: outbox rows unsent for more than a minute are flagged whatever the grace
OUTBOX_MAX_AGE_SECONDS = 60.0
#: core post statuses that count as published (``deleting`` is mid delete_post saga)
CORE_VISIBLE_STATUSES = ("published", "deleting")
#: notification types whose ``reference_id`` is a post
POST_NOTIFICATION_TYPES = ("like", "comment", "mention")
ACTIVE_SAGA_STATUSES = ("running", "compensating")
#: queues whose messages are not work in flight
IDLE_QUEUE_SUFFIXES = (".dlq", ".unrouted")

DEFAULT_CORE_DB = "postgresql://postgres@127.0.0.1:5432/core"
DEFAULT_SOCIAL_DB = "postgresql://postgres@127.0.0.1:5432/social"
DEFAULT_RABBITMQ_API = "http://guest:guest@127.0.0.1:15672"

#: SQL for "older than the grace period" (``$1`` is the grace in seconds)
OLDER = "< now() - make_interval(secs => $1)"
RECENT = "> now() - make_interval(secs => $1)"


# ----------------------------------------------------------------- results
@dataclass(frozen=True)
class Finding:
    """What one check found: ``count`` problems, at most five ``examples``."""

    check: str
    count: int
    examples: list[str] = field(default_factory=list)


@dataclass
class Report:
    findings: list[Finding]
    #: checks that were not run, with the reason
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.count == 0 for f in self.findings)

    def finding(self, check: str) -> Finding:
        for f in self.findings:
            if f.check == check:
                return f
        raise KeyError(check)

    def found(self) -> dict[str, int]:
        """The checks that found something, with their counts."""
        return {f.check: f.count for f in self.findings if f.count}

    def to_text(self) -> str:
        lines: list[str] = []
        for f in self.findings:
            lines.append(f"{f.check}: {f.count}")
            lines.extend(f"    {example}" for example in f.examples)
        lines.extend(f"skipped: {reason}" for reason in self.skipped)
        n = len(self.findings)
        if self.ok:
            lines.append(f"consistent: {n} checks, nothing found")
        else:
            bad = sum(1 for f in self.findings if f.count)
            lines.append(f"INCONSISTENT: {bad} of {n} checks found something")
        return "\n".join(lines)


class SourceUnavailable(Exception):
    """A database or the RabbitMQ management API cannot be read."""


def _finding(check: str, problems: Sequence[str], count: int | None = None) -> Finding:
    return Finding(check, len(problems) if count is None else count,
                   list(problems[:MAX_EXAMPLES]))


# ----------------------------------------------------------------- sources
def asyncpg_dsn(url: str) -> str:
    """``postgresql+asyncpg://`` (SQLAlchemy's spelling) to ``postgresql://``."""
    scheme, sep, rest = url.partition("://")
    return scheme.split("+", 1)[0] + sep + rest if sep else url


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


async def _connect(url: str, what: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(
            asyncpg_dsn(url), timeout=10,
            server_settings={"application_name": "ops-consistency",
                             "default_transaction_read_only": "on"})
    except (OSError, TimeoutError, asyncpg.PostgresError,
            asyncpg.InterfaceError) as exc:
        raise SourceUnavailable(f"{what} database {redact(url)}: {exc}") from exc


class RabbitApi:
    """The few calls of the RabbitMQ management HTTP API this module needs."""

    def __init__(self, url: str, vhost: str, timeout: float = 10.0) -> None:
        parts = urllib.parse.urlsplit(url)
        base = urllib.parse.urlunsplit(
            (parts.scheme or "http", f"{parts.hostname}:{parts.port or 15672}",
             parts.path.rstrip("/"), "", ""))
        self.url = redact(url)
        self.vhost = vhost
        self._client = httpx.AsyncClient(
            base_url=base, timeout=timeout,
            auth=(urllib.parse.unquote(parts.username or "guest"),
                  urllib.parse.unquote(parts.password or "guest")))

    async def queues(self) -> list[dict[str, Any]]:
        path = f"/api/queues/{urllib.parse.quote(self.vhost, safe='')}"
        try:
            response = await self._client.get(path)
            response.raise_for_status()
        except httpx.ConnectError as exc:
            raise SourceUnavailable(
                f"RabbitMQ management API {self.url} does not answer ({exc}): is the "
                "management plugin on? `rabbitmq-plugins enable rabbitmq_management` "
                "(or --rabbitmq-api '' to skip the dead-letter check)") from exc
        except httpx.HTTPError as exc:
            raise SourceUnavailable(
                f"RabbitMQ management API {self.url} (vhost {self.vhost!r}): {exc}") from exc
        queues: list[dict[str, Any]] = response.json()
        return queues

    async def aclose(self) -> None:
        await self._client.aclose()


@dataclass(frozen=True)
class InFlux:
    """Posts and users a core saga is working on (see the module's doc)."""

    posts: frozenset[int] = frozenset()
    users: frozenset[int] = frozenset()

    @classmethod
    async def read(cls, core: asyncpg.Connection, grace: float) -> InFlux:
        rows = await core.fetch(
            f"""
            SELECT data->>'post_id' AS post_id, data->>'user_id' AS user_id FROM sagas
            WHERE (data ? 'post_id' OR data ? 'user_id')
              AND (status = ANY($2::text[]) OR updated_at {RECENT})
            """, grace, list(ACTIVE_SAGA_STATUSES))

        def ids(key: str) -> frozenset[int]:
            return frozenset(int(r[key]) for r in rows if str(r[key] or "").isdigit())

        return cls(posts=ids("post_id"), users=ids("user_id"))


@dataclass
class Sources:
    """What the checks read: one snapshot per database, the grace period."""

    core: asyncpg.Connection
    social: asyncpg.Connection
    grace: float
    rabbitmq: RabbitApi | None = None
    flux: InFlux = field(default_factory=InFlux)

    def post_in_flux(self, post_id: int, author_id: int | None = None) -> bool:
        return post_id in self.flux.posts or author_id in self.flux.users


# ------------------------------------------------------------------ checks
async def posts_missing_in_social(src: Sources) -> Finding:
    """Core posts that are published but not published in social's projection."""
    core = await src.core.fetch(
        f"SELECT id, author_id FROM posts WHERE status = 'published' AND created_at {OLDER} "
        "ORDER BY id", src.grace)
    ids = [r["id"] for r in core if not src.post_in_flux(r["id"], r["author_id"])]
    social = {r["id"]: r["published"] for r in await src.social.fetch(
        "SELECT id, published FROM posts WHERE id = ANY($1::bigint[])", ids)}
    problems = [
        f"post {i}: published in core, "
        + ("missing in social" if i not in social else "published = false in social")
        for i in ids if not social.get(i, False)
    ]
    return _finding("posts_missing_in_social", problems)


async def posts_only_in_social(src: Sources) -> Finding:
    """Posts published in social's projection that core does not publish: missing,
    pending, rejected, or ``deleting`` with no delete_post saga under way (while
    one is, the post is in flux and either side may show it)."""
    social_ids = [r["id"] for r in await src.social.fetch(
        "SELECT id, author_id FROM posts WHERE published ORDER BY id")
        if not src.post_in_flux(r["id"], r["author_id"])]
    core = {r["id"]: r for r in await src.core.fetch(
        "SELECT id, status FROM posts WHERE id = ANY($1::bigint[])", social_ids)}
    problems: list[str] = []
    for i in social_ids:
        row = core.get(i)
        if row is not None and row["status"] == "published":
            continue
        if row is None:
            problems.append(f"post {i}: published in social, missing in core")
        elif row["status"] == "deleting":
            problems.append(f"post {i}: published in social, 'deleting' in core "
                            "with no delete_post saga running")
        else:
            problems.append(f"post {i}: published in social, '{row['status']}' in core")
    return _finding("posts_only_in_social", problems)


async def hashtag_links_to_unpublished_posts(src: Sources) -> Finding:
    """Social hashtag links of posts that are missing or not published, except the
    links of a post whose create_post saga is still running (indexed, not yet
    published: ``version = 0``, young or still ``pending`` in core)."""
    links = await src.social.fetch(
        f"""
        SELECT ph.post_id, h.name, p.id IS NOT NULL AS present, p.author_id,
               coalesce(p.version, 0) AS version, coalesce(p.created_at {RECENT}, false) AS young
        FROM post_hashtags ph
        JOIN hashtags h ON h.id = ph.hashtag_id
        LEFT JOIN posts p ON p.id = ph.post_id
        WHERE p.id IS NULL OR NOT p.published
        ORDER BY ph.post_id, h.name
        """, src.grace)
    candidates = sorted({r["post_id"] for r in links})
    core_status = {r["id"]: r["status"] for r in await src.core.fetch(
        "SELECT id, status FROM posts WHERE id = ANY($1::bigint[])", candidates)}
    problems: list[str] = []
    for r in links:
        post_id, status = r["post_id"], core_status.get(r["post_id"])
        being_created = r["present"] and r["version"] == 0 and (
            r["young"] or status == "pending")
        if being_created or src.post_in_flux(post_id, r["author_id"]):
            continue
        core_says = f"'{status}' in core" if status else "missing in core"
        if not r["present"]:
            why = "no posts row in social"
        elif r["version"] == 0:
            why = f"indexed but never published ({core_says})"
        else:
            why = f"tombstone (published = false, version {r['version']}; {core_says})"
        problems.append(f"post {post_id} #{r['name']}: {why}")
    return _finding("hashtag_links_to_unpublished_posts", problems)


async def notifications_about_deleted(src: Sources) -> Finding:
    """Visible notifications about a post social does not show, or to or from a
    user who is deleted or deactivated (in core, the source of truth, or in
    social's projection). Hidden ones are tombstones (an unlike) and are fine."""
    problems: dict[int, str] = {}

    def describe(n: asyncpg.Record) -> str:
        about = f", post {n['reference_id']}" if n["type"] in POST_NOTIFICATION_TYPES else ""
        return (f"notification {n['id']} ({n['type']} to user {n['user_id']} "
                f"from {n['actor_id']}{about})")

    about_posts = await src.social.fetch(
        f"""
        SELECT n.id, n.type, n.user_id, n.actor_id, n.reference_id, p.id IS NOT NULL AS present
        FROM notifications n LEFT JOIN posts p ON p.id = n.reference_id
        WHERE NOT n.hidden AND n.type = ANY($2::text[]) AND n.created_at {OLDER}
          AND (p.id IS NULL OR NOT p.published)
        """, src.grace, list(POST_NOTIFICATION_TYPES))
    for n in about_posts:
        if src.post_in_flux(n["reference_id"]) or {n["user_id"], n["actor_id"]} & src.flux.users:
            continue
        state = "not published" if n["present"] else "missing"
        problems[n["id"]] = f"{describe(n)}: post {state} in social"

    # users referenced by visible notifications, as social and core see them
    referenced = {r["uid"]: r for r in await src.social.fetch(
        f"""
        WITH refs AS (
            SELECT user_id AS uid FROM notifications WHERE NOT hidden AND created_at {OLDER}
            UNION SELECT actor_id FROM notifications WHERE NOT hidden AND created_at {OLDER})
        SELECT r.uid, u.id IS NOT NULL AS present, coalesce(u.is_active, false) AS active
        FROM refs r LEFT JOIN users u ON u.id = r.uid
        """, src.grace)}
    core_users = {r["id"]: r for r in await src.core.fetch(
        f"SELECT id, is_active, updated_at {RECENT} AS recent FROM users "
        "WHERE id = ANY($2::bigint[])", src.grace, list(referenced))}
    bad_users: dict[int, str] = {}
    for uid, s in referenced.items():
        c = core_users.get(uid)
        if uid in src.flux.users or (c is not None and c["recent"]):
            continue  # being changed, deactivated or deleted right now
        if c is None:
            bad_users[uid] = "missing in core"
        elif not c["is_active"]:
            bad_users[uid] = "inactive in core"
        elif not s["present"]:
            bad_users[uid] = "missing in social"
        elif not s["active"]:
            bad_users[uid] = "inactive in social"
    if bad_users:
        rows = await src.social.fetch(
            f"""
            SELECT id, type, user_id, actor_id, reference_id FROM notifications
            WHERE NOT hidden AND created_at {OLDER}
              AND (user_id = ANY($2::bigint[]) OR actor_id = ANY($2::bigint[]))
            """, src.grace, list(bad_users))
        for n in rows:
            if n["id"] in problems:
                continue
            who = ("user", n["user_id"]) if n["user_id"] in bad_users else ("actor", n["actor_id"])
            problems[n["id"]] = f"{describe(n)}: {who[0]} {who[1]} {bad_users[who[1]]}"
    return _finding("notifications_about_deleted", [problems[i] for i in sorted(problems)])


_USER_FIELDS = ("username", "full_name", "profile_image_url", "is_active", "is_private")


async def user_projection_differs(src: Sources) -> Finding:
    """Social's users projection against core's users (the source of truth)."""
    core = {r["id"]: r for r in await src.core.fetch(
        f"""
        SELECT id, username, full_name, profile_image_url, is_active, is_private,
               (created_at {RECENT} OR updated_at {RECENT}) AS recent
        FROM users
        """, src.grace)}
    social = {r["id"]: r for r in await src.social.fetch(
        "SELECT id, username, full_name, profile_image_url, is_active, is_private FROM users")}
    problems: list[str] = []
    for uid in sorted(core.keys() | social.keys()):
        c, s = core.get(uid), social.get(uid)
        if uid in src.flux.users or (c is not None and c["recent"]):
            continue
        if c is None:
            if s is not None and s["is_active"]:
                problems.append(f"user {uid} ({s['username']}): active in social, missing in core")
        elif s is None:
            if c["is_active"]:
                problems.append(f"user {uid} ({c['username']}): active in core, missing in social")
        else:
            diffs = [f"{name} {c[name]!r} in core, {s[name]!r} in social"
                     for name in _USER_FIELDS if c[name] != s[name]]
            if diffs:
                problems.append(f"user {uid}: " + "; ".join(diffs))
    return _finding("user_projection_differs", problems)


async def _edges_differ(src: Sources, check: str, table: str, columns: tuple[str, str],
                        what: str) -> Finding:
    """Core's rows of ``table`` (one per edge) against social's copy (``active`` rows)."""
    a, b = columns
    core = {(r[a], r[b]): r["recent"] for r in await src.core.fetch(
        f"SELECT {a}, {b}, created_at {RECENT} AS recent FROM {table}", src.grace)}
    social = {(r[a], r[b]): r["active"] for r in await src.social.fetch(
        f"SELECT {a}, {b}, active FROM {table}")}
    problems: list[str] = []
    for pair in sorted(core.keys() | social.keys()):
        one, other = pair
        if one in src.flux.users or other in src.flux.users:
            continue
        if pair in core and not core[pair] and not social.get(pair, False):
            state = "inactive" if pair in social else "missing"
            problems.append(f"{what} {one} -> {other}: in core, {state} in social")
        elif pair not in core and social.get(pair, False):
            problems.append(f"{what} {one} -> {other}: active in social, missing in core")
    return _finding(check, problems)


async def follow_graph_differs(src: Sources) -> Finding:
    """Core's follows against social's follow graph (``active`` rows)."""
    return await _edges_differ(src, "follow_graph_differs", "follows",
                               ("follower_id", "followee_id"), "follow")


async def blocks_differ(src: Sources) -> Finding:
    """Core's blocks against social's (``active`` rows)."""
    return await _edges_differ(src, "blocks_differ", "blocks", ("blocker_id", "blocked_id"),
                               "block")


async def follows_against_blocks_and_requests(src: Sources) -> Finding:
    """In core: no follow between a blocked pair, no pending request where a follow
    or a block already is, no request to a public account."""
    rows = await src.core.fetch(f"""
        SELECT 'follow between a blocked pair' AS problem, f.follower_id AS a, f.followee_id AS b
        FROM follows f JOIN blocks x
          ON (x.blocker_id, x.blocked_id) IN ((f.follower_id, f.followee_id),
                                              (f.followee_id, f.follower_id))
        WHERE NOT (x.created_at {RECENT})
        UNION ALL
        SELECT 'request beside a follow', r.requester_id, r.target_id
        FROM follow_requests r JOIN follows f
          ON f.follower_id = r.requester_id AND f.followee_id = r.target_id
        WHERE NOT (r.created_at {RECENT})
        UNION ALL
        SELECT 'request between a blocked pair', r.requester_id, r.target_id
        FROM follow_requests r JOIN blocks x
          ON (x.blocker_id, x.blocked_id) IN ((r.requester_id, r.target_id),
                                              (r.target_id, r.requester_id))
        UNION ALL
        SELECT 'request to a public account', r.requester_id, r.target_id
        FROM follow_requests r JOIN users u ON u.id = r.target_id
        WHERE NOT u.is_private AND NOT (u.updated_at {RECENT}) AND NOT (r.created_at {RECENT})
        ORDER BY 2, 3""", src.grace)
    return _finding("follows_against_blocks_and_requests",
                    [f"{r['problem']}: {r['a']} -> {r['b']}" for r in rows])


async def post_counts_differ(src: Sources) -> Finding:
    """Like and comment counts of published posts: social's projection against core."""
    core = {r["id"]: r for r in await src.core.fetch(
        f"""
        SELECT p.id, p.author_id, p.like_count, p.comment_count FROM posts p
        WHERE p.status = 'published'
          AND NOT EXISTS (SELECT 1 FROM likes l WHERE l.post_id = p.id AND l.created_at {RECENT})
          AND NOT EXISTS (SELECT 1 FROM comments c
                          WHERE c.post_id = p.id AND c.created_at {RECENT})
        """, src.grace)}
    social = await src.social.fetch(
        "SELECT id, like_count, comment_count FROM posts "
        "WHERE published AND id = ANY($1::bigint[]) ORDER BY id", list(core))
    problems: list[str] = []
    for s in social:
        c = core[s["id"]]
        if src.post_in_flux(s["id"], c["author_id"]):
            continue
        diffs = [f"{name} {c[name]} in core, {s[name]} in social"
                 for name in ("like_count", "comment_count") if c[name] != s[name]]
        if diffs:
            problems.append(f"post {s['id']}: " + "; ".join(diffs))
    return _finding("post_counts_differ", problems)


async def counters_differ_from_rows(src: Sources) -> Finding:
    """Core's denormalised counters against the rows they count (same transaction
    in core, so no grace applies)."""
    users = await src.core.fetch(
        """
        WITH followers AS (SELECT followee_id AS id, count(*) AS n FROM follows GROUP BY 1),
             following AS (SELECT follower_id AS id, count(*) AS n FROM follows GROUP BY 1),
             posts AS (SELECT author_id AS id, count(*) AS n FROM posts
                       WHERE status = ANY($1::text[]) GROUP BY 1)
        SELECT u.id, u.follower_count, coalesce(fr.n, 0) AS followers,
               u.following_count, coalesce(fg.n, 0) AS following,
               u.post_count, coalesce(p.n, 0) AS posts
        FROM users u
        LEFT JOIN followers fr ON fr.id = u.id
        LEFT JOIN following fg ON fg.id = u.id
        LEFT JOIN posts p ON p.id = u.id
        WHERE u.follower_count <> coalesce(fr.n, 0) OR u.following_count <> coalesce(fg.n, 0)
           OR u.post_count <> coalesce(p.n, 0)
        ORDER BY u.id
        """, list(CORE_VISIBLE_STATUSES))
    posts = await src.core.fetch(
        """
        WITH l AS (SELECT post_id AS id, count(*) AS n FROM likes GROUP BY 1),
             c AS (SELECT post_id AS id, count(*) AS n FROM comments GROUP BY 1)
        SELECT p.id, p.like_count, coalesce(l.n, 0) AS likes,
               p.comment_count, coalesce(c.n, 0) AS comments
        FROM posts p LEFT JOIN l ON l.id = p.id LEFT JOIN c ON c.id = p.id
        WHERE p.like_count <> coalesce(l.n, 0) OR p.comment_count <> coalesce(c.n, 0)
        ORDER BY p.id
        """)
    problems: list[str] = []
    checks = (("user", users, (("follower_count", "followers", "follows rows"),
                               ("following_count", "following", "follows rows"),
                               ("post_count", "posts", "published or deleting posts"))),
              ("post", posts, (("like_count", "likes", "likes rows"),
                               ("comment_count", "comments", "comments rows"))))
    for kind, rows, counters in checks:
        for r in rows:
            for counter, actual, what in counters:
                if r[counter] != r[actual]:
                    problems.append(f"{kind} {r['id']}: {counter} {r[counter]}, "
                                    f"{r[actual]} {what}")
    return _finding("counters_differ_from_rows", problems)


async def sagas_unfinished(src: Sources) -> Finding:
    """Sagas past their deadline by more than the grace, and failed sagas (which
    need an operator), in both databases."""
    problems: list[str] = []
    for service, conn in (("core", src.core), ("social", src.social)):
        rows = await conn.fetch(
            f"""
            SELECT id, type, status, step_index, reason,
                   extract(epoch FROM now() - coalesce(deadline, updated_at))::bigint AS late
            FROM sagas
            WHERE status = 'failed'
               OR (status = ANY($2::text[]) AND coalesce(deadline, updated_at) {OLDER})
            ORDER BY created_at, id
            """, src.grace, list(ACTIVE_SAGA_STATUSES))
        for r in rows:
            head = f"{service} {r['type']} {r['id']}: {r['status']} at step {r['step_index']}"
            if r["status"] == "failed":
                problems.append(f"{head}: {_short(r['reason'] or 'no reason recorded')}")
            else:
                problems.append(f"{head}, deadline passed {r['late']} s ago")
    return _finding("sagas_unfinished", problems)


async def outbox_unsent(src: Sources) -> Finding:
    """Outbox rows unsent for more than a minute (or the grace, if longer)."""
    age = max(OUTBOX_MAX_AGE_SECONDS, src.grace)
    problems: list[str] = []
    total = 0
    for service, conn in (("core", src.core), ("social", src.social)):
        where = f"sent_at IS NULL AND created_at {OLDER}"
        total += await conn.fetchval(f"SELECT count(*) FROM outbox WHERE {where}", age)
        rows = await conn.fetch(
            f"""
            SELECT id, message_type, exchange, attempts, last_error,
                   extract(epoch FROM now() - created_at)::bigint AS waiting
            FROM outbox WHERE {where} ORDER BY id LIMIT {MAX_EXAMPLES}
            """, age)
        for r in rows:
            error = f", last error: {_short(r['last_error'], 80)}" if r["last_error"] else ""
            problems.append(f"{service} outbox {r['id']} {r['message_type']} to {r['exchange']}: "
                            f"unsent for {r['waiting']} s ({r['attempts']} attempts{error})")
    return _finding("outbox_unsent", problems, count=total)


async def dead_lettered_messages(src: Sources) -> Finding:
    """Messages waiting in the dead-letter queues of the vhost."""
    assert src.rabbitmq is not None
    problems: list[str] = []
    total = 0
    for q in sorted(await src.rabbitmq.queues(), key=lambda q: str(q.get("name"))):
        messages = int(q.get("messages") or 0)
        if str(q.get("name", "")).endswith(".dlq") and messages:
            total += messages
            problems.append(f"{q['name']}: {messages} message{'s' if messages != 1 else ''}")
    return _finding("dead_lettered_messages", problems, count=total)


def _short(text: str | None, limit: int = 120) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


Check = Callable[[Sources], Awaitable[Finding]]

#: every check, in report order (``dead_lettered_messages`` needs the RabbitMQ API)
CHECKS: tuple[Check, ...] = (
    posts_missing_in_social,
    posts_only_in_social,
    hashtag_links_to_unpublished_posts,
    notifications_about_deleted,
    user_projection_differs,
    follow_graph_differs,
    blocks_differ,
    follows_against_blocks_and_requests,
    post_counts_differ,
    counters_differ_from_rows,
    sagas_unfinished,
    outbox_unsent,
    dead_lettered_messages,
)


# --------------------------------------------------------------------- API
async def check(core_db: str, social_db: str, rabbitmq_api_url: str | None = None,
                vhost: str = "/", grace_seconds: float = 60.0) -> Report:
    """Run every check; raises :class:`SourceUnavailable` when a source cannot be read."""
    core = await _connect(core_db, "core")
    try:
        social = await _connect(social_db, "social")
    except BaseException:
        await core.close()
        raise
    rabbitmq = RabbitApi(rabbitmq_api_url, vhost) if rabbitmq_api_url else None
    grace = max(0.0, float(grace_seconds))
    findings: list[Finding] = []
    skipped: list[str] = []
    try:
        async with core.transaction(isolation="repeatable_read", readonly=True), \
                social.transaction(isolation="repeatable_read", readonly=True):
            src = Sources(core=core, social=social, grace=grace, rabbitmq=rabbitmq,
                          flux=await InFlux.read(core, grace))
            for run in CHECKS:
                if run is dead_lettered_messages and rabbitmq is None:
                    skipped.append("dead_lettered_messages (no RabbitMQ management API URL)")
                    continue
                findings.append(await run(src))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        # a lost connection, or a database without the services' schema
        raise SourceUnavailable(f"reading the databases: {exc!r}") from exc
    finally:
        if rabbitmq is not None:
            await rabbitmq.aclose()
        await asyncio.gather(core.close(), social.close(), return_exceptions=True)
    return Report(findings=findings, skipped=skipped)


async def _unsent_and_last_sent_age(url: str) -> tuple[int, float | None]:
    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        row = await conn.fetchrow(
            """
            SELECT (SELECT count(*) FROM outbox WHERE sent_at IS NULL) AS unsent,
                   extract(epoch FROM now() - (SELECT max(sent_at) FROM outbox))::float8 AS age
            """)
        assert row is not None
        return int(row["unsent"]), row["age"]
    finally:
        await conn.close()


def _busy_queues(queues: Iterable[dict[str, Any]]) -> list[str]:
    return [
        str(q.get("name")) for q in queues
        if not str(q.get("name", "")).endswith(IDLE_QUEUE_SUFFIXES)
        and (int(q.get("messages_ready") or 0) or int(q.get("messages_unacknowledged") or 0))
    ]


async def wait_until_settled(core_db: str, social_db: str, rabbitmq_api_url: str | None,
                             vhost: str = "/", timeout: float = 30.0, *,
                             quiet_seconds: float = 1.0, interval: float = 0.2) -> bool:
    """Poll until both outboxes are drained and every work queue of the vhost
    (all but ``*.dlq`` and ``*.unrouted``) has no message ready or unacknowledged;
    True when that happened within ``timeout``, False otherwise.

    The management API's queue counts are statistics that lag the broker by
    seconds (about 4 s for classic and 9 s for quorum queues on RabbitMQ 3.10), so
    a message published a moment ago is not seen there yet. Every message goes
    out through an outbox, though, so the system is also required to have sent
    nothing for ``quiet_seconds``: a message older than that has been consumed
    (healthy consumers take milliseconds) or shows up in the statistics soon.
    """
    rabbitmq = RabbitApi(rabbitmq_api_url, vhost) if rabbitmq_api_url else None
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                outboxes = [await _unsent_and_last_sent_age(url) for url in (core_db, social_db)]
                quiet = all(unsent == 0 and (age is None or age >= quiet_seconds)
                            for unsent, age in outboxes)
                if quiet and (rabbitmq is None or not _busy_queues(await rabbitmq.queues())):
                    return True
            except (OSError, TimeoutError, asyncpg.PostgresError,
                    asyncpg.InterfaceError, SourceUnavailable):
                pass  # not reachable yet: not settled
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(interval)
    finally:
        if rabbitmq is not None:
            await rabbitmq.aclose()


# --------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog="python -m ops_tools.consistency",
        description="Check that core's and social's databases agree (exit 0: consistent, "
                    "1: something found, 2: a database or the broker API cannot be read).")
    p.add_argument("--core-db", default=env("CORE_DATABASE_URL", DEFAULT_CORE_DB),
                   help=f"core's database URL (default: $CORE_DATABASE_URL or {DEFAULT_CORE_DB})")
    p.add_argument("--social-db", default=env("SOCIAL_DATABASE_URL", DEFAULT_SOCIAL_DB),
                   help="social's database URL (default: $SOCIAL_DATABASE_URL or "
                        f"{DEFAULT_SOCIAL_DB})")
    p.add_argument("--rabbitmq-api", default=env("RABBITMQ_API_URL", DEFAULT_RABBITMQ_API),
                   help="RabbitMQ management API URL with credentials, '' to skip the "
                        "dead-letter check (default: $RABBITMQ_API_URL or "
                        "http://guest:***@127.0.0.1:15672)")
    p.add_argument("--vhost", default="/", help="RabbitMQ vhost (default: /)")
    p.add_argument("--grace-seconds", type=float, default=60.0,
                   help="ignore changes younger than this (default: 60)")
    p.add_argument("--settle", type=float, default=0.0, metavar="SECONDS",
                   help="first wait up to SECONDS for outboxes and queues to drain (0: don't)")
    return p


async def _main(args: argparse.Namespace) -> int:
    api = args.rabbitmq_api or None
    if args.settle > 0 and not await wait_until_settled(
            args.core_db, args.social_db, api, args.vhost, timeout=args.settle):
        print(f"warning: not settled after {args.settle:g} s; checking anyway", file=sys.stderr)
    try:
        report = await check(args.core_db, args.social_db, api, args.vhost,
                             grace_seconds=args.grace_seconds)
    except SourceUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.to_text())
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(_main(_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
