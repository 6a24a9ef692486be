"""Distributed tracing: one trace for everything one request causes, in both services.

Tracing is off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set. Off, nothing is
instrumented: no span is ever made, the hot paths check :func:`active` (a module
attribute) and go on, and no trace context is written anywhere.

On, :func:`setup_tracing` (called by the service's composition root at start-up)
makes a tracer provider whose spans carry the service's name and are exported in
batches over OTLP/HTTP, and the spans are:

* the HTTP request (FastAPI's instrumentation; it continues the ``traceparent``
  header the gateway or the client sent);
* each direct-path transaction (:class:`shared_lib.database.Database`);
* each message published from the outbox (a producer span, child of the span that
  wrote the row: the row keeps that span's ``traceparent``);
* each message consumed (a consumer span named after the message type, child of
  the producer span named by the message's ``traceparent`` header);
* a saga's deadline handling, under the trace that started the saga.

The context travels as a ``traceparent`` string: ``00-<trace id: 32 hex>-<parent
span id: 16 hex>-<flags: 2 hex>``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags

__all__ = ["TRACEPARENT", "SpanKind", "TraceParent", "Tracing", "active", "context_of",
           "current_ids", "current_traceparent", "extract", "format_traceparent", "inject",
           "parse_traceparent", "setup_tracing", "shutdown_tracing", "traceparent_of"]

log = logging.getLogger(__name__)

#: the AMQP header (and HTTP header) that carries the trace context
TRACEPARENT = "traceparent"

_TRACEPARENT_RE = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})"
                             r"(?:-.*)?$")


@dataclass(frozen=True)
class TraceParent:
    """A parsed ``traceparent``: the trace, the parent span in it, its flags."""

    trace_id: int
    span_id: int
    flags: int = 1

    @property
    def sampled(self) -> bool:
        return bool(self.flags & 1)

    def __str__(self) -> str:
        return format_traceparent(self.trace_id, self.span_id, self.flags)


def format_traceparent(trace_id: int, span_id: int, flags: int = 1) -> str:
    return f"00-{trace_id:032x}-{span_id:016x}-{flags & 0xFF:02x}"


def parse_traceparent(value: str | bytes | None) -> TraceParent | None:
    """A ``traceparent`` value, or None when it is missing or malformed (an all-zero
    trace or span id, version ``ff``, anything but lowercase hex in its fields; a
    version above 00 may have more fields after the four known)."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not value:
        return None
    match = _TRACEPARENT_RE.match(value.strip())
    if match is None:
        return None
    version, trace_hex, span_hex, flags_hex = match.groups()
    if version == "ff" or (version == "00" and len(value.strip()) != 55):
        return None
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if trace_id == 0 or span_id == 0:
        return None
    return TraceParent(trace_id, span_id, int(flags_hex, 16))


def inject(headers: dict[str, Any], traceparent: str | None) -> dict[str, Any]:
    """``headers`` with the trace context added (unchanged without one)."""
    if traceparent:
        headers[TRACEPARENT] = traceparent
    return headers


def extract(headers: Mapping[str, Any] | None) -> str | None:
    """The valid ``traceparent`` of a message's headers, if any."""
    if not headers:
        return None
    parsed = parse_traceparent(headers.get(TRACEPARENT))
    return str(parsed) if parsed is not None else None


def context_of(traceparent: str | None) -> Context | None:
    """A context whose current span is the (remote) parent a ``traceparent`` names."""
    parsed = parse_traceparent(traceparent)
    if parsed is None:
        return None
    span_context = SpanContext(trace_id=parsed.trace_id, span_id=parsed.span_id,
                               is_remote=True, trace_flags=TraceFlags(parsed.flags))
    return trace.set_span_in_context(NonRecordingSpan(span_context))


def traceparent_of(span: Span) -> str | None:
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return None
    return format_traceparent(ctx.trace_id, ctx.span_id, int(ctx.trace_flags))


class Tracing:
    """A service's tracer provider and tracer (made by :func:`setup_tracing`)."""

    def __init__(self, provider: TracerProvider, service: str) -> None:
        self.provider = provider
        self.service = service
        self.tracer = provider.get_tracer("shared_lib")

    @contextmanager
    def span(self, name: str, *, parent: str | None = None, kind: SpanKind = SpanKind.INTERNAL,
             attributes: Mapping[str, Any] | None = None) -> Iterator[Span]:
        """A span made current for the block; ``parent``: a ``traceparent`` to continue
        (else the current span's child). An error ending the block is recorded on it."""
        with self.tracer.start_as_current_span(
                name, context=context_of(parent) if parent else None, kind=kind,
                attributes=dict(attributes) if attributes else None) as span:
            yield span

    def shutdown(self) -> None:
        """Export what is still buffered, then stop."""
        self.provider.shutdown()


_active: Tracing | None = None


def active() -> Tracing | None:
    """The process's tracing, or None when it is off (the one check the hot paths make)."""
    return _active


def current_traceparent() -> str | None:
    """The current span's ``traceparent`` when tracing is on and a span is current."""
    if _active is None:
        return None
    return traceparent_of(trace.get_current_span())


def current_ids() -> tuple[str, str] | None:
    """The current span's trace id and span id (hex), for the logs; None without one."""
    if _active is None:
        return None
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL of a collector's base endpoint."""
    base = endpoint.rstrip("/")
    return base if base.endswith("/v1/traces") else f"{base}/v1/traces"


def setup_tracing(service: str, endpoint: str | None) -> Tracing | None:
    """Turn tracing on for this process when ``endpoint`` is set (spans of
    ``service`` sent in batches to ``<endpoint>/v1/traces``); None (off) otherwise.
    The exporter's other settings (``OTEL_BSP_SCHEDULE_DELAY``, headers, timeout)
    come from the usual ``OTEL_*`` variables."""
    global _active
    if not endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(
        endpoint=traces_url(endpoint))))
    _active = Tracing(provider, service)
    log.info("tracing on: spans of %s sent to %s", service, traces_url(endpoint))
    return _active


def shutdown_tracing(tracing: Tracing | None) -> None:
    """Flush and stop ``tracing`` (made by :func:`setup_tracing`); tracing is off after."""
    global _active
    if tracing is None:
        return
    if _active is tracing:
        _active = None
    tracing.shutdown()
