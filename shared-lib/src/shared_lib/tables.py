"""Tables every service has: outbox, inbox, saga state and saga step log, and the
idempotency keys of its HTTP writes.

They live in each service's own database. The revisions that create them are
shared-lib's own Alembic branch, ``messaging`` (``shared_lib/migrations/versions``),
which every service applies next to its own (``shared_lib.migrations.alembic_config``);
``run_env`` includes this metadata in autogenerate. These definitions stay here,
apart from the migrations, because the outbox, inbox and saga code query them: a
change to a table goes here and into a new revision of that branch
(``--head messaging@head``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

messaging_metadata = MetaData()

outbox = Table(
    "outbox",
    messaging_metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    # not unique: a re-sent saga command goes out again with the same message id
    Column("message_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("exchange", String(200), nullable=False),
    Column("routing_key", String(200), nullable=False),
    Column("message_type", String(100), nullable=False),
    Column("body", Text, nullable=False),
    Column("correlation_id", String(64), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text, nullable=True),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    # given up on after OUTBOX_MAX_ATTEMPTS deliveries that could not be made (its
    # exchange missing, returned as unroutable): left for an operator to republish
    Column("parked_at", DateTime(timezone=True), nullable=True),
    #: the trace context of the span that wrote the row (tracing on), sent with it
    Column("traceparent", String(55), nullable=True),
    Index("ix_outbox_unsent", "id", postgresql_where=text("sent_at IS NULL")),
    Index("ix_outbox_sent_at", "sent_at", postgresql_where=text("sent_at IS NOT NULL")),
)

inbox = Table(
    "inbox",
    messaging_metadata,
    Column("consumer", String(200), primary_key=True),
    Column("message_id", UUID(as_uuid=True), primary_key=True),
    Column("message_type", String(100), nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # for commands: the reply that was sent, so a repeated command gets it again
    Column("reply", JSONB, nullable=True),
    Index("ix_inbox_processed_at", "processed_at"),
)

sagas = Table(
    "sagas",
    messaging_metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("step_index", Integer, nullable=False),
    Column("data", JSONB, nullable=False),
    Column("deadline", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("reason", Text, nullable=True),
    Column("version", Integer, nullable=False, server_default=text("1")),
    #: how many times an operator retried it (each round re-sends its commands
    #: under new message ids)
    Column("retry_round", Integer, nullable=False, server_default=text("0")),
    #: the trace the saga started in (tracing on), and the span that started it: its
    #: later transitions continue that trace
    Column("trace_id", String(32), nullable=True),
    Column("trace_span_id", String(16), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_sagas_due", "deadline",
          postgresql_where=text("status IN ('running', 'compensating')")),
    Index("ix_sagas_status_created", "status", "created_at"),
)

saga_steps = Table(
    "saga_steps",
    messaging_metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("saga_id", UUID(as_uuid=True), nullable=False),
    Column("step", String(64), nullable=False),
    Column("action", String(16), nullable=False),
    Column("detail", Text, nullable=True),
    Column("compensation", Boolean, nullable=False, server_default=text("false")),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_saga_steps_saga", "saga_id", "id"),
)



idempotency_keys = Table(
    "idempotency_keys",
    messaging_metadata,
    # the caller the key belongs to ("user:<id>", "anonymous")
    Column("scope", String(100), primary_key=True),
    Column("key", String(255), primary_key=True),
    # SHA-256 of the request (method, path, body) the key was first used for
    Column("fingerprint", String(64), nullable=False),
    # a saga start: the saga (its outcome is read again on a retry)
    Column("saga_id", UUID(as_uuid=True), nullable=True),
    # a plain write: its answer
    Column("status_code", Integer, nullable=True),
    Column("body", Text, nullable=True),
    Column("location", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_idempotency_keys_created_at", "created_at"),
)
