"""Everything a service runs besides its HTTP routes, started in its lifespan.

A :class:`ServiceRuntime` owns the database engine, the broker connection,
the outbox relay, the saga orchestrator with its deadline scanner, the saga
waiter and one consumer per queue the service owns. It is created by the
service's app factory (never at import time) and kept on ``app.state``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared_lib.contracts import Envelope, SagaReply
from shared_lib.contracts.routing import unrouted_exchange
from shared_lib.database import Database
from shared_lib.db import count_statements, make_engine, wait_for_database
from shared_lib.messaging.broker import Broker
from shared_lib.messaging.consumer import (
    MessageConsumer,
    MessageContext,
    PoisonMessage,
    one_statement,
)
from shared_lib.messaging.subscriptions import Subscriptions
from shared_lib.messaging.topology import Topology, replies_queue
from shared_lib.metrics import Metrics
from shared_lib.outbox import (
    OUTBOX_DISPATCH,
    OutboxDispatcher,
    OutboxRelay,
    add_to_outbox,
    outbox_backlog,
    publish_caused_by,
)
from shared_lib.retention import RetentionPolicy, run_retention
from shared_lib.saga import SagaDefinition, SagaOrchestrator, SagaWaiter, SqlSagaStore
from shared_lib.saga.deadlines import DeadlineScanner
from shared_lib.settings import ServiceSettings
from shared_lib.supervisor import Supervisor

log = logging.getLogger(__name__)


class ServiceRuntime:
    def __init__(
        self,
        *,
        service: str,
        settings: ServiceSettings,
        sagas: Sequence[SagaDefinition] = (),
        subscriptions: Subscriptions | None = None,
        topology: Topology,
    ) -> None:
        self.service = service
        self.settings = settings
        self.topology = topology
        self.subscriptions = subscriptions or Subscriptions(service)
        self.orchestrator = SagaOrchestrator(
            service=service,
            definitions=sagas,
            step_timeout=settings.saga_step_timeout_seconds,
            max_attempts=settings.saga_step_max_attempts,
            compensation_max_attempts=settings.saga_compensation_max_attempts,
            retry_window=timedelta(seconds=settings.retention_inbox_seconds),
        )
        self.metrics = Metrics(service)
        m = self.metrics
        self.orchestrator.on_started = lambda t: m.sagas_started.labels(t).inc()
        self.orchestrator.on_ended = lambda t, status, secs: (
            m.sagas_ended.labels(t, status).inc(),
            m.saga_duration.labels(t, status).observe(secs))
        self.engine: AsyncEngine | None = None
        #: the HTTP hot paths' pool (statements written once, run by asyncpg)
        self.db: Database | None = None
        #: the consumers' direct handlers' pool, apart from the HTTP paths'
        self.consumer_db: Database | None = None
        #: the outbox relay's and the deadline scanner's (two connections: never
        #: waiting behind a backlog of messages or requests)
        self.background_db: Database | None = None
        self.sessions: async_sessionmaker[AsyncSession] | None = None
        self.broker: Broker | None = None
        self.relay: OutboxRelay | None = None
        self.dispatcher: OutboxDispatcher | None = None
        self.deadlines: DeadlineScanner | None = None
        self.waiter = SagaWaiter(settings.sync_database_url)
        self.consumers: dict[str, MessageConsumer] = {}
        self.supervisor = Supervisor(self.metrics.task_restarts, self.metrics.task_up)

    def check_inbox_retention(self) -> None:
        """Refuse an inbox window shorter than the longest saga plus the replay window
        of dead-lettered messages: a copy arriving later would be handled twice."""
        s = self.settings
        needed = (self.orchestrator.longest_lifetime()
                  + timedelta(seconds=s.dlq_replay_window_seconds))
        if timedelta(seconds=s.retention_inbox_seconds) < needed:
            raise ValueError(
                f"RETENTION_INBOX_SECONDS={s.retention_inbox_seconds:g} is shorter than the "
                f"longest saga ({self.orchestrator.longest_lifetime().total_seconds():g} s) "
                f"plus DLQ_REPLAY_WINDOW_SECONDS={s.dlq_replay_window_seconds:g}: "
                f"use at least {needed.total_seconds():g}")

    async def start(self) -> None:
        s = self.settings
        self.check_inbox_retention()
        self.engine = make_engine(s.database_url, s.db_pool_size)
        count_statements(self.engine, self.metrics.sql_statements,
                         self.metrics.db_round_trips)
        await wait_for_database(self.engine, s.startup_retry_seconds)
        self.db = Database(s.database_url, size=s.db_http_pool_size,
                           statements=self.metrics.sql_statements,
                           round_trips=self.metrics.db_round_trips)
        await self.db.open()
        self.consumer_db = Database(s.database_url, size=s.db_consumer_pool_size,
                                    statements=self.metrics.sql_statements,
                                    round_trips=self.metrics.db_round_trips)
        await self.consumer_db.open()
        # the relay, the dispatcher and the deadline scanner: one connection each
        self.background_db = Database(s.database_url, size=3,
                                      statements=self.metrics.sql_statements,
                                      round_trips=self.metrics.db_round_trips, traced=False)
        await self.background_db.open()
        self.broker = Broker(s.amqp_url, self.service, self.topology, s.message_delivery_limit,
                             heartbeat_seconds=s.amqp_heartbeat_seconds)
        await self.broker.connect(s.startup_retry_seconds, keep_connected=False)
        tasks = self.supervisor
        tasks.start("broker-connection", self.broker.keep_connected)
        self.relay = OutboxRelay(self.background_db, self.broker, batch_size=s.outbox_batch_size,
                                 poll_seconds=s.outbox_poll_seconds, metrics=self.metrics,
                                 max_attempts=s.outbox_max_attempts,
                                 grace_seconds=s.outbox_grace_seconds)
        dispatcher = self.dispatcher = OutboxDispatcher(
            self.background_db, self.broker, metrics=self.metrics,
            batch_size=s.outbox_batch_size)
        self.db.outbox_dispatch = self.consumer_db.outbox_dispatch = dispatcher.submit_arrays
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, autoflush=False,
            info={OUTBOX_DISPATCH: dispatcher.submit},
        )
        tasks.start("saga-waiter", self.waiter.run)
        tasks.start("outbox-dispatcher", dispatcher.run)
        tasks.start("outbox-relay", self.relay.run)
        deadlines = self.deadlines = DeadlineScanner(self.background_db, self.orchestrator)
        tasks.start("saga-deadlines", lambda: deadlines.run(s.saga_scan_interval_seconds))
        policy = RetentionPolicy(
            outbox_window=timedelta(seconds=s.retention_outbox_seconds),
            inbox_window=timedelta(seconds=s.retention_inbox_seconds),
            idempotency_window=timedelta(seconds=s.retention_idempotency_seconds),
            batch=s.retention_batch, interval_seconds=s.retention_interval_seconds)
        engine = self.engine
        tasks.start("retention", lambda: run_retention(engine, policy))
        tasks.start("outbox-gauges", self._watch_outbox)

        queues = self.subscriptions.handlers()
        if self.orchestrator.definitions:
            queues[replies_queue(self.service)] = {SagaReply.TYPE: self._on_reply}
        for queue, handlers in queues.items():
            consumer = MessageConsumer(queue=queue, service=self.service, handlers=handlers,
                                       session_factory=self.sessions, metrics=self.metrics,
                                       publisher=publish_caused_by, settings=s,
                                       set_aside=self._set_aside, database=self.consumer_db,
                                       max_batch=s.consumer_batch_size)
            self.consumers[queue] = consumer
            await self.broker.consume(queue, consumer.on_message, s.consumer_prefetch)
        log.info("%s runtime started: consuming %s", self.service, ", ".join(queues))

    def not_running(self) -> list[str]:
        """Background tasks and consumers that are down now (``/ready`` is 503 then)."""
        down = self.supervisor.down()
        if self.broker is not None:
            down += [f"consumer:{queue}" for queue in self.broker.consumers_down()]
        return down

    async def stop(self) -> None:
        await self.supervisor.stop()
        await self.waiter.stop()
        if self.broker is not None:
            with contextlib.suppress(Exception):
                await self.broker.close()
        for db in (self.db, self.consumer_db, self.background_db):
            if db is not None:
                await db.close()
        if self.engine is not None:
            await self.engine.dispose()

    @one_statement
    async def _on_reply(self, ctx: MessageContext, reply: SagaReply) -> None:
        """A reply in one transaction that claims it in the statement loading and
        locking its saga (one round trip less than a claim of its own)."""
        assert ctx.database is not None
        async with ctx.database.transaction() as q:
            new = await self.orchestrator.handle_reply(SqlSagaStore(q), ctx.envelope, reply,
                                                       claim_for=ctx.queue)
        if not new and ctx.metrics is not None:
            ctx.metrics.duplicates.labels(ctx.queue).inc()

    async def _set_aside(self, session: AsyncSession, envelope: Envelope, routing_key: str
                         ) -> None:
        """Keep a message this version does not handle in its publisher's unrouted
        queue (through the outbox, in the caller's transaction)."""
        exchange = unrouted_exchange(envelope.source)
        if exchange not in {ex.name for ex in self.topology.exchanges}:
            raise PoisonMessage(f"{envelope.type} from an unknown source {envelope.source!r}")
        await add_to_outbox(session, envelope, exchange, routing_key=routing_key)

    async def _watch_outbox(self, every: float = 5.0) -> None:
        """Keep the outbox backlog gauges current (scraping never touches the database)."""
        assert self.engine is not None
        while True:
            try:
                async with self.engine.connect() as conn:
                    backlog = await outbox_backlog(conn)
                self.metrics.outbox_backlog.set(backlog.unsent)
                self.metrics.outbox_parked.set(backlog.parked)
                self.metrics.outbox_oldest_age.set(backlog.oldest_seconds or 0.0)
            except Exception as exc:
                log.warning("outbox gauges not updated: %r", exc)
            await asyncio.sleep(every)
