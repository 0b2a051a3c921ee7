"""A loopback TCP proxy that injects network faults between a client and the server.

`cut` closes every connection and refuses new ones until `restore`, like a cable
pulled out; `delay_replies` holds back bytes from the server, like an overloaded
server whose answers arrive late. Requests always pass unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Self, final


@final
class FaultProxy:
    """Forwards ``127.0.0.1:<port>`` to the server's address."""

    def __init__(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        self._target = (host, int(port))
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._cut = False
        self.reply_delay = 0.0
        self.connections = 0

    @classmethod
    async def start(cls, target: str) -> Self:
        """Listen on a free loopback port and return the running proxy."""
        proxy = cls(target)
        proxy._server = await asyncio.start_server(proxy._accept, "127.0.0.1", 0)
        return proxy

    @property
    def address(self) -> str:
        """The ``host:port`` a client dials."""
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"127.0.0.1:{port}"

    def cut(self) -> None:
        """Drop every open connection and refuse new ones until `restore`."""
        self._cut = True
        for writer in list(self._writers):
            writer.transport.abort()

    def restore(self) -> None:
        """Accept connections again."""
        self._cut = False

    def delay_replies(self, seconds: float) -> None:
        """Hold each chunk from the server this long before passing it on (0 stops)."""
        self.reply_delay = seconds

    async def close(self) -> None:
        """Stop listening and drop every connection."""
        self.cut()
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self._writers.update((writer, upstream_writer))
        up = asyncio.create_task(self._pipe(reader, upstream_writer, delayed=False))
        down = asyncio.create_task(self._pipe(upstream_reader, writer, delayed=True))
        self._tasks.update((up, down))
        await asyncio.wait((up, down), return_when=asyncio.FIRST_COMPLETED)
        for task in (up, down):
            task.cancel()
        for side in (writer, upstream_writer):
            side.transport.abort()
            self._writers.discard(side)
        self._tasks.difference_update((up, down))

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, delayed: bool
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                if delayed and self.reply_delay > 0:
                    await asyncio.sleep(self.reply_delay)
                if self._cut:
                    return
                writer.write(data)
                await writer.drain()
