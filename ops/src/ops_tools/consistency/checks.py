"""The checks: each reads the sources and returns a :class:`Finding` (how many things
it found wrong and a few examples). :data:`CHECKS` is every one, in report order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from .report import MAX_EXAMPLES, Finding, _finding
from .sources import ACTIVE_SAGA_STATUSES, RECENT, Sources

#: outbox rows unsent for more than a minute are flagged whatever the grace
OUTBOX_MAX_AGE_SECONDS = 60.0
#: core post statuses that count as published (``deleting`` is mid delete_post saga)
CORE_VISIBLE_STATUSES = ("published", "deleting")
#: notification types whose ``reference_id`` is a post
POST_NOTIFICATION_TYPES = ("like", "comment", "mention")
#: SQL for "older than the grace period" (``$1`` is the grace in seconds)
OLDER = "< now() - make_interval(secs => $1)"


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


