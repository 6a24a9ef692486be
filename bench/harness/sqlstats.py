"""SQL statements and database round trips per request, from the services'
``sql_statements_total`` and ``db_round_trips_total`` metrics.

Read before and after a measured window: how many statements each service ran,
how many of them SQLAlchemy compiled then (``miss``: a statement built in a way
its compiled cache cannot recognise; in steady state the goal is zero), and the
round trips to PostgreSQL (statements, BEGIN, COMMIT, ROLLBACK and savepoints,
counted where the services call the driver).
"""

from __future__ import annotations

import re
from typing import Any

import httpx

_LINE = re.compile(r'^sql_statements_total\{compiled="(\w+)"\} ([0-9.e+]+)$', re.M)
_TRIPS = re.compile(r'^db_round_trips_total\{path="(\w+)"\} ([0-9.e+]+)$', re.M)
_KINDS = ("hit", "miss", "uncached", "direct")


def read(urls: dict[str, str]) -> dict[str, dict[str, float]]:
    """``{service: {hit, miss, uncached, direct, trips:<path>}}`` now (services that do
    not answer are left out)."""
    counts: dict[str, dict[str, float]] = {}
    for name, url in urls.items():
        try:
            text = httpx.get(f"{url}/metrics", timeout=5).text
        except httpx.HTTPError:
            continue
        counts[name] = {k: float(v) for k, v in _LINE.findall(text)}
        counts[name].update({f"trips:{k}": float(v) for k, v in _TRIPS.findall(text)})
    return counts


def per_request(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]],
                requests: int) -> dict[str, Any]:
    """Statements per request of each service over the window, and the compilations."""
    out: dict[str, Any] = {}
    for name, end in after.items():
        start = before.get(name, {})
        delta = {k: end.get(k, 0.0) - start.get(k, 0.0) for k in _KINDS}
        total = sum(delta.values())
        trips = sum(v - start.get(k, 0.0) for k, v in end.items() if k.startswith("trips:"))
        out[name] = {"statements": int(total), "compiled": int(delta["miss"]),
                     "direct": int(delta["direct"]), "round_trips": int(trips),
                     "per_request": round(total / requests, 1) if requests else None,
                     "round_trips_per_request": round(trips / requests, 1) if requests
                     else None}
    return out
