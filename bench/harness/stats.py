"""What is recorded per operation, and how it is summarized.

A request is counted when it *started* inside the measurement window (after the
warm-up, before the end), so a slow request at the end is not left out; the
throughput divides those requests by the window's length.

* ``ok``: 2xx answers; their latencies give p50 / p95 / p99 / max.
* ``pending``: 202 answers of saga-backed writes: the saga had not ended within
  ``SAGA_WAIT_SECONDS`` (they are also ``ok``: the request succeeded, the saga is
  not finished). 201 and 202 differ: only a 201 says the saga completed.
* ``saga``: latencies of the 201 answers of saga-backed writes = saga completion
  latency (the endpoint waits for the saga before answering 201).
* ``errors``: non-2xx answers by status code, and exceptions (timeouts,
  refused connections) by class name, with a few sample bodies.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

#: endpoints that start a saga and wait for it (201 = completed, 202 = still running)
SAGA_OPERATIONS = frozenset({"create_post", "send_message", "create_story"})

MAX_ERROR_SAMPLES = 3


def percentile(values: Iterable[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latency_summary(values: list[float]) -> dict[str, float | None]:
    """p50 / p95 / p99 / max / mean in milliseconds, rounded."""

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 2)

    return {
        "p50": r(percentile(values, 50)),
        "p95": r(percentile(values, 95)),
        "p99": r(percentile(values, 99)),
        "max": r(max(values) if values else None),
        "mean": r(sum(values) / len(values) if values else None),
    }


@dataclass
class OpSamples:
    latencies_ms: list[float] = field(default_factory=list)
    saga_ms: list[float] = field(default_factory=list)
    ok: int = 0
    pending: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return self.ok + sum(self.errors.values())

    def add_error(self, key: str, detail: str) -> None:
        self.errors[key] += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(f"{key}: {detail[:300]}")


@dataclass
class Window:
    start: float
    end: float

    def __contains__(self, t: float) -> bool:
        return self.start <= t < self.end

    @property
    def seconds(self) -> float:
        return self.end - self.start


class Recorder:
    """Per-operation samples of the requests that started inside ``window``."""

    def __init__(self, window: Window) -> None:
        self.window = window
        self.ops: dict[str, OpSamples] = {}
        self.lag_from_answer_ms: list[float] = []
        self.lag_from_start_ms: list[float] = []
        self.last_poll_ms: list[float] = []  # the latency of the poll that saw the post
        self.lag_timeouts = 0
        self.probe_polls = 0

    def _op(self, name: str) -> OpSamples:
        return self.ops.setdefault(name, OpSamples())

    def answered(self, op: str, started: float, elapsed_ms: float, status: int,
                 body: str) -> None:
        if started not in self.window:
            return
        samples = self._op(op)
        if not 200 <= status < 300:
            samples.add_error(str(status), body)
            return
        samples.ok += 1
        samples.latencies_ms.append(elapsed_ms)
        if op in SAGA_OPERATIONS and status == 202:
            samples.pending += 1
        if op in SAGA_OPERATIONS and status == 201:
            samples.saga_ms.append(elapsed_ms)

    def failed(self, op: str, started: float, exc: BaseException) -> None:
        if started in self.window:
            self._op(op).add_error(type(exc).__name__, str(exc) or repr(exc))

    def propagated(self, started: float, answered: float, poll_sent: float,
                   seen: float) -> None:
        """A post whose request started at ``started`` and was answered 201 at ``answered``
        was listed in the answer to the poll sent at ``poll_sent``, arrived at ``seen``."""
        self.lag_from_answer_ms.append((seen - answered) * 1000)
        self.lag_from_start_ms.append((seen - started) * 1000)
        self.last_poll_ms.append((seen - poll_sent) * 1000)

    def summary(self) -> dict[str, Any]:
        seconds = self.window.seconds
        ops = {name: summarize_op(name, s, seconds) for name, s in sorted(self.ops.items())}
        total = sum(s.count for s in self.ops.values())
        return {
            "window_seconds": round(seconds, 2),
            "total_requests": total,
            "total_per_s": round(total / seconds, 1),
            "operations": ops,
            "propagation_lag_ms": {
                "samples": len(self.lag_from_answer_ms),
                "timeouts": self.lag_timeouts,
                "polls": self.probe_polls,
                "from_201": latency_summary(self.lag_from_answer_ms),
                "from_request_start": latency_summary(self.lag_from_start_ms),
                "successful_poll_latency": latency_summary(self.last_poll_ms),
            },
        }


def summarize_op(name: str, s: OpSamples, seconds: float) -> dict[str, object]:
    out: dict[str, object] = {
        "count": s.count,
        "ok": s.ok,
        "throughput_per_s": round(s.ok / seconds, 2),
        "pending_202": s.pending,
        "errors": sum(s.errors.values()),
        "errors_by_kind": dict(s.errors),
        "latency_ms": latency_summary(s.latencies_ms),
    }
    if s.error_samples:
        out["error_samples"] = s.error_samples
    if name in SAGA_OPERATIONS:
        out["saga_completion_ms"] = latency_summary(s.saga_ms)
        out["saga_completed_per_s"] = round(len(s.saga_ms) / seconds, 2)
    return out
