"""Prometheus metrics of a service, in a registry of its own (built by the
app factory, not at import), served at ``GET /metrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_duration = Histogram(
            "http_request_duration_seconds", "HTTP request duration by route and status",
            ["method", "route", "status"], registry=r, buckets=_LATENCY_BUCKETS)
        self.sagas_started = Counter("sagas_started_total", "Sagas started", ["type"],
                                     registry=r)
        self.sagas_ended = Counter(
            "sagas_ended_total", "Sagas that ended, by final status "
            "(completed, compensated, failed)", ["type", "status"], registry=r)
        self.saga_duration = Histogram(
            "saga_duration_seconds", "Time from a saga's start to its end",
            ["type", "status"], registry=r, buckets=(*_LATENCY_BUCKETS, 30, 60, 300))
        self.outbox_backlog = Gauge("outbox_backlog_messages", "Outbox rows not yet published",
                                    registry=r)
        self.outbox_oldest_age = Gauge("outbox_oldest_unsent_age_seconds",
                                       "Age of the oldest unpublished outbox row", registry=r)
        self.outbox_parked = Gauge("outbox_parked_messages",
                                   "Outbox rows given up on after OUTBOX_MAX_ATTEMPTS failed "
                                   "deliveries (republish them from /ops/outbox/parked)",
                                   registry=r)
        self.outbox_published = Counter("outbox_published_total",
                                        "Messages published (confirmed) by the relay",
                                        registry=r)
        self.consumed = Counter("messages_consumed_total", "Messages handled and acked",
                                ["queue", "type"], registry=r)
        self.redelivered = Counter("messages_redelivered_total",
                                   "Deliveries flagged as redelivered by the broker", ["queue"],
                                   registry=r)
        self.duplicates = Counter("messages_duplicate_total",
                                  "Messages recognised by the inbox as already handled",
                                  ["queue"], registry=r)
        self.failed = Counter("messages_failed_total",
                              "Handler failures (the message was nacked and requeued)",
                              ["queue"], registry=r)
        self.set_aside = Counter("messages_set_aside_total",
                                 "Well-formed messages this version does not handle, kept "
                                 "in the publisher's unrouted queue for a later replay",
                                 ["queue"], registry=r)
        self.dead_lettered = Counter("messages_dead_lettered_total",
                                     "Messages rejected to the dead-letter queue at once",
                                     ["queue"], registry=r)
        self.sql_statements = Counter(
            "sql_statements_total", "SQL statements executed, by how they got their compiled "
            "form: through SQLAlchemy 'hit' from its cache, 'miss' compiled now (in steady "
            "state every miss is a statement that should be cached), 'uncached' (no cache "
            "key); 'direct': written once as SQL, run by asyncpg (shared_lib.database)",
            ["compiled"], registry=r)
        self.db_round_trips = Counter(
            "db_round_trips_total", "Round trips to PostgreSQL: statements and transaction "
            "control (BEGIN, COMMIT, ROLLBACK, savepoints), through the ORM session "
            "('session') or shared_lib.database ('direct')", ["path"], registry=r)
        self.task_restarts = Counter(
            "background_task_restarts_total", "Background tasks (relay, consumers' connection, "
            "deadline scanner, retention, saga waiter) that ended and were started again",
            ["task"], registry=r)
        self.task_up = Gauge("background_task_up", "1 while a background task runs",
                             ["task"], registry=r)
        self.handling = Histogram("message_handling_seconds", "Consumer handling time",
                                  ["queue", "type"], registry=r, buckets=_LATENCY_BUCKETS)
