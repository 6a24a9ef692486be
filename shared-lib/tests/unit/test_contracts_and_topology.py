"""Every message has a contract, and the topology routes every message somewhere."""

from __future__ import annotations

import uuid

import pytest

from instasaga.services import CORE, SOCIAL
from instasaga.topology import system_topology
from shared_lib.contracts import Envelope, MessageKind, registry
from shared_lib.contracts.routing import commands_exchange, events_exchange, replies_exchange
from shared_lib.messaging.consumer import NotForThisVersion, PoisonMessage, decode
from shared_lib.messaging.topology import queue_arguments, topic_matches


def test_every_message_the_sagas_and_projections_use_has_a_contract() -> None:
    types = {c.type for c in registry.all()}
    assert {"index_post_hashtags", "unindex_post_hashtags", "purge_post", "purge_user",
            "authorize_message", "record_story", "unrecord_story", "saga.reply"} <= types
    assert {"user.registered", "user.updated", "user.deleted", "post.published",
            "post.deleted", "post.liked", "post.unliked", "comment.added", "comment.deleted",
            "user.followed", "user.unfollowed", "message.sent", "story.created",
            "story.deleted"} <= types


def test_every_command_reaches_exactly_its_handlers_command_queue() -> None:
    topology = system_topology()
    for c in registry.all():
        if c.kind == MessageKind.command and hasattr(c.model, "HANDLER"):
            handler = c.model.HANDLER  # type: ignore[attr-defined]
            assert topology.routes(commands_exchange(handler), c.type) == [
                f"{handler}.commands"]


def test_replies_reach_the_initiators_replies_queue() -> None:
    topology = system_topology()
    for service in (CORE, SOCIAL):
        assert topology.routes(replies_exchange(service), "index_post_hashtags.reply") == [
            f"{service}.replies"]


#: events published for consumers yet to come: kept in ``<service>.events.unrouted``
NOT_CONSUMED_YET = {"message.sent", "story.created"}


def test_every_event_is_routed_to_a_consumer_or_kept_as_unrouted() -> None:
    topology = system_topology()
    exchanges = {e.name: e for e in topology.exchanges}
    for c in registry.all():
        if c.kind != MessageKind.event:
            continue
        ex = events_exchange(c.model.PUBLISHER)  # type: ignore[attr-defined]
        routed = topology.routes(ex, c.type)
        if c.type in NOT_CONSUMED_YET:
            assert not routed, f"{c.type} is consumed now: take it off NOT_CONSUMED_YET"
            unrouted = exchanges[ex].alternate
            assert unrouted is not None and topology.routes(unrouted, c.type), (
                f"{c.type} would be lost: {ex} keeps no unrouted events")
        else:
            assert routed, f"no queue consumes {c.type}"


def test_queues_are_quorum_with_delivery_limit_and_dead_letter_queue() -> None:
    for q in system_topology().queues:
        args = queue_arguments(q, delivery_limit=5)
        assert args["x-queue-type"] == "quorum"
        if q.dead_letter:
            assert args["x-delivery-limit"] == 5
            assert args["x-dead-letter-strategy"] == "at-least-once"
            assert args["x-dead-letter-routing-key"] == f"{q.name}.dlq"
        assert q.name.startswith(f"{q.owner}.")


@pytest.mark.parametrize(("pattern", "key", "matches"), [
    ("#", "a.b", True), ("user.*", "user.registered", True), ("user.*", "user", False),
    ("post.published", "post.published", True), ("a.#.c", "a.c", True),
    ("a.#.c", "a.x.y.c", True), ("*.c", "a.b.c", False),
])
def test_topic_matching(pattern: str, key: str, matches: bool) -> None:
    assert topic_matches(pattern, key) is matches


def test_decode_accepts_a_valid_envelope_and_refuses_poison() -> None:
    env = Envelope(type="purge_post", version=1, source="core", correlation_id=uuid.uuid4(),
                   payload={"post_id": 3})
    decoded, payload = decode(env.model_dump_json().encode())
    assert decoded == env and payload.post_id == 3  # type: ignore[attr-defined]
    # a version (or type) this code does not know is not poison: a newer peer sent it
    with pytest.raises(NotForThisVersion):
        decode(env.model_copy(update={"version": 99}).model_dump_json().encode())
    for body in (b"", b"[]", b'{"type": "x"}',
                 env.model_copy(update={"payload": {}}).model_dump_json().encode(),
                 env.model_copy(update={"payload": {"post_id": 1, "extra": 1}})
                 .model_dump_json().encode()):
        with pytest.raises(PoisonMessage):
            decode(body)
