"""social's real handlers on a real, migrated database, fed core's events
in-process (no broker), in every order and with every kind of duplicate.

Each envelope is decoded from its JSON, as the consumer would get it off the
wire, and handed to every queue the topology routes it to, each queue with
its own consumer and inbox, as RabbitMQ would deliver it.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from shared_lib.contracts import CORE, SOCIAL, Envelope, Payload, ReplyOutcome, SagaReply
from shared_lib.contracts.messages import (
    CommentAdded,
    IndexPostHashtags,
    PostDeleted,
    PostLiked,
    PostPublished,
    PostUnliked,
    PurgePost,
    UserDeleted,
    UserFollowed,
    UserRegistered,
    UserUnfollowed,
    UserUpdated,
)
from shared_lib.db import make_engine
from shared_lib.messaging.consumer import MessageConsumer, decode, saga_message_id
from shared_lib.messaging.topology import build_topology, commands_exchange, events_exchange
from shared_lib.outbox import envelope_for
from shared_lib.tables import outbox
from shared_lib.testing.processes import run_migrations
from social_service.handlers import handler_registry
from social_service.models import (
    FollowEdge,
    Hashtag,
    Notification,
    PostHashtag,
    PostProjection,
    UserProjection,
)
from social_service.settings import SocialSettings

PROJECTIONS = "social.events.projections"
NOTIFICATIONS = "social.events.notifications"
COMMANDS = "social.commands"
REPLY_TO = "core.replies"

TOPOLOGY = build_topology()
CREATED_AT = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


# ------------------------------------------------------------------ harness
class Social:
    """social's consumers over one migrated database, fed without a broker."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        handlers = handler_registry(SocialSettings())
        self.consumers = {
            queue: MessageConsumer(queue=queue, service=SOCIAL, handlers=handlers[queue],
                                   session_factory=self.sessions)
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
        return self.consumers[queue].stats["duplicates"]

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
    engine = make_engine(url, pool_size=2)
    yield Social(engine)
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

    # every fact reaches both queues; each inbox recognised the redelivered copies
    assert social.duplicates(NOTIFICATIONS) == social.duplicates(PROJECTIONS) == 5
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
    assert summary(await social.notifications()) == sorted([
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

    assert await social.notifications() == []
