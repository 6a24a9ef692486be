"""The trace context as text (``traceparent``), in message headers, and what tracing
costs when it is off."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared_lib import tracing
from shared_lib.contracts import Envelope, ReplyOutcome, SagaReply, envelope_for
from shared_lib.logs import JsonFormatter
from shared_lib.outbox import messages_from_arrays, row_arrays
from shared_lib.tracing import (
    TRACEPARENT,
    TraceParent,
    Tracing,
    context_of,
    extract,
    format_traceparent,
    inject,
    parse_traceparent,
    traces_url,
)

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_traceparent_is_formatted_and_parsed_back() -> None:
    text = format_traceparent(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7)
    assert text == VALID
    parsed = parse_traceparent(text)
    assert parsed == TraceParent(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, 1)
    assert parsed is not None and parsed.sampled and str(parsed) == VALID
    assert parse_traceparent(VALID.encode()) == parsed
    assert format_traceparent(1, 2, 0) == f"00-{1:032x}-{2:016x}-00"


@pytest.mark.parametrize("value", [
    None, "", "garbage", VALID.upper(), VALID + "-extra", VALID[:-1],
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",
])
def test_a_malformed_traceparent_is_none(value: str | None) -> None:
    assert parse_traceparent(value) is None


def test_a_later_version_may_carry_more_fields() -> None:
    parsed = parse_traceparent("01" + VALID[2:] + "-what-comes-later")
    assert parsed is not None and parsed.span_id == 0x00F067AA0BA902B7


def test_headers_carry_the_traceparent_both_ways() -> None:
    assert inject({"x-correlation-id": "c"}, VALID) == {"x-correlation-id": "c",
                                                        TRACEPARENT: VALID}
    assert inject({}, None) == {}
    assert extract({TRACEPARENT: VALID}) == VALID
    assert extract({TRACEPARENT: VALID.encode()}) == VALID  # AMQP may hand bytes over
    assert extract({TRACEPARENT: "nonsense"}) is None
    assert extract({}) is None and extract(None) is None


def test_the_context_of_a_traceparent_has_it_as_remote_parent() -> None:
    assert context_of(None) is None and context_of("bad") is None
    ctx = context_of(VALID)
    assert ctx is not None
    span_context = trace.get_current_span(ctx).get_span_context()
    assert (span_context.trace_id, span_context.span_id, span_context.is_remote) == (
        0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, True)


def test_the_traces_url_of_an_endpoint() -> None:
    assert traces_url("http://collector:4318") == "http://collector:4318/v1/traces"
    assert traces_url("http://collector:4318/") == "http://collector:4318/v1/traces"
    assert traces_url("http://c:4318/v1/traces") == "http://c:4318/v1/traces"


def test_off_without_an_endpoint() -> None:
    assert tracing.setup_tracing("core-service", None) is None
    assert tracing.setup_tracing("core-service", "") is None
    assert tracing.active() is None
    assert tracing.current_traceparent() is None and tracing.current_ids() is None


def _rows() -> list[tuple[Envelope, str, str]]:
    env = envelope_for(SagaReply(outcome=ReplyOutcome.accepted), source="a",
                       correlation_id=uuid.uuid4())
    return [(env, "a.replies", env.type)] * 2


def test_outbox_rows_carry_no_trace_context_with_tracing_off() -> None:
    arrays = row_arrays(_rows())
    assert arrays[-1] == [None, None]
    assert [m.traceparent for m in messages_from_arrays(arrays)] == [None, None]


@pytest.fixture
def on(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """Tracing on for a test, its spans kept in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_active", Tracing(provider, "test-service"))
    return exporter


def test_outbox_rows_carry_the_current_span_with_tracing_on(on: InMemorySpanExporter
                                                            ) -> None:
    active = tracing.active()
    assert active is not None
    with active.span("work", parent=VALID) as span:
        arrays = row_arrays(_rows())
        ids = tracing.current_ids()
    expected = tracing.traceparent_of(span)
    assert expected is not None and expected.split("-")[1] == VALID.split("-")[1]
    assert arrays[-1] == [expected, expected]
    assert ids == (VALID.split("-")[1], expected.split("-")[2])
    (finished,) = on.get_finished_spans()
    assert finished.parent is not None and finished.parent.span_id == 0x00F067AA0BA902B7


def test_log_records_carry_the_current_span(on: InMemorySpanExporter) -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    formatter = JsonFormatter("core-service")
    assert "trace_id" not in json.loads(formatter.format(record))
    active = tracing.active()
    assert active is not None
    with active.span("work", parent=VALID):
        entry = json.loads(formatter.format(record))
    assert entry["trace_id"] == VALID.split("-")[1]
    assert len(entry["span_id"]) == 16
