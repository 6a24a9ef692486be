"""The RabbitMQ connection of a service (aio-pika robust connection).

One channel with publisher confirms publishes everything, ``mandatory`` and
with ``on_return_raises``, so an unroutable message raises instead of being
dropped; each consumed queue gets its own channel with a bounded prefetch.
Robust connections and channels restore themselves, their queues and their
consumers after the broker comes back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import (
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from aiormq.exceptions import ChannelNotFoundEntity, DeliveryError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from .topology import Topology, declare_topology

log = logging.getLogger(__name__)


class Unroutable(Exception):
    """The broker returned or refused the message (no queue took it)."""


@dataclass(frozen=True)
class OutgoingMessage:
    exchange: str
    routing_key: str
    body: bytes
    message_id: str
    message_type: str
    correlation_id: str | None = None


class Broker:
    def __init__(self, url: str, service: str, topology: Topology, delivery_limit: int) -> None:
        self._url = url
        self._service = service
        self._topology = topology
        self._delivery_limit = delivery_limit
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractRobustChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}

    @property
    def connection(self) -> AbstractRobustConnection:
        if self._connection is None:
            raise RuntimeError("broker not connected")
        return self._connection

    async def connect(self, max_seconds: float = 60.0) -> None:
        async for attempt in AsyncRetrying(
            stop=stop_after_delay(max_seconds),
            wait=wait_exponential(multiplier=0.2, max=3),
            retry=retry_if_exception_type((ConnectionError, OSError)),
            reraise=True,
        ):
            with attempt:
                self._connection = await aio_pika.connect_robust(
                    self._url,
                    client_properties={"connection_name": f"{self._service}-service"},
                )
        channel = await self.connection.channel()
        await declare_topology(channel, self._topology, self._delivery_limit)
        await channel.close()
        self._publish_channel = await self.connection.channel(
            publisher_confirms=True, on_return_raises=True
        )  # type: ignore[assignment]
        self._exchanges = {}

    @property
    def is_connected(self) -> bool:
        return self._connection is not None and not self._connection.is_closed and bool(
            getattr(self._connection, "connected", True)
        )

    async def _exchange(self, name: str) -> AbstractExchange:
        ex = self._exchanges.get(name)
        if ex is None:
            assert self._publish_channel is not None
            ex = await self._publish_channel.get_exchange(name, ensure=False)
            self._exchanges[name] = ex
        return ex

    async def publish(self, msg: OutgoingMessage, timeout: float = 10.0) -> None:
        """Publish and wait for the broker's confirm; raise if not confirmed."""
        exchange = await self._exchange(msg.exchange)
        message = aio_pika.Message(
            body=msg.body,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=msg.message_id,
            type=msg.message_type,
            correlation_id=msg.correlation_id,
            app_id=f"{self._service}-service",
            headers={"x-correlation-id": msg.correlation_id} if msg.correlation_id else {},
        )
        try:
            await exchange.publish(message, routing_key=msg.routing_key, mandatory=True,
                                   timeout=timeout)
        except (DeliveryError, ChannelNotFoundEntity) as exc:
            # returned (no queue bound), nacked, or no such exchange: this message
            # cannot be delivered now; the channel itself recovers by itself
            raise Unroutable(f"{msg.exchange}/{msg.routing_key}: {exc!r}") from exc

    async def consume(
        self,
        queue_name: str,
        callback: Callable[[AbstractIncomingMessage], Awaitable[None]],
        prefetch: int,
    ) -> None:
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        queue = await channel.get_queue(queue_name, ensure=False)
        await queue.consume(callback, no_ack=False)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
