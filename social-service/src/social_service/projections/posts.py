"""core's posts as social keeps them (for hashtag search), and their hashtag links.

A post is indexed unpublished by a running create_post saga
(:func:`index_pending`), published by ``post.published`` (:func:`publish`),
hidden by purge_post (:func:`purge`) and kept as a tombstone row by
``post.deleted`` (:func:`mark_deleted`). ``version`` holds the ``seq`` of the
last applied publication, purge or deletion, and each counter has its own
watermark (``likes_version``, ``comments_version``), since like and comment
events carry one counter each: an event not newer than what the row holds
changes nothing, so any delivery order ends in the same state.
"""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Integer,
    String,
    any_,
    bindparam,
    case,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from instasaga.messages import (
    CommentAdded,
    IndexPostHashtags,
    PostLiked,
    PostPublished,
    PostUnliked,
)
from shared_lib.database import Queries, Statement, Transaction
from shared_lib.errors import BadRequest
from shared_lib.messaging.consumer import MessageContext
from shared_lib.messaging.inbox import claimed
from social_service.domain.hashtags import normalise, rejection_reason
from social_service.models import Hashtag, PostHashtag, PostProjection
from social_service.projections.tombstones import any_user_deleted
from social_service.services import notifications
from social_service.settings import SocialSettings

# The statements of the create_post path (index_pending, publish) run for every post:
# each is built once, here, and executed with parameters (no statement building per
# message; the compiled form comes from SQLAlchemy's cache). They use the tables,
# not the mapped classes: an ORM insert executed with parameters is a bulk insert.
_posts, _hashtags = PostProjection.__table__, Hashtag.__table__
_TAGS = bindparam("tags", type_=ARRAY(String))
#: first the hashtags not seen yet; then, in a statement of its own whose snapshot
#: sees a hashtag another transaction created meanwhile, the links
_ADD_HASHTAGS = (pg_insert(_hashtags).from_select(["name"], select(func.unnest(_TAGS)))
                 .on_conflict_do_nothing(index_elements=["name"]))
_LINK_HASHTAGS = (pg_insert(PostHashtag.__table__)
                  .from_select(["post_id", "hashtag_id"],
                               select(bindparam("post_id", type_=BigInteger), _hashtags.c.id)
                               .where(_hashtags.c.name == any_(_TAGS)))
                  .on_conflict_do_nothing())
_PROJECTION = ("author_id", "author_username", "content", "image_url", "hashtags",
               "created_at")
_INDEX_PENDING = (pg_insert(_posts)
                  .values(id=bindparam("post_id"), published=False, version=0,
                          **{c: bindparam(c) for c in _PROJECTION})
                  .on_conflict_do_nothing())
_published = pg_insert(_posts).values(
    id=bindparam("post_id"), like_count=bindparam("like_count"),
    comment_count=bindparam("comment_count"), likes_version=bindparam("seq"),
    comments_version=bindparam("seq"), published=True, version=bindparam("seq"),
    **{c: bindparam(c) for c in _PROJECTION})
_PUBLISH = (_published.on_conflict_do_update(
    index_elements=[_posts.c.id],
    set_={**{c: getattr(_published.excluded, c) for c in _PROJECTION},
          "published": True, "version": _published.excluded.version},
    where=_posts.c.version < _published.excluded.version,
).returning(_posts.c.id))
#: both counters of a publication, each only if it is newer than the row's
_seq = bindparam("new_seq", type_=BigInteger)
_SET_COUNTS = (
    update(_posts)
    .where(_posts.c.id == bindparam("post"),
           (_posts.c.likes_version < _seq) | (_posts.c.comments_version < _seq))
    .values(like_count=case((_posts.c.likes_version < _seq,
                             bindparam("likes", type_=Integer)),
                            else_=_posts.c.like_count),
            likes_version=func.greatest(_posts.c.likes_version, _seq),
            comment_count=case((_posts.c.comments_version < _seq,
                                bindparam("comments", type_=Integer)),
                               else_=_posts.c.comment_count),
            comments_version=func.greatest(_posts.c.comments_version, _seq)))


# The same on the direct data path: the statements of every post's creation
_ADD_HASHTAGS_DIRECT = Statement("hashtags.add", """
    INSERT INTO hashtags (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING""")
_LINK_HASHTAGS_DIRECT = Statement("hashtags.link", """
    INSERT INTO post_hashtags (post_id, hashtag_id)
    SELECT $1, h.id FROM hashtags h WHERE h.name = ANY($2::text[])
    ON CONFLICT DO NOTHING""")
_UNLINK_HASHTAGS_DIRECT = Statement("hashtags.unlink",
                                    "DELETE FROM post_hashtags WHERE post_id = $1")
#: the post indexed unpublished and its hashtags created (the ones not seen yet), in
#: one round trip; the links need the hashtags' ids, which another transaction may be
#: committing now, so they are a statement of their own (``_LINK_HASHTAGS_DIRECT``)
_INDEX_PENDING_DIRECT = Statement("posts.index_pending", """
    WITH indexed AS (
        INSERT INTO posts (id, published, version, author_id, author_username, content,
                           image_url, hashtags, created_at)
        VALUES ($1, false, 0, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING)
    INSERT INTO hashtags (name) SELECT unnest($6::text[]) ON CONFLICT (name) DO NOTHING""")
#: the links go, and the row unless it was published
_UNINDEX_PENDING_DIRECT = Statement("posts.unindex_pending", """
    WITH unlinked AS (DELETE FROM post_hashtags WHERE post_id = $1)
    DELETE FROM posts WHERE id = $1 AND NOT published""")
#: ``_PUBLISH``, with the version the row had before (none: not indexed; 0: indexed
#: pending, its links made then; more: purged, its links gone)
_PUBLISH_DIRECT = Statement("posts.publish", """
    WITH old AS (SELECT version FROM posts WHERE id = $1),
    applied AS (
        INSERT INTO posts (id, like_count, comment_count, likes_version, comments_version,
                           published, version, author_id, author_username, content,
                           image_url, hashtags, created_at)
        VALUES ($1, $2, $3, $4, $4, true, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT (id) DO UPDATE
        SET author_id = excluded.author_id, author_username = excluded.author_username,
            content = excluded.content, image_url = excluded.image_url,
            hashtags = excluded.hashtags, created_at = excluded.created_at,
            published = true, version = excluded.version
        WHERE posts.version < excluded.version
        RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM applied) AS applied, (SELECT version FROM old) AS old""")
#: ``_SET_COUNTS`` ($1 post, $2 seq, $3 likes, $4 comments)
_SET_COUNTS_DIRECT = Statement("posts.set_counts", """
    UPDATE posts
    SET like_count = CASE WHEN likes_version < $2 THEN $3 ELSE like_count END,
        likes_version = greatest(likes_version, $2),
        comment_count = CASE WHEN comments_version < $2 THEN $4 ELSE comment_count END,
        comments_version = greatest(comments_version, $2)
    WHERE id = $1 AND (likes_version < $2 OR comments_version < $2)""")


async def link_hashtags(tx: Transaction, post_id: int, tags: list[str]) -> None:
    """Link the post to its (normalised) hashtags, creating the ones not seen yet."""
    if not tags:
        return
    if isinstance(tx, Queries):
        await tx.execute(_ADD_HASHTAGS_DIRECT, tags)
        await tx.execute(_LINK_HASHTAGS_DIRECT, post_id, tags)
        return
    await tx.execute(_ADD_HASHTAGS, {"tags": tags})
    await tx.execute(_LINK_HASHTAGS, {"post_id": post_id, "tags": tags})


async def unlink_hashtags(tx: Transaction, post_id: int) -> None:
    if isinstance(tx, Queries):
        await tx.execute(_UNLINK_HASHTAGS_DIRECT, post_id)
        return
    await tx.execute(delete(PostHashtag).where(PostHashtag.post_id == post_id))


async def index_pending(q: Queries, settings: SocialSettings, post: IndexPostHashtags
                        ) -> list[str]:
    """Index a post a create_post saga is creating, unpublished, with its
    normalised hashtags (returned); BadRequest, writing nothing, when the
    hashtags break the service's limits."""
    tags = normalise(post.hashtags)
    reason = rejection_reason(tags, max_count=settings.max_hashtags_per_post,
                              max_length=settings.max_hashtag_length,
                              banned=settings.banned_hashtag_set)
    if reason is not None:
        raise BadRequest(reason)
    await q.execute(_INDEX_PENDING_DIRECT, post.post_id, post.author_id, post.author_username,
                    post.content, post.image_url, tags, post.created_at)
    if tags:
        await q.execute(_LINK_HASHTAGS_DIRECT, post.post_id, tags)
    return tags


async def unindex_pending(q: Queries, post_id: int) -> None:
    """Undo :func:`index_pending`: the links go, and the row unless it was published."""
    await q.execute(_UNINDEX_PENDING_DIRECT, post_id)


def _counted(name: str, counter: str) -> Statement:
    """A like or comment event's whole effect, with its claim, as one statement: the
    post's ``counter`` set to $13 at ``seq`` $14 (unless a newer event set it) and the
    event's notification ($1..$12, see :func:`notifications.claimed_notification`).
    The counter's UPDATE is the notification's read of the post, after the users'."""
    watermark = {"like_count": "likes_version", "comment_count": "comments_version"}[counter]
    return notifications.claimed_notification(name, post=f"""
        UPDATE posts
        SET {counter} = CASE WHEN {watermark} < $14 THEN $13 ELSE {counter} END,
            {watermark} = greatest({watermark}, $14)
        WHERE id = $10 AND EXISTS (SELECT 1 FROM claim) AND EXISTS (SELECT 1 FROM gone)
        RETURNING published, version, deleted""")


#: each like and unlike, and each comment that mentions nobody: one statement
_COUNT_LIKE = _counted("posts.count_like", "like_count")
_COUNT_COMMENT = _counted("posts.count_comment", "comment_count")
#: the comment count in a transaction that has claimed the message ($1 post, $2 seq,
#: $3 count); with its claim, for a deleted comment
_SET_COMMENT_COUNT_DIRECT = Statement("posts.set_comment_count", """
    UPDATE posts SET comment_count = $3, comments_version = $2
    WHERE id = $1 AND comments_version < $2""")
_SET_COMMENT_COUNT = claimed("posts.set_comment_count_claimed", f"""
    {_SET_COMMENT_COUNT_DIRECT.sql.strip()} AND EXISTS (SELECT 1 FROM claim)""")


async def count_like(ctx: MessageContext, event: PostLiked | PostUnliked) -> None:
    """The post's like count, unless a newer event set it (an older ``seq`` changes
    nothing), and the like's notification (:func:`notifications.like_notice`), with the
    claim of the message being handled, in one statement (``_COUNT_LIKE``)."""
    await ctx.claimed(_COUNT_LIKE, *notifications.like_notice(event).args(),
                      event.like_count, event.seq)


async def count_comment(ctx: MessageContext, event: CommentAdded) -> None:
    """:func:`count_like` for a comment that mentions nobody."""
    await ctx.claimed(_COUNT_COMMENT, *notifications.comment_notice(event).args(),
                      event.comment_count, event.seq)


async def set_comment_count(ctx: MessageContext, post_id: int, seq: int, count: int) -> None:
    """The post's comment count, unless a newer event set it (for a deleted
    comment, which notifies nobody); claims the message being handled."""
    await ctx.claimed(_SET_COMMENT_COUNT, post_id, seq, count)


async def set_comment_count_in(q: Queries, post_id: int, seq: int, count: int) -> None:
    """:func:`set_comment_count` in the caller's transaction, which has claimed the
    message (and read the users it involves: the post is locked after them)."""
    await q.execute(_SET_COMMENT_COUNT_DIRECT, post_id, seq, count)


async def publish(q: Queries, post: PostPublished) -> None:
    """Publish the post, or publish it again when it is restored after a purge:
    its hashtag links and the notifications the purge withdrew come back (a post
    indexed pending has its links already, and nothing to restore).
    Nothing happens for a deleted author (a late event after purge_user)."""
    if await any_user_deleted(q, [post.author_id]):
        return
    row = await q.fetchrow(_PUBLISH_DIRECT, post.post_id, post.like_count,
                           post.comment_count, post.seq, post.author_id,
                           post.author_username, post.content, post.image_url, post.hashtags,
                           post.created_at)
    assert row is not None  # one row always
    await q.execute(_SET_COUNTS_DIRECT, post.post_id, post.seq, post.like_count,
                    post.comment_count)
    if row["applied"] and row["old"] != 0:
        # new here, or restored after a purge: its hashtag links (and notifications) back
        await link_hashtags(q, post.post_id, post.hashtags)
        await notifications.restore_about_post(q, post.post_id)


#: :func:`publish` with its inbox claim in one statement, for a post indexed pending
#: (version 0: its links made then) or already as new as the event (only its counters
#: may change): nothing for a deleted author; the author's row FOR SHARE, then the
#: post's. Any other post (not indexed, or restored after a purge: links and
#: notifications to bring back) is declined, for :func:`publish` in a transaction.
#: ($1 post, $2 likes, $3 comments, $4 seq, $5-$10 the projection's columns)
_PUBLISH_CLAIMED = claimed("posts.publish_claimed", claim_if="""
    EXISTS (SELECT 1 FROM posts WHERE id = $1 AND (version = 0 OR version >= $4))""",
    before="""
    gone AS MATERIALIZED (
        SELECT coalesce(bool_or(u.deleted), false) AS deleted FROM (
            SELECT deleted FROM users WHERE id = $5 AND EXISTS (SELECT 1 FROM claim)
            FOR SHARE) u)""",
    effect="""
    UPDATE posts SET
        author_id = CASE WHEN version = 0 THEN $5 ELSE author_id END,
        author_username = CASE WHEN version = 0 THEN $6 ELSE author_username END,
        content = CASE WHEN version = 0 THEN $7 ELSE content END,
        image_url = CASE WHEN version = 0 THEN $8 ELSE image_url END,
        hashtags = CASE WHEN version = 0 THEN $9 ELSE hashtags END,
        created_at = CASE WHEN version = 0 THEN $10 ELSE created_at END,
        published = published OR version = 0,
        version = CASE WHEN version = 0 THEN $4 ELSE version END,
        like_count = CASE WHEN likes_version < $4 THEN $2 ELSE like_count END,
        likes_version = greatest(likes_version, $4),
        comment_count = CASE WHEN comments_version < $4 THEN $3 ELSE comment_count END,
        comments_version = greatest(comments_version, $4)
    WHERE id = $1 AND EXISTS (SELECT 1 FROM claim) AND NOT (SELECT deleted FROM gone)""")


async def publish_claimed(ctx: MessageContext, post: PostPublished) -> bool:
    """:func:`publish` and the claim of the message being handled, in one statement,
    for the posts it suits (see ``_PUBLISH_CLAIMED``); False (nothing done) for the
    others."""
    return await ctx.claimed(_PUBLISH_CLAIMED, post.post_id, post.like_count,
                             post.comment_count, post.seq, post.author_id,
                             post.author_username, post.content, post.image_url,
                             post.hashtags, post.created_at) is not None


async def purge(session: AsyncSession, post_id: int, seq: int) -> bool:
    """Forget a post being deleted: hide its projection (kept as a tombstone at
    ``seq`` so that no older event brings it back), drop its hashtag links and
    withdraw the notifications about it (hidden, not deleted: when the saga
    gives up and restores the post, its ``post.published`` shows them again;
    ``post.deleted`` deletes them). A projection newer than ``seq`` belongs to
    a restored post and is left alone: False then."""
    purged = await session.scalar(
        update(PostProjection)
        .where(PostProjection.id == post_id, PostProjection.version <= seq)
        .values(published=False, version=seq)
        .returning(PostProjection.id))
    if purged is None:
        return False
    await unlink_hashtags(session, post_id)
    await notifications.withdraw_about_post(session, post_id)
    return True


async def mark_deleted(session: AsyncSession, post_id: int, seq: int) -> None:
    """The row stays as a tombstone at ``seq``: older events about the post
    find it newer than themselves and change nothing. Its hashtag links and the
    notifications about it (hidden since the purge) go."""
    deleted = await session.scalar(
        update(PostProjection)
        .where(PostProjection.id == post_id, PostProjection.version < seq)
        .values(published=False, deleted=True, version=seq)
        .returning(PostProjection.id))
    if deleted is not None:
        await unlink_hashtags(session, post_id)
        await notifications.delete_about_post(session, post_id)


async def withdraw_posts_of(session: AsyncSession, author_id: int) -> int:
    """Hide every post of a user being purged, with their hashtag links and the
    notifications about them (core's post.deleted events follow); how many
    notifications went."""
    posts = select(PostProjection.id).where(PostProjection.author_id == author_id)
    await session.execute(delete(PostHashtag).where(PostHashtag.post_id.in_(posts)))
    deleted = await notifications.delete_about_posts_of(session, author_id)
    await session.execute(update(PostProjection).where(PostProjection.author_id == author_id)
                          .values(published=False))
    return deleted
