"""The RabbitMQ connection of a service.

One channel with publisher confirms publishes everything, ``mandatory`` and
with ``on_return_raises``, so an unroutable message raises instead of being
dropped; each consumed queue gets its own channel with a bounded prefetch.

A supervisor task owns the connection: when it drops (broker restart,
network cut) it reconnects with backoff and sets up the topology, the publish
channel and every registered consumer again. aio-pika's robust connection
restores channels by itself, but a robust channel closed while the broker was
away could stay closed for good (its ``publish`` then waits forever), so the
set-up is redone here from scratch on each connection instead.

The broker may be several addresses (the nodes of a cluster, see
:mod:`.addresses`): each connection attempt goes through them in turn,
starting after the node that was just lost, and takes the first that
accepts the connection and the topology. (aio-pika's robust connection
always reconnects to the one URL it was given, one more reason to own the
loop here.) Quorum queues are declared without ``x-quorum-initial-group-size``:
RabbitMQ then places a replica on every node of the cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
)
from aiormq.exceptions import ChannelNotFoundEntity, DeliveryError, PublishError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential
from yarl import URL

from shared_lib.supervisor import cancelled_by_us
from shared_lib.tracing import inject

from .addresses import broker_urls, redact, rotation
from .topology import Topology, declare_topology

log = logging.getLogger(__name__)

Callback = Callable[[AbstractIncomingMessage], Awaitable[None]]


class Unroutable(Exception):
    """The broker returned or refused the message (no queue took it)."""


class BrokerUnavailable(ConnectionError):
    """Not connected to the broker right now (the supervisor is reconnecting)."""


@dataclass(frozen=True)
class OutgoingMessage:
    exchange: str
    routing_key: str
    body: bytes
    message_id: str
    message_type: str
    correlation_id: str | None = None
    #: the trace context the message carries (its ``traceparent`` header)
    traceparent: str | None = None


@dataclass(frozen=True)
class _Consumer:
    queue: str
    callback: Callback
    prefetch: int


class Broker:
    def __init__(self, url: str, service: str, topology: Topology, delivery_limit: int,
                 reconnect_max_seconds: float = 5.0,
                 attempt_timeout_seconds: float = 15.0,
                 heartbeat_seconds: int = 2) -> None:
        """``url``: one AMQP URL, or several separated by commas (a cluster's nodes).

        One attempt on one address (connecting and declaring the topology) gives
        up after ``attempt_timeout_seconds``, so that a node that accepts
        connections but does not answer neither hangs the reconnect loop nor
        holds the other addresses up.

        ``heartbeat_seconds`` (unless a URL says ``?heartbeat=``): a peer that
        stops answering without closing the connection (a killed container, a
        partition, a paused machine) is given up after (heartbeat + 1) x 3
        seconds, 9 s by default, rather than the 3 minutes of the server's
        default of 60.
        """
        self._url = url
        self._urls = broker_urls(url)
        #: index in ``_urls`` of the address of the current (or last) connection
        self._current: int | None = None
        self._attempt_timeout = attempt_timeout_seconds
        self._heartbeat = heartbeat_seconds
        self._service = service
        self._topology = topology
        self._delivery_limit = delivery_limit
        self._reconnect_max = reconnect_max_seconds
        self._connection: AbstractConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._consumers: list[_Consumer] = []
        self._lost = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._channel_lock = asyncio.Lock()
        #: exchanges known to exist on the current connection (the topology's, and
        #: any other found by :meth:`exchange_exists`)
        self._known_exchanges: set[str] = set()
        self._consumer_channels: dict[str, AbstractChannel] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def connection(self) -> AbstractConnection:
        if self._connection is None or self._connection.is_closed:
            raise BrokerUnavailable("not connected to RabbitMQ")
        return self._connection

    @property
    def address(self) -> str | None:
        """The node of the current (or last) connection, without credentials."""
        return None if self._current is None else redact(self._urls[self._current])

    @property
    def is_connected(self) -> bool:
        return self._connection is not None and not self._connection.is_closed

    async def connect(self, max_seconds: float = 60.0, *, keep_connected: bool = True) -> None:
        """Connect (retrying up to ``max_seconds``), then keep the connection up in a
        task of the broker's own; with ``keep_connected=False`` the caller runs
        :meth:`keep_connected` itself (a service supervises it)."""
        async for attempt in AsyncRetrying(
            stop=stop_after_delay(max_seconds),
            wait=wait_exponential(multiplier=0.2, max=3),
            retry=retry_if_exception_type((ConnectionError, OSError)),
            reraise=True,
        ):
            with attempt:
                await self._open()
        if keep_connected:
            self._supervisor = asyncio.create_task(self.keep_connected(),
                                                   name="broker-connection")

    async def _open(self) -> None:
        """Connect to the first address that works, in :func:`.addresses.rotation`
        order; raise the last failure when none does."""
        order = rotation(len(self._urls), self._current)
        for n, index in enumerate(order):
            try:
                try:
                    await asyncio.wait_for(self._open_one(index), self._attempt_timeout)
                except asyncio.CancelledError as exc:
                    if cancelled_by_us():
                        raise
                    # aiormq cancels its own waiters when it gives a connection up
                    raise BrokerUnavailable(f"connection attempt abandoned: {exc!r}") from exc
                except TimeoutError as exc:
                    raise BrokerUnavailable(
                        f"no answer within {self._attempt_timeout:g}s") from exc
            except Exception as exc:
                if n == len(order) - 1:
                    raise
                log.warning("RabbitMQ at %s unavailable (%r); trying %s", redact(
                    self._urls[index]), exc, redact(self._urls[order[n + 1]]))
            else:
                if len(self._urls) > 1:
                    log.info("connected to RabbitMQ at %s", redact(self._urls[index]))
                return

    async def _open_one(self, index: int) -> None:
        url = self._urls[index]
        extra = {} if "heartbeat" in URL(url).query else {"heartbeat": self._heartbeat}
        connection = await aio_pika.connect(
            url, client_properties={"connection_name": f"{self._service}-service"}, **extra)
        try:
            channel = await connection.channel()
            await declare_topology(channel, self._topology, self._delivery_limit)
            await channel.close()
            self._lost.clear()
            self._connection = connection
            self._current = index
            connection.close_callbacks.add(lambda *_: self._closed(connection))
            self._exchanges = {}
            self._publish_channel = None
            self._known_exchanges = {ex.name for ex in self._topology.exchanges}
            for consumer in self._consumers:
                await self._start_consumer(consumer)
        except BaseException:
            with contextlib.suppress(Exception):
                await connection.close()
            raise

    def _closed(self, connection: AbstractConnection) -> None:
        """The connection closed: set everything up again, unless it is an old one."""
        if connection is self._connection:
            self._lost.set()

    async def keep_connected(self) -> None:
        """Wait for the connection to drop, then connect again (for ever)."""
        while True:
            await self._lost.wait()
            log.warning("connection to RabbitMQ%s lost; reconnecting",
                        f" at {self.address}" if len(self._urls) > 1 else "")
            old = self._connection
            if old is not None and not old.is_closed:
                # never leave a half-dead connection (and its consumers) behind
                with contextlib.suppress(Exception):
                    await old.close()
            delay = 0.2
            while True:
                try:
                    await self._open()
                    log.info("reconnected to RabbitMQ")
                    break
                except asyncio.CancelledError:
                    if cancelled_by_us():
                        raise
                    exc = BrokerUnavailable("connection attempt abandoned")
                    log.warning("reconnecting to RabbitMQ failed (%r); again in %.1fs", exc,
                                delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._reconnect_max)
                except Exception as exc:
                    log.warning("reconnecting to RabbitMQ failed (%r); again in %.1fs", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._reconnect_max)

    async def _start_consumer(self, consumer: _Consumer) -> None:
        connection = self.connection
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=consumer.prefetch)
        channel.close_callbacks.add(
            lambda _ch, exc: self._consumer_closed(connection, consumer, exc))
        queue = await channel.get_queue(consumer.queue, ensure=False)
        await queue.consume(consumer.callback, no_ack=False)
        self._consumer_channels[consumer.queue] = channel

    def _consumer_closed(self, connection: AbstractConnection, consumer: _Consumer,
                         exc: BaseException | None) -> None:
        """A consumer channel closed alone (the broker closes a channel on a channel
        error): open that consumer again on the same connection. When the whole
        connection goes, the supervisor sets every consumer up again instead."""
        if connection is not self._connection or connection.is_closed or self._closing:
            return
        log.warning("consumer channel of %s closed (%r); reopening it", consumer.queue, exc)
        task = asyncio.create_task(self._reopen_consumer(connection, consumer),
                                   name=f"reopen-consumer-{consumer.queue}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _reopen_consumer(self, connection: AbstractConnection,
                               consumer: _Consumer) -> None:
        await asyncio.sleep(0)  # let a closing connection finish closing first
        if connection is not self._connection or connection.is_closed:
            return
        try:
            await self._start_consumer(consumer)
        except Exception as exc:
            log.warning("reopening the consumer of %s failed (%r); reconnecting",
                        consumer.queue, exc)
            self._closed(connection)

    def consumers_down(self) -> list[str]:
        """The queues registered with :meth:`consume` that no open channel consumes now."""
        down = []
        for consumer in self._consumers:
            channel = self._consumer_channels.get(consumer.queue)
            if channel is None or channel.is_closed or not self.is_connected:
                down.append(consumer.queue)
        return down

    def consumer_channel(self, queue: str) -> AbstractChannel:
        """The channel currently consuming ``queue`` (for inspection)."""
        return self._consumer_channels[queue]

    async def _exchange(self, name: str) -> AbstractExchange:
        async with self._channel_lock:
            if self._publish_channel is None or self._publish_channel.is_closed:
                # (re)opened lazily: the broker closes it on e.g. a missing exchange
                self._publish_channel = await self.connection.channel(
                    publisher_confirms=True, on_return_raises=True)
                self._exchanges = {}
            ex = self._exchanges.get(name)
            if ex is None:
                ex = await self._publish_channel.get_exchange(name, ensure=False)
                self._exchanges[name] = ex
            return ex

    def _retire_publish_channel(self, channel: AbstractChannel | None) -> None:
        """Open a new publish channel for the next publish; close ``channel`` (what is
        still pending on it fails, and goes again)."""
        if channel is None or channel is not self._publish_channel:
            return  # replaced already
        log.warning("the broker nacked a publish: publishing on a new channel")
        self._publish_channel = None
        self._exchanges = {}
        if not channel.is_closed:
            task = asyncio.create_task(channel.close(), name="close-publish-channel")
            self._background.add(task)
            task.add_done_callback(self._closed_quietly)

    def _closed_quietly(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("closing a retired publish channel failed: %r", task.exception())

    async def exchange_exists(self, name: str) -> bool:
        """Whether an exchange exists, asked on a scratch channel.

        Publishing to a missing exchange makes the broker close the channel,
        which would fail every other publish waiting for a confirm on it; the
        outbox relay asks here first so that one bad message is charged alone.
        Exchanges of the topology are known without asking.
        """
        if name in self._known_exchanges or name == "":
            return True
        channel = await self.connection.channel()
        try:
            await channel.declare_exchange(name, passive=True)
        except ChannelNotFoundEntity:
            return False
        finally:
            if not channel.is_closed:
                with contextlib.suppress(Exception):
                    await channel.close()
        self._known_exchanges.add(name)
        return True

    async def publish(self, msg: OutgoingMessage, timeout: float = 10.0) -> None:
        """Publish and wait for the broker's confirm.

        Raises :class:`Unroutable` when this message cannot be delivered (returned:
        no queue bound, or its exchange is missing), :class:`BrokerUnavailable` when
        the broker nacked it (it could not take it now: a quorum queue electing a new
        leader after a node vanished), anything else when the channel or connection
        failed (the message may be innocent: try again).
        """
        exchange = await self._exchange(msg.exchange)
        channel = self._publish_channel
        message = aio_pika.Message(
            body=msg.body,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=msg.message_id,
            type=msg.message_type,
            correlation_id=msg.correlation_id,
            app_id=f"{self._service}-service",
            headers=inject({"x-correlation-id": msg.correlation_id} if msg.correlation_id
                           else {}, msg.traceparent),
        )
        try:
            await exchange.publish(message, routing_key=msg.routing_key, mandatory=True,
                                   timeout=timeout)
        except PublishError as exc:
            # returned: no queue is bound for it
            raise Unroutable(f"{msg.exchange}/{msg.routing_key}: {exc!r}") from exc
        except DeliveryError as exc:
            # nacked: the broker could not take it now. A channel keeps its own view of
            # each quorum queue's members and leader; after a failover that view can go
            # stale and the channel refuses publishes the queues would take, until it is
            # closed: the next publish gets a new channel
            self._retire_publish_channel(channel)
            raise BrokerUnavailable(f"nacked by the broker: {msg.exchange}/"
                                    f"{msg.routing_key}") from exc
        except ChannelNotFoundEntity as exc:
            # the broker closed the channel for a missing exchange: every publish
            # pending on it fails, but only the one naming that exchange is at fault
            if f"'{msg.exchange}'" in str(exc):
                self._known_exchanges.discard(msg.exchange)
                raise Unroutable(f"{msg.exchange}/{msg.routing_key}: {exc!r}") from exc
            raise BrokerUnavailable(f"publish channel closed: {exc!r}") from exc

    async def consume(self, queue_name: str, callback: Callback, prefetch: int) -> None:
        """Consume a queue now and after every reconnection."""
        consumer = _Consumer(queue_name, callback, prefetch)
        self._consumers.append(consumer)
        await self._start_consumer(consumer)

    async def close(self) -> None:
        self._closing = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
            self._connection = None
