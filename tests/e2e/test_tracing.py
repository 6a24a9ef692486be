"""Tracing end to end: with OTEL_EXPORTER_OTLP_ENDPOINT set, everything one request
causes in both services is one trace (the gateway's request, core's and social's
transactions, the commands and replies, the events' projections) whose spans chain
up to one root; without it, no trace context is written anywhere."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

import httpx
import pytest
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from testkit.http import register_and_login
from testkit.infra import Infra
from testkit.otlp import OtlpReceiver, ReceivedSpan, entry_spans
from testkit.sql import scalar
from testkit.stack import Stack, running_stack

CORE, SOCIAL = "core-service", "social-service"


@pytest.fixture(scope="module")
def traced(infra: Infra, otlp: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Stack]:
    """Both services and the gateway, exporting their spans to ``otlp`` at once."""
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100",
           "BANNED_HASHTAGS": "forbidden,spam"}
    with running_stack(infra, tmp_path_factory.mktemp("traced"), env=env) as stack:
        yield stack


class Incomplete(AssertionError):
    pass


def _names(spans: Iterable[ReceivedSpan]) -> set[tuple[str, str]]:
    return {(s.service, s.name) for s in spans}


def wait_for_trace(otlp: OtlpReceiver, trace_id: str, expected: set[tuple[str, str]],
                   timeout: float = 20, at_least: dict[tuple[str, str], int] | None = None
                   ) -> list[ReceivedSpan]:
    """The trace's spans once every ``(service, span name)`` expected is among them (at
    least ``at_least[name]`` times where given) and every span's parent has arrived but
    the root's (spans are exported in batches, a child's possibly before its parent's)."""

    @retry(stop=stop_after_delay(timeout), wait=wait_fixed(0.1), reraise=True,
           retry=retry_if_exception_type(Incomplete))
    def spans() -> list[ReceivedSpan]:
        found = otlp.trace(trace_id)
        missing = expected - _names(found)
        if missing:
            raise Incomplete(f"trace {trace_id} lacks {sorted(missing)}; has "
                             f"{sorted(_names(found))}")
        for (service, name), count in (at_least or {}).items():
            seen = sum(1 for s in found if (s.service, s.name) == (service, name))
            if seen < count:
                raise Incomplete(f"trace {trace_id} has {seen} of {count} {name} spans")
        entries = entry_spans(found)
        if len(entries) != 1:
            raise Incomplete(f"trace {trace_id}: spans without their parent: {entries}")
        return found

    return spans()


def assert_one_chain(spans: list[ReceivedSpan], entry: tuple[str, str]) -> ReceivedSpan:
    """Every span's parent is in the trace but the entry's (the HTTP request, whose
    parent is the gateway's or the client's); returns the entry span."""
    (root,) = entry_spans(spans)
    assert (root.service, root.name, root.kind) == (*entry, "SERVER")
    assert {s.service for s in spans} == {CORE, SOCIAL}
    assert len({s.span_id for s in spans}) == len(spans)
    return root


def _saga_trace(stack: Stack, saga_type: str, status: str) -> str | None:
    sagas = httpx.get(f"{stack.core.url}/ops/sagas", params={"type": saga_type}).json()
    return next(s["trace_id"] for s in sagas if s["status"] == status)


def test_a_create_post_is_one_trace_across_both_services(traced: Stack,
                                                         otlp: OtlpReceiver) -> None:
    with traced.client() as c:
        alice = register_and_login(c)
        r = c.post("/api/posts", json={"content": "sunset #traced"}, headers=alice["headers"])
        assert r.status_code == 201, r.text
    # the client sent no traceparent: the gateway started the trace from the request id
    trace_id = r.headers["x-request-id"]
    spans = wait_for_trace(otlp, trace_id, {
        (CORE, "POST /api/posts"), (CORE, "transaction"),
        (CORE, "index_post_hashtags publish"), (SOCIAL, "index_post_hashtags"),
        (SOCIAL, "transaction"), (SOCIAL, "saga.reply publish"), (CORE, "saga.reply"),
        (CORE, "post.published publish"), (SOCIAL, "post.published")})
    root = assert_one_chain(spans, (CORE, "POST /api/posts"))
    assert root.parent_span_id == trace_id[:16]  # the gateway's span, as it derives it
    by_id = {s.span_id: s for s in spans}
    command = next(s for s in spans if s.name == "index_post_hashtags")
    assert (command.kind, by_id[command.parent_span_id].name) == (  # type: ignore[index]
        "CONSUMER", "index_post_hashtags publish")
    assert _saga_trace(traced, "create_post", "completed") == trace_id


def test_a_rejected_create_post_and_its_compensation_are_one_trace(
        traced: Stack, otlp: OtlpReceiver) -> None:
    client_trace = "0af7651916cd43dd8448eb211c80319c"
    client_span = "b7ad6b7169203331"
    with traced.client() as c:
        alice = register_and_login(c)
        content = " ".join(f"#toomany{i}" for i in range(31))  # social refuses: compensated
        r = c.post("/api/posts", json={"content": content},
                   headers={**alice["headers"],
                            "traceparent": f"00-{client_trace}-{client_span}-01"})
        assert r.status_code == 422, r.text
    # the client's trace goes on
    spans = wait_for_trace(otlp, client_trace, {
        (CORE, "POST /api/posts"), (CORE, "index_post_hashtags publish"),
        (SOCIAL, "index_post_hashtags"), (SOCIAL, "saga.reply publish"),
        (CORE, "saga.reply")})
    root = assert_one_chain(spans, (CORE, "POST /api/posts"))
    assert root.parent_span_id == client_span
    reply = next(s for s in spans if s.name == "saga.reply")
    # the compensation ran in the reply's handling: its transaction is the reply's child
    assert any(s.parent_span_id == reply.span_id and s.name == "transaction" for s in spans)
    assert _saga_trace(traced, "create_post", "compensated") == client_trace


def test_a_send_message_is_one_trace_across_both_services(traced: Stack,
                                                          otlp: OtlpReceiver) -> None:
    with traced.client() as c:
        alice, bob = register_and_login(c), register_and_login(c)
        r = c.post("/api/messages", json={"receiver_id": bob["id"], "content": "traced hi"},
                   headers=alice["headers"])
        assert r.status_code == 201, r.text
    trace_id = r.headers["x-request-id"]
    spans = wait_for_trace(otlp, trace_id, {
        (SOCIAL, "POST /api/messages"), (SOCIAL, "authorize_message publish"),
        (CORE, "authorize_message"), (CORE, "saga.reply publish"), (SOCIAL, "saga.reply"),
        (SOCIAL, "message.sent publish")})
    assert_one_chain(spans, (SOCIAL, "POST /api/messages"))


def test_the_traced_services_log_the_trace(traced: Stack, otlp: OtlpReceiver) -> None:
    with traced.client() as c:
        alice = register_and_login(c)
        r = c.post("/api/posts", json={"content": "logged"}, headers=alice["headers"])
        assert r.status_code == 201, r.text
    trace_id = r.headers["x-request-id"]
    wait_for_trace(otlp, trace_id, {(SOCIAL, "index_post_hashtags")})
    # social logs each message it handled, in the message's span
    lines = [json.loads(line) for line in traced.social.log_path.read_text().splitlines()
             if trace_id in line]
    handled = [e for e in lines if e["msg"].startswith("handled index_post_hashtags")]
    assert handled and all(len(e["span_id"]) == 16 for e in handled)


@pytest.mark.slow  # social stopped and started again
def test_a_compensation_sent_back_to_social_is_in_the_trace(traced: Stack,
                                                           otlp: OtlpReceiver) -> None:
    """Rejected at its last step (the author was deactivated while social was away):
    the compensation goes back to social, still in the request's trace, and social's
    spans from before its restart were flushed when it stopped."""
    with traced.client() as c:
        victim = register_and_login(c)
        traced.social.stop()
        r = c.post("/api/posts", json={"content": "#doomedtrace"},
                   headers={**victim["headers"], "Prefer": "respond-async"})
        assert r.status_code == 202, r.text
        scalar(traced.core_db, f"UPDATE users SET is_active = false WHERE id = {victim['id']}")
        traced.social.start()
    trace_id = r.headers["x-request-id"]
    spans = wait_for_trace(otlp, trace_id, {
        (CORE, "POST /api/posts"), (SOCIAL, "index_post_hashtags"), (CORE, "saga.reply"),
        (CORE, "unindex_post_hashtags publish"), (SOCIAL, "unindex_post_hashtags")}, 40,
        # the step's reply and the undo's (and, if social came back after the step's
        # deadline, those of the re-sent command: re-sent in the trace too); core may
        # export the undo's reply span after social's span for the undo has arrived
        at_least={(CORE, "saga.reply"): 2})
    assert_one_chain(spans, (CORE, "POST /api/posts"))
    sagas = httpx.get(f"{traced.core.url}/ops/sagas", params={"type": "create_post"}).json()
    assert [s["status"] for s in sagas if s["trace_id"] == trace_id] == ["compensated"]


def test_without_an_endpoint_no_trace_context_is_stored(stack: Stack) -> None:
    with stack.client() as c:
        alice = register_and_login(c)
        r = c.post("/api/posts", json={"content": "untraced #quiet"},
                   headers={**alice["headers"], "traceparent":
                            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
        assert r.status_code == 201, r.text
    for database in (stack.core_db, stack.social_db):
        assert scalar(database, "SELECT count(*) FROM outbox") > 0
        assert scalar(database, "SELECT count(*) FROM outbox WHERE traceparent IS NOT NULL") \
            == 0
    assert scalar(stack.core_db, "SELECT count(*) FROM sagas WHERE trace_id IS NOT NULL") == 0
    assert _saga_trace(stack, "create_post", "completed") is None
