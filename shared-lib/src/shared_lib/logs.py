"""Structured JSON logs with the ids that let one request be followed across
both services with ``grep``: ``request_id`` (HTTP), ``correlation_id`` (the
request's, carried in every message's envelope and AMQP headers), ``saga_id``
and ``message_id``; with tracing on, ``trace_id`` and ``span_id`` of the span
current when the record was made. The ids live in context variables, set by the HTTP
middleware, the consumer and the saga code, and are added to every record.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from shared_lib.tracing import current_ids

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id",
                                                                         default=None)
correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id",
                                                                             default=None)
saga_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("saga_id", default=None)
message_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("message_id",
                                                                         default=None)

_FIELDS = {"request_id": request_id, "correlation_id": correlation_id, "saga_id": saga_id,
           "message_id": message_id}


@contextmanager
def bound(**ids: Any) -> Iterator[None]:
    """Set some of the ids for the duration of a block."""
    tokens = [(_FIELDS[k], _FIELDS[k].set(str(v) if v is not None else None))
              for k, v in ids.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current_correlation_id() -> uuid.UUID | None:
    value = correlation_id.get()
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name, var in _FIELDS.items():
            value = var.get()
            if value is not None:
                entry[name] = value
        ids = current_ids()
        if ids is not None:
            entry["trace_id"], entry["span_id"] = ids
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(extra)
        if record.exc_info:
            entry["exc"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(entry, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    """JSON lines on stdout for the service and the libraries it uses."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers = []
        lg.propagate = True
    # the request middleware logs every request with its ids: no second access log
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("aiormq").setLevel(max(logging.INFO, root.level))
    logging.getLogger("aio_pika").setLevel(max(logging.INFO, root.level))
