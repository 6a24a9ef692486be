"""A TCP proxy that a test can cut or freeze: the database (or broker) "goes
away" for the code under test without stopping the machine's shared server."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to a target while up; when cut, closes every
    open connection and closes new ones at once (as a server that went away);
    when frozen, keeps every connection open but forwards nothing either way (a
    partition, a paused machine, a killed container: no FIN, no RST) until thawed."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._up = True
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self.thaw()
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        self._up = False
        for w in list(self._writers):
            w.close()
        self._writers.clear()

    def restore(self) -> None:
        self._up = True

    def freeze(self) -> None:
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._up:
            writer.close()
            return
        # frozen: the connection is taken (as a kernel would) and then nothing answers
        await self._flowing.wait()
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            # frozen, the other side hears nothing, not even that this one closed
            await self._flowing.wait()
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()


class ThreadedProxy:
    """A :class:`TcpProxy` on an event loop of its own thread, for tests that drive
    processes synchronously."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="tcp-proxy")
        self._thread.start()
        self._proxy: TcpProxy = self._call(self._make(target_host, target_port))

    async def _make(self, host: str, port: int) -> TcpProxy:
        return await TcpProxy(host, port).start()

    def _call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(30)

    def _do(self, action: str) -> None:
        async def go() -> None:
            getattr(self._proxy, action)()

        self._call(go())

    @property
    def port(self) -> int:
        return self._proxy.port

    def freeze(self) -> None:
        self._do("freeze")

    def thaw(self) -> None:
        self._do("thaw")

    def cut(self) -> None:
        self._do("cut")

    def restore(self) -> None:
        self._do("restore")

    def close(self) -> None:
        try:
            self._call(self._proxy.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


@contextmanager
def threaded_proxy(target_host: str, target_port: int) -> Iterator[ThreadedProxy]:
    proxy = ThreadedProxy(target_host, target_port)
    try:
        yield proxy
    finally:
        proxy.close()
