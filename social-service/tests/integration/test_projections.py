"""social's real handlers on a real, migrated database, fed core's events
in-process (no broker), in every order and with every kind of duplicate.

Each envelope is decoded from its JSON, as the consumer would get it off the
wire, and handed to every queue the topology routes it to, each queue with
its own consumer and inbox, as RabbitMQ would deliver it.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from instasaga.messages import (
    CommentAdded,
    CommentDeleted,
    FollowAccepted,
    FollowRequested,
    IndexPostHashtags,
    PostDeleted,
    PostLiked,
    PostPublished,
    PostUnliked,
    PurgePost,
    PurgeUser,
    UserBlocked,
    UserDeleted,
    UserFollowed,
    UserRegistered,
    UserUnblocked,
    UserUnfollowed,
    UserUpdated,
)
from instasaga.queues import CORE_REPLIES, SOCIAL_COMMANDS, SOCIAL_NOTIFICATIONS, SOCIAL_PROJECTIONS
from instasaga.services import CORE, SOCIAL
from instasaga.topology import system_topology
from shared_lib.contracts import Envelope, Payload, ReplyOutcome, SagaReply, envelope_for
from shared_lib.contracts.routing import commands_exchange, events_exchange
from shared_lib.database import Database
from shared_lib.db import make_engine
from shared_lib.messaging.consumer import MessageConsumer, MessageContext, decode
from shared_lib.metrics import Metrics
from shared_lib.outbox import publish_caused_by
from shared_lib.saga.participant import saga_message_id
from shared_lib.tables import outbox
from social_service.handlers import SUBSCRIPTIONS, commands
from social_service.models import (
    BlockEdge,
    FollowEdge,
    Hashtag,
    Notification,
    PostHashtag,
    PostProjection,
    UserProjection,
)
from social_service.settings import SocialSettings
from testkit.processes import run_migrations

PROJECTIONS = SOCIAL_PROJECTIONS
NOTIFICATIONS = SOCIAL_NOTIFICATIONS
COMMANDS = SOCIAL_COMMANDS
REPLY_TO = CORE_REPLIES

TOPOLOGY = system_topology()
CREATED_AT = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


# ------------------------------------------------------------------ harness
class Social:
    """social's consumers over one migrated database, fed without a broker."""

    def __init__(self, engine: AsyncEngine, database: Database) -> None:
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        handlers = SUBSCRIPTIONS.handlers()
        self.metrics = Metrics(SOCIAL)
        self.consumers = {
            queue: MessageConsumer(queue=queue, service=SOCIAL, handlers=handlers[queue],
                                   session_factory=self.sessions, metrics=self.metrics,
                                   publisher=publish_caused_by, settings=SocialSettings(),
                                   database=database)
            for queue in (PROJECTIONS, NOTIFICATIONS, COMMANDS)
        }

    async def _process(self, queue: str, envelope: Envelope) -> None:
        consumer = self.consumers[queue]
        env, payload = decode(envelope.model_dump_json().encode())
        await consumer.process(env, payload, consumer.handlers[env.type])

    async def deliver(self, envelopes: Iterable[Envelope]) -> None:
        """Deliver core's events, one by one, to every queue they are routed to."""
        for envelope in envelopes:
            queues = TOPOLOGY.routes(events_exchange(CORE), envelope.type)
            assert queues, f"{envelope.type} reaches no queue"
            for queue in queues:
                await self._process(queue, envelope)

    async def deliver_to(self, queue: str, envelopes: Iterable[Envelope]) -> None:
        """Deliver events to one of the queues they are routed to (the other
        queue's consumer being slower)."""
        for envelope in envelopes:
            assert queue in TOPOLOGY.routes(events_exchange(CORE), envelope.type)
            await self._process(queue, envelope)

    async def command(self, payload: Payload, *, saga_id: uuid.UUID, step: str) -> SagaReply:
        """Send a saga's command, as core's orchestrator would; return social's reply."""
        envelope = envelope_for(payload, source=CORE, correlation_id=saga_id, step=step,
                                reply_to=REPLY_TO,
                                message_id=saga_message_id(saga_id, step, compensation=False))
        assert TOPOLOGY.routes(commands_exchange(SOCIAL), envelope.type) == [COMMANDS]
        await self._process(COMMANDS, envelope)
        async with self.sessions() as session:
            body = await session.scalar(
                select(outbox.c.body)
                .where(outbox.c.exchange == REPLY_TO,
                       outbox.c.correlation_id == str(saga_id))
                .order_by(outbox.c.id.desc()).limit(1))
        assert body is not None, "no reply in the outbox"
        return SagaReply.model_validate(Envelope.model_validate_json(body).payload)

    def duplicates(self, queue: str) -> int:
        value = self.metrics.registry.get_sample_value("messages_duplicate_total",
                                                       {"queue": queue})
        return int(value or 0)

    # ----------------------------------------------------------------- reads
    async def user(self, user_id: int) -> UserProjection | None:
        async with self.sessions() as session:
            return await session.get(UserProjection, user_id)

    async def post(self, post_id: int) -> PostProjection | None:
        async with self.sessions() as session:
            return await session.get(PostProjection, post_id)

    async def follow(self, follower_id: int, followee_id: int) -> FollowEdge | None:
        async with self.sessions() as session:
            return await session.get(FollowEdge, (follower_id, followee_id))

    async def post_hashtags(self, post_id: int) -> set[str]:
        async with self.sessions() as session:
            return set((await session.execute(
                select(Hashtag.name).join(PostHashtag, PostHashtag.hashtag_id == Hashtag.id)
                .where(PostHashtag.post_id == post_id))).scalars())

    async def notifications(self) -> list[Notification]:
        async with self.sessions() as session:
            return list((await session.execute(
                select(Notification).order_by(Notification.id))).scalars())

    async def visible(self) -> list[Notification]:
        """Every notification that is not hidden."""
        return [n for n in await self.notifications() if not n.hidden]

    async def follows(self) -> list[FollowEdge]:
        async with self.sessions() as session:
            return list((await session.execute(select(FollowEdge))).scalars())

    async def lock_waits(self) -> int:
        """Sessions of this database waiting for a lock."""
        async with self.sessions() as session:
            return await session.scalar(text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'")) or 0

    async def listed(self, user_id: int) -> list[Notification]:
        """A user's notifications as /api/notifications lists them (not hidden)."""
        async with self.sessions() as session:
            return list((await session.execute(
                select(Notification)
                .where(Notification.user_id == user_id, Notification.hidden.is_(False))
                .order_by(Notification.id))).scalars())


@pytest.fixture
async def social(new_database: Callable[[], str]) -> AsyncIterator[Social]:
    url = new_database()
    run_migrations("social_service", url)
    engine = make_engine(url, pool_size=4)
    database = Database(url, size=2)
    await database.open()
    yield Social(engine, database)
    await database.close()
    await engine.dispose()


def event(payload: Payload) -> Envelope:
    return envelope_for(payload, source=CORE)


def resent(envelopes: Iterable[Envelope]) -> list[Envelope]:
    """The same events under new message ids (core's relay re-publishing, say):
    the inbox cannot tell, only ``seq`` can."""
    return [e.model_copy(update={"message_id": uuid.uuid4()}) for e in envelopes]


@dataclass(frozen=True)
class Plan:
    """A delivery order of a list of envelopes."""

    name: str
    order: Callable[[list[Envelope]], list[Envelope]]

    def __call__(self, envelopes: list[Envelope]) -> list[Envelope]:
        return self.order(envelopes)


IN_ORDER = Plan("in order", lambda es: list(es))
TWICE = Plan("every envelope twice", lambda es: [e for e in es for _ in range(2)])
RESENT = Plan("then again with new ids", lambda es: list(es) + resent(es))
REVERSE = Plan("in reverse", lambda es: list(reversed(es)))


# -------------------------------------------------------------- 1. users
ALICE = 1


def user_events() -> list[Envelope]:
    return [
        event(UserRegistered(seq=1, user_id=ALICE, username="alice", full_name=None)),
        event(UserUpdated(seq=2, user_id=ALICE, username="alice", full_name="Alice Liddell")),
        event(UserUpdated(seq=3, user_id=ALICE, username="alice_l", full_name="Alice L.",
                          profile_image_url="https://img.example/alice.png")),
    ]


@pytest.mark.parametrize("plan", [IN_ORDER, TWICE, RESENT, REVERSE], ids=lambda p: p.name)
async def test_user_projection_ends_the_same_in_any_delivery(social: Social, plan: Plan) -> None:
    await social.deliver(plan(user_events()))

    user = await social.user(ALICE)
    assert user is not None
    assert (user.username, user.full_name, user.profile_image_url, user.is_active,
            user.version) == ("alice_l", "Alice L.", "https://img.example/alice.png", True, 3)
    if plan is TWICE:  # the second copy of each message was recognised by the inbox
        assert social.duplicates(PROJECTIONS) == 3
    else:
        assert social.duplicates(PROJECTIONS) == 0


@pytest.mark.parametrize("plan", [IN_ORDER, REVERSE], ids=lambda p: p.name)
async def test_a_deleted_user_stays_deleted(social: Social, plan: Plan) -> None:
    """user.deleted leaves an inactive tombstone: no older event makes it active again."""
    await social.deliver(plan([*user_events(), event(UserDeleted(seq=4, user_id=ALICE))]))

    user = await social.user(ALICE)
    assert user is not None
    assert (user.is_active, user.version) == (False, 4)


# ---------------------------------------------------------------- 2. posts
AUTHOR, LIKER, COMMENTER = 1, 2, 3
POST = 10


async def index_post(social: Social, post_id: int = POST, author_id: int = AUTHOR,
                     hashtags: Sequence[str] = ("#Sunset", "beach")) -> None:
    """What creates the (unpublished) projection in real life: create_post's command."""
    reply = await social.command(
        IndexPostHashtags(post_id=post_id, author_id=author_id, author_username="alice",
                          content="at the #sunset", hashtags=list(hashtags),
                          created_at=CREATED_AT),
        saga_id=uuid.uuid4(), step="index_hashtags")
    assert reply.outcome == ReplyOutcome.accepted


def published(seq: int, post_id: int = POST, content: str = "at the #sunset",
              like_count: int = 0, comment_count: int = 0) -> Envelope:
    return event(PostPublished(seq=seq, post_id=post_id, author_id=AUTHOR,
                               author_username="alice", content=content,
                               hashtags=["sunset", "beach"], like_count=like_count,
                               comment_count=comment_count, created_at=CREATED_AT))


def liked(seq: int, like_count: int, *, user_id: int = LIKER, username: str = "bob",
          post_id: int = POST) -> Envelope:
    return event(PostLiked(seq=seq, post_id=post_id, post_author_id=AUTHOR, user_id=user_id,
                           username=username, like_count=like_count))


def unliked(seq: int, like_count: int, *, user_id: int = LIKER, username: str = "bob",
            post_id: int = POST) -> Envelope:
    return event(PostUnliked(seq=seq, post_id=post_id, post_author_id=AUTHOR, user_id=user_id,
                             username=username, like_count=like_count))


def commented(seq: int, comment_count: int, *, comment_id: int = 100, content: str = "nice",
              author_id: int = COMMENTER, author_username: str = "carol",
              post_id: int = POST) -> Envelope:
    return event(CommentAdded(seq=seq, comment_id=comment_id, post_id=post_id,
                              post_author_id=AUTHOR, author_id=author_id,
                              author_username=author_username, content=content,
                              comment_count=comment_count, created_at=CREATED_AT))


def post_events() -> list[Envelope]:
    """A post's life in core: published (2), liked (3), commented (4), unliked (5)."""
    return [published(2), liked(3, like_count=1), commented(4, comment_count=1),
            unliked(5, like_count=0)]


def shuffled_with_duplicates(es: list[Envelope]) -> list[Envelope]:
    pub, like, comment, unlike = es
    return [like, pub, unlike, like, comment, *resent([pub, unlike]), comment]


@pytest.mark.parametrize("plan", [
    IN_ORDER,
    Plan("in order, twice, then again with new ids",
         lambda es: [e for e in es for _ in range(2)] + resent(es)),
    REVERSE,
    Plan("shuffled with duplicates", shuffled_with_duplicates),
], ids=lambda p: p.name)
async def test_post_projection_ends_the_same_in_any_delivery(social: Social,
                                                              plan: Plan) -> None:
    await index_post(social)
    await social.deliver(plan(post_events()))

    post = await social.post(POST)
    assert post is not None
    # each counter follows its own watermark; version is the publication's seq
    assert (post.published, post.like_count, post.comment_count) == (True, 0, 1)
    assert (post.version, post.likes_version, post.comments_version) == (2, 5, 4)
    assert post.hashtags == ["sunset", "beach"]
    assert await social.post_hashtags(POST) == {"sunset", "beach"}


async def test_a_comment_count_is_not_lost_behind_a_newer_like_event(social: Social) -> None:
    await index_post(social)
    # comment.added (4) and post.unliked (5) swapped in delivery
    await social.deliver([published(2), liked(3, like_count=1), unliked(5, like_count=0),
                          commented(4, comment_count=1)])

    post = await social.post(POST)
    assert post is not None
    assert (post.like_count, post.comment_count) == (0, 1)
    assert (post.likes_version, post.comments_version) == (5, 4)


async def test_a_post_is_published_even_if_a_like_overtakes_its_publication(
        social: Social) -> None:
    await index_post(social)
    await social.deliver([liked(3, like_count=1), published(2)])

    post = await social.post(POST)
    assert post is not None
    assert (post.published, post.like_count, post.version, post.likes_version) == \
        (True, 1, 2, 3)


async def test_a_deleted_post_stays_a_tombstone(social: Social) -> None:
    await index_post(social)
    await social.deliver([*post_events(), event(PostDeleted(seq=6, post_id=POST,
                                                            author_id=AUTHOR))])

    post = await social.post(POST)
    assert post is not None
    assert (post.published, post.version) == (False, 6)
    assert await social.post_hashtags(POST) == set()

    # late copies of older events (new message ids: only seq can stop them)
    await social.deliver(resent([published(2), liked(3, like_count=1)]))

    post = await social.post(POST)
    assert post is not None
    assert (post.published, post.like_count, post.comment_count, post.version) == \
        (False, 0, 1, 6)
    assert await social.post_hashtags(POST) == set()


# ---------------------------------------------------------- 3. follow graph
def followed(seq: int, follower_id: int, followee_id: int) -> Envelope:
    return event(UserFollowed(seq=seq, follower_id=follower_id,
                              follower_username=f"user{follower_id}", followee_id=followee_id))


def unfollowed(seq: int, follower_id: int, followee_id: int) -> Envelope:
    return event(UserUnfollowed(seq=seq, follower_id=follower_id,
                                follower_username=f"user{follower_id}",
                                followee_id=followee_id))


async def test_follow_edge_ends_active_in_every_delivery_order(social: Social) -> None:
    followee = 1
    orders = list(itertools.permutations(range(3)))
    for follower, order in enumerate(orders, start=100):  # one pair per order
        life = [followed(1, follower, followee), unfollowed(2, follower, followee),
                followed(3, follower, followee)]
        await social.deliver([life[i] for i in order])

    for follower, order in enumerate(orders, start=100):
        edge = await social.follow(follower, followee)
        assert edge is not None
        assert (edge.active, edge.version) == (True, 3), f"delivery order {order}"


async def test_an_unfollow_is_not_undone_by_an_older_follow(social: Social) -> None:
    await social.deliver([unfollowed(2, 100, 1), followed(1, 100, 1)])

    edge = await social.follow(100, 1)
    assert edge is not None
    assert (edge.active, edge.version) == (False, 2)


# --------------------------------------------------------- 4. notifications
A, B, C = 1, 2, 3  # alice, bob, carol


def registrations() -> list[Envelope]:
    return [event(UserRegistered(seq=1, user_id=uid, username=name))
            for uid, name in ((A, "alice"), (B, "bob"), (C, "carol"))]


def facts(comment: int = 100) -> list[Envelope]:
    """Every kind of fact about alice's post POST (seq: the post's version)."""
    return [
        liked(2, like_count=1, user_id=B, username="bob"),
        liked(3, like_count=2, user_id=A, username="alice"),  # self-like: no notification
        commented(4, comment_count=1, comment_id=comment, content="hi @carol and @nobody",
                  author_id=B, author_username="bob"),
        followed(1, B, A),
        published(1, content="first post, thanks @bob"),
    ]


def summary(notifications: Iterable[Notification]) -> list[tuple[int, int, str, int | None]]:
    return sorted((n.user_id, n.actor_id, n.type, n.reference_id) for n in notifications)


async def test_each_fact_notifies_exactly_once(social: Social) -> None:
    await social.deliver(registrations())
    envelopes = facts()
    await social.deliver(envelopes)
    await social.deliver(envelopes)  # redelivered: same message ids
    await social.deliver(resent(envelopes))  # re-published: new message ids

    # each inbox recognised the redelivered copies: every fact reaches the projections
    # queue only, whose consumer notifies in the statement that keeps the projection
    # (the self-like too: it changes the post's like count, and notifies nobody)
    assert TOPOLOGY.routes(events_exchange(CORE), "post.liked") == [PROJECTIONS]
    assert social.duplicates(PROJECTIONS) == 5
    assert social.duplicates(NOTIFICATIONS) == 0
    notifications = await social.notifications()
    assert summary(notifications) == sorted([
        (A, B, "like", POST),
        (A, B, "comment", POST),
        (C, B, "mention", POST),  # @carol in bob's comment; @nobody is no user
        (A, B, "follow", B),
        (B, A, "mention", POST),  # @bob in alice's post
    ])
    assert not any(n.hidden for n in notifications)
    assert len({n.dedupe_key for n in notifications}) == len(notifications)
    # the counters were kept by the same statements (the mentioning comment's in its
    # transaction)
    post = await social.post(POST)
    assert post is not None and (post.like_count, post.comment_count) == (2, 1)


async def test_a_like_notification_shows_the_newest_of_like_and_unlike(social: Social) -> None:
    early, late = 10, 11  # two of alice's posts, liked and unliked by bob
    await social.deliver(registrations())

    # the unlike (5) overtakes the like (4): the like must not show up late
    await social.deliver([unliked(5, 0, user_id=B, post_id=early),
                          liked(4, 1, user_id=B, post_id=early)])
    # in order: like (4), unlike (5)
    await social.deliver([liked(4, 1, user_id=B, post_id=late),
                          unliked(5, 0, user_id=B, post_id=late)])

    notifications = await social.notifications()
    assert summary(notifications) == [(A, B, "like", early), (A, B, "like", late)]
    assert all(n.hidden for n in notifications)
    assert await social.listed(A) == []

    # liked again (6): shown again, still one notification per post and liker
    await social.deliver([liked(6, 1, user_id=B, post_id=early),
                          liked(6, 1, user_id=B, post_id=late)])

    notifications = await social.notifications()
    assert summary(notifications) == [(A, B, "like", early), (A, B, "like", late)]
    assert not any(n.hidden for n in notifications)
    assert summary(await social.listed(A)) == summary(notifications)


# -------------------------------------------------------------- 5. purge_post
async def purge(social: Social, post_id: int, seq: int) -> SagaReply:
    """delete_post's remote step, as core's orchestrator sends it."""
    return await social.command(PurgePost(post_id=post_id, seq=seq), saga_id=uuid.uuid4(),
                                step="purge_post")


async def post_with_notifications(social: Social, post_id: int) -> None:
    """alice's post, with hashtags, a like, a comment and two mentions, at version 4."""
    await index_post(social, post_id)
    await social.deliver([
        published(2, post_id=post_id, content="at the #sunset with @bob"),
        liked(3, 1, user_id=B, post_id=post_id),
        commented(4, 1, comment_id=post_id * 10, content="lovely @bob", author_id=C,
                  author_username="carol", post_id=post_id),
    ])


async def test_purge_post_forgets_the_post(social: Social) -> None:
    # bob's user id is also a post id: his follow notification (reference_id = bob)
    # must not be mistaken for a notification about that post
    doomed, other = B, 20
    await social.deliver([*registrations(), followed(1, B, A)])
    await post_with_notifications(social, doomed)
    await post_with_notifications(social, other)
    assert summary(await social.notifications()) == sorted(
        [(A, B, "follow", B)]
        + [n for p in (doomed, other) for n in [(B, A, "mention", p), (A, B, "like", p),
                                                (A, C, "comment", p), (B, C, "mention", p)]])

    reply = await purge(social, doomed, seq=5)  # mark_deleting made the post version 5

    assert (reply.outcome, reply.data) == (ReplyOutcome.accepted, {"purged": True})
    post = await social.post(doomed)
    assert post is not None
    assert (post.published, post.version) == (False, 5)
    assert await social.post_hashtags(doomed) == set()
    assert summary(await social.visible()) == sorted([
        (A, B, "follow", B),
        (B, A, "mention", other), (A, B, "like", other), (A, C, "comment", other),
        (B, C, "mention", other),
    ])
    untouched = await social.post(other)
    assert untouched is not None and untouched.published
    assert await social.post_hashtags(other) == {"sunset", "beach"}


async def test_purge_post_leaves_a_restored_post_alone(social: Social) -> None:
    await social.deliver(registrations())
    await post_with_notifications(social, POST)
    # delete_post saga: mark_deleting (5), purge_post (5) is slow to arrive, the saga
    # gives up and restores the post (6), announced by post.published
    await social.deliver([published(6, content="at the #sunset with @bob", like_count=1,
                                    comment_count=1)])
    before = summary(await social.notifications())

    reply = await purge(social, POST, seq=5)  # the late purge

    assert (reply.outcome, reply.data) == (ReplyOutcome.accepted, {"purged": False})
    post = await social.post(POST)
    assert post is not None
    assert (post.published, post.like_count, post.comment_count, post.version) == \
        (True, 1, 1, 6)
    assert await social.post_hashtags(POST) == {"sunset", "beach"}
    assert summary(await social.notifications()) == before
    assert len(before) == 4


async def test_a_late_like_does_not_notify_about_a_purged_post(social: Social) -> None:
    await social.deliver(registrations())
    await index_post(social)
    await social.deliver([published(2)])
    late_like = liked(3, 1, user_id=B)  # still queued when the purge is handled
    reply = await purge(social, POST, seq=4)
    assert reply.data == {"purged": True}

    await social.deliver([late_like])

    assert await social.visible() == []
    # and once the post is deleted for good, nothing about it is kept
    await social.deliver([event(PostDeleted(seq=5, post_id=POST, author_id=AUTHOR)),
                          *resent([late_like])])
    assert await social.notifications() == []


async def test_a_post_restored_after_a_late_purge_gets_its_notifications_back(
        social: Social) -> None:
    """delete_post gave up waiting for social and restored the post (post.published,
    seq 9), but the purge (seq 8) was only slow: handled first, it hides the
    post's notifications, and the restore shows them again. A fact still queued
    at the purge (a comment) shows with them; one undone meanwhile (carol's
    like) stays hidden."""
    await social.deliver(registrations())
    await index_post(social)
    await social.deliver([
        published(2, content="at the #sunset with @bob"),
        liked(3, 1, user_id=B, username="bob"),
        commented(4, 1, comment_id=40, content="lovely @bob", author_id=C,
                  author_username="carol"),
        liked(5, 2, user_id=C, username="carol"),
    ])
    before = summary(await social.visible())
    assert before == sorted([(B, A, "mention", POST), (A, B, "like", POST),
                             (A, C, "comment", POST), (B, C, "mention", POST),
                             (A, C, "like", POST)])
    queued = [unliked(6, 1, user_id=C, username="carol"),
              commented(7, 2, comment_id=70, content="thanks @carol", author_id=B,
                        author_username="bob")]

    reply = await purge(social, POST, seq=8)
    assert reply.data == {"purged": True}
    assert await social.visible() == []
    await social.deliver(queued)
    assert await social.visible() == []  # recorded, hidden with the post

    await social.deliver([published(9, content="at the #sunset with @bob", like_count=1,
                                    comment_count=2)])

    post = await social.post(POST)
    assert post is not None and (post.published, post.version) == (True, 9)
    assert summary(await social.visible()) == sorted(
        [n for n in before if n != (A, C, "like", POST)]
        + [(A, B, "comment", POST), (C, B, "mention", POST)])
    # a copy of the purge arriving now changes nothing (the restore is newer)
    assert (await purge(social, POST, seq=8)).data == {"purged": False}
    assert len(await social.visible()) == 6


async def test_a_restored_post_gets_back_the_facts_of_any_delivery_order(
        social: Social) -> None:
    """The same, with the purge before the publication (and its mention) is handled."""
    await social.deliver(registrations())
    await index_post(social)
    first = published(2, content="hello @bob")
    await social.deliver([liked(3, 1, user_id=B, username="bob")])  # overtook first
    assert (await purge(social, POST, seq=4)).data == {"purged": True}
    await social.deliver([first])
    assert await social.visible() == []  # the mention is recorded withdrawn
    await social.deliver([published(5, content="hello @bob", like_count=1)])

    assert summary(await social.visible()) == [(A, B, "like", POST), (B, A, "mention", POST)]


# --------------------------------------------------------- 6. delete_account
# bob's account is deleted: deactivated (user.updated, seq 2), purged by the
# saga's pivot purge_user (seq 2), then core deletes his data (seq 3).
X = B


async def purge_user(social: Social, user_id: int = X, seq: int = 2) -> SagaReply:
    """delete_account's pivot, as core's orchestrator sends it."""
    reply = await social.command(PurgeUser(user_id=user_id, seq=seq), saga_id=uuid.uuid4(),
                                 step="purge_user")
    assert reply.outcome == ReplyOutcome.accepted
    return reply


def deactivation(seq: int, active: bool = False) -> Envelope:
    return event(UserUpdated(seq=seq, user_id=X, username="bob", is_active=active))


def queued_at_the_purge() -> list[Envelope]:
    """bob's last moves in core, still queued when social purges him: alice and
    carol follow him and he follows them back, he likes alice's post and
    comments on it mentioning both."""
    return [
        followed(11, A, X), followed(12, X, A), followed(13, C, X), followed(14, X, C),
        liked(3, 1, user_id=X, username="bob"),
        commented(4, 1, comment_id=40, content="hi @alice and @carol", author_id=X,
                  author_username="bob"),
    ]


def deletion_of_bob() -> list[Envelope]:
    """What core's delete_user_data announces: his like and comment removed, each
    of his follow edges unfollowed (newer seq), and user.deleted."""
    return [
        unliked(5, 0, user_id=X, username="bob"),
        event(CommentDeleted(seq=6, comment_id=40, post_id=POST, post_author_id=AUTHOR,
                             author_id=X, comment_count=0)),
        unfollowed(15, A, X), unfollowed(16, X, A), unfollowed(17, C, X),
        unfollowed(18, X, C),
        event(UserDeleted(seq=3, user_id=X)),
    ]


def unrelated() -> list[Envelope]:
    """Facts not involving bob, delivered among the others: they still notify."""
    return [liked(7, 1, user_id=C, username="carol"), followed(19, C, A),
            commented(8, 1, comment_id=80, content="hey @alice", author_id=C,
                      author_username="carol")]


async def published_post_of_alice(social: Social) -> None:
    await social.deliver(registrations())
    await index_post(social)
    await social.deliver([published(2)])


async def about_bob(social: Social) -> list[tuple[int, int, str, int | None]]:
    """Notifications to or from bob, hidden ones too."""
    return summary(n for n in await social.notifications() if X in (n.user_id, n.actor_id))


async def assert_nothing_about_bob(social: Social, when: str) -> None:
    about = await about_bob(social)
    assert about == [], f"{when}: notifications involving bob: {about}"
    active = [(e.follower_id, e.followee_id) for e in await social.follows()
              if e.active and X in (e.follower_id, e.followee_id)]
    assert active == [], f"{when}: active follow edges of bob: {active}"


async def test_events_queued_at_the_purge_create_nothing_about_the_user(
        social: Social) -> None:
    await published_post_of_alice(social)
    await social.deliver([deactivation(2)])
    await purge_user(social)

    late = queued_at_the_purge()
    await social.deliver(late)
    await assert_nothing_about_bob(social, "queued events after the purge")
    await social.deliver(deletion_of_bob())
    await social.deliver(resent(late))  # re-published by core's relay, say
    await assert_nothing_about_bob(social, "after the deletion")

    user = await social.user(X)
    assert user is not None and (user.is_active, user.deleted, user.version) == (False, True, 3)
    for pair, seq in (((A, X), 15), ((X, A), 16), ((C, X), 17), ((X, C), 18)):
        edge = await social.follow(*pair)
        assert edge is not None and (edge.active, edge.version) == (False, seq)
    post = await social.post(POST)
    assert post is not None and (post.like_count, post.comment_count) == (0, 0)


def _shuffled(seed: int) -> Callable[[list[Envelope]], list[Envelope]]:
    def order(es: list[Envelope]) -> list[Envelope]:
        shuffled = [*es, *resent(random.Random(seed).sample(es, 4))]
        random.Random(seed).shuffle(shuffled)
        return shuffled
    return order


@pytest.mark.parametrize("plan", [
    IN_ORDER, REVERSE, TWICE,
    *(Plan(f"shuffled with duplicates ({seed})", _shuffled(seed)) for seed in range(4)),
], ids=lambda p: p.name)
async def test_nothing_about_a_purged_user_in_any_delivery_order(social: Social,
                                                                 plan: Plan) -> None:
    """After the purge, bob's queued events, the events of his deletion and
    unrelated ones arrive in any order, with duplicates: at no point is there a
    notification to or from him or an active follow edge of his; the rest
    notifies as usual."""
    await published_post_of_alice(social)
    await social.deliver([deactivation(2)])
    await purge_user(social)

    for envelope in plan([*queued_at_the_purge(), *deletion_of_bob(), *unrelated()]):
        await social.deliver([envelope])
        await assert_nothing_about_bob(social, f"after {envelope.type}")

    assert summary(await social.visible()) == sorted([
        (A, C, "like", POST), (A, C, "follow", C), (A, C, "comment", POST),
        (A, C, "mention", POST)])
    edge = await social.follow(C, A)
    assert edge is not None and edge.active


async def test_user_deleted_removes_the_users_notifications(social: Social) -> None:
    """user.deleted reaches the notifications queue too: whatever the purge could
    not see (or a copy delivered after it) goes then, and stays gone."""
    assert NOTIFICATIONS in TOPOLOGY.routes(events_exchange(CORE), "user.deleted")
    await published_post_of_alice(social)
    late = [*queued_at_the_purge(), published(9, content="thanks @bob")]
    await social.deliver(late)  # no purge: as if these had raced with it
    assert len(await about_bob(social)) == 9

    await social.deliver_to(NOTIFICATIONS, [event(UserDeleted(seq=3, user_id=X))])
    assert await about_bob(social) == []
    await social.deliver(resent(late))
    assert await about_bob(social) == []


async def test_a_deactivated_user_keeps_what_happens_until_the_deletion_is_compensated(
        social: Social) -> None:
    """Deactivated is not purged: the deletion may be compensated (user.updated,
    active again), so follows and notifications of the meantime are kept."""
    await published_post_of_alice(social)
    await social.deliver([deactivation(2)])

    await social.deliver([*queued_at_the_purge(), published(9, content="thanks @bob")])
    await social.deliver([deactivation(3, active=True)])

    assert summary(await social.visible()) == sorted([
        (X, A, "follow", A), (A, X, "follow", X), (X, C, "follow", C), (C, X, "follow", X),
        (A, X, "like", POST), (A, X, "comment", POST), (A, X, "mention", POST),
        (C, X, "mention", POST), (X, A, "mention", POST)])
    assert all(e.active for e in await social.follows())
    assert len(await social.follows()) == 4


# A purge handled while an event is being handled: the event's handler reads the
# rows it depends on FOR SHARE, so it waits for the purge and then sees it.
async def _held_purge(social: Social, purge_cmd: PurgeUser | PurgePost, queue: str,
                      late: Envelope) -> None:
    """Run the purge's handler in a transaction kept open until ``late`` (delivered
    to ``queue`` meanwhile) waits for one of its locks or is handled, then commit."""
    handler = commands.purge_user if isinstance(purge_cmd, PurgeUser) else commands.purge_post
    async with social.sessions() as session, session.begin():
        ctx = MessageContext(transaction=session, envelope=envelope_for(purge_cmd, source=CORE),
                             service=SOCIAL, queue=COMMANDS)
        await handler(ctx, purge_cmd)
        delivery = asyncio.create_task(social.deliver_to(queue, [late]))
        for _ in range(500):
            if delivery.done() or await social.lock_waits() > 0:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the delivery neither waited nor ended")
    await delivery


@pytest.mark.parametrize(("queue", "late"), [
    (PROJECTIONS, liked(3, 1, user_id=X, username="bob")),
    (PROJECTIONS, followed(11, X, A)),
], ids=["like notification", "follow edge"])
async def test_an_event_handled_during_purge_user_waits_for_it(social: Social, queue: str,
                                                              late: Envelope) -> None:
    await published_post_of_alice(social)
    await _held_purge(social, PurgeUser(user_id=X, seq=2), queue, late)
    await assert_nothing_about_bob(social, "after the purge")


async def test_an_event_handled_during_purge_post_waits_for_it(social: Social) -> None:
    await published_post_of_alice(social)
    await _held_purge(social, PurgePost(post_id=POST, seq=3), PROJECTIONS,
                      liked(2, 1, user_id=B, username="bob"))
    assert await social.visible() == []


# ---------------------------------------------------- 6. blocks and privacy
def blocked(seq: int, blocker_id: int, blocked_id: int) -> Envelope:
    return event(UserBlocked(seq=seq, blocker_id=blocker_id, blocked_id=blocked_id))


def unblocked(seq: int, blocker_id: int, blocked_id: int) -> Envelope:
    return event(UserUnblocked(seq=seq, blocker_id=blocker_id, blocked_id=blocked_id))


async def block_edge(social: Social, blocker_id: int, blocked_id: int) -> tuple[bool, int]:
    async with social.sessions() as session:
        edge = await session.get(BlockEdge, (blocker_id, blocked_id))
        assert edge is not None
        return edge.active, edge.version


SHUFFLED = Plan("shuffled with duplicates", lambda es: _shuffled(7)(es))


@pytest.mark.parametrize("plan", [IN_ORDER, TWICE, RESENT, REVERSE, SHUFFLED],
                         ids=lambda p: p.name)
async def test_a_block_edge_ends_at_its_newest_event_in_any_delivery(social: Social,
                                                                     plan: Plan) -> None:
    life = [blocked(1, 100, 1), unblocked(2, 100, 1), blocked(3, 100, 1),  # ends blocked
            blocked(4, 101, 1), unblocked(5, 101, 1)]  # ends unblocked
    await social.deliver(plan(life))

    assert await block_edge(social, 100, 1) == (True, 3)
    assert await block_edge(social, 101, 1) == (False, 5)


def privacy_events() -> list[Envelope]:
    return [
        event(UserRegistered(seq=1, user_id=ALICE, username="alice")),
        event(UserUpdated(seq=2, user_id=ALICE, username="alice", is_private=True)),
        event(UserUpdated(seq=3, user_id=ALICE, username="alice", is_private=False)),
        event(UserUpdated(seq=4, user_id=ALICE, username="alice", is_private=True)),
    ]


@pytest.mark.parametrize("plan", [IN_ORDER, TWICE, RESENT, REVERSE, SHUFFLED],
                         ids=lambda p: p.name)
async def test_privacy_ends_at_the_newest_user_event_in_any_delivery(social: Social,
                                                                     plan: Plan) -> None:
    await social.deliver(plan(privacy_events()))

    user = await social.user(ALICE)
    assert user is not None
    assert (user.is_private, user.version) == (True, 4)


async def test_follow_requests_and_acceptances_notify_once(social: Social) -> None:
    facts = [
        *registrations(),
        event(FollowRequested(seq=10, requester_id=B, requester_username="bob", target_id=A)),
        event(FollowAccepted(seq=11, requester_id=B, target_id=A, target_username="alice")),
    ]
    await social.deliver(facts + resent(facts[-2:]) + facts[-2:])

    async with social.sessions() as session:
        rows = (await session.execute(select(Notification))).scalars().all()
    assert sorted((n.user_id, n.actor_id, n.type) for n in rows) == [
        (A, B, "follow_request"), (B, A, "follow_accepted")]


async def test_a_mention_across_a_block_notifies_nobody(social: Social) -> None:
    await social.deliver([*registrations(), blocked(5, B, A)])
    await index_post(social, author_id=A)
    await social.deliver([published(1, content="hi @bob and @carol")])

    async with social.sessions() as session:
        mentioned = (await session.execute(
            select(Notification.user_id).where(Notification.type == "mention"))).scalars()
        assert sorted(mentioned) == [C]


async def test_a_comment_without_mentions_notifies_the_author_once(social: Social) -> None:
    """The one-statement path of comments: a comment notifies the post's author once
    however often it arrives; a comment of the author's own notifies nobody."""
    await social.deliver(registrations())
    await social.deliver([published(1)])
    facts = [commented(2, comment_count=1, comment_id=101, content="nice", author_id=B,
                       author_username="bob"),
             commented(3, comment_count=2, comment_id=102, content="thanks", author_id=A,
                       author_username="alice")]
    await social.deliver(facts + facts + resent(facts))
    async with social.sessions() as session:
        rows = (await session.execute(select(Notification))).scalars().all()
    assert [(n.user_id, n.actor_id, n.type, n.hidden) for n in rows] == [
        (A, B, "comment", False)]
    # the copies of both comments (alice's own keeps the post's comment count)
    assert social.duplicates(PROJECTIONS) == 2
