"""Holding queued messages back, to make a test's delivery order happen."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import aio_pika

from .infra import run_sync


def hold_queued(amqp_url: str, queues: Sequence[str], meanwhile: Callable[[], None]) -> int:
    """Take every message queued on ``queues`` without acking it, run ``meanwhile``
    (other queues are consumed as usual), then give them back (nack, requeue):
    they are delivered after whatever ``meanwhile`` waited for. Returns how many."""

    async def go() -> int:
        conn = await aio_pika.connect(amqp_url)
        try:
            channel = await conn.channel()
            held = []
            for name in queues:
                queue = await channel.get_queue(name)
                while (msg := await queue.get(fail=False)) is not None:
                    held.append(msg)
            await asyncio.to_thread(meanwhile)
            for msg in held:
                await msg.nack(requeue=True)
            return len(held)
        finally:
            await conn.close()

    return run_sync(go())
