"""A small TCP load balancer on loopback, for tests of several server processes.

It stands for the L4 balancer an operator puts in front of a cluster: each client
connection is piped, byte for byte, to the next backend in round-robin order, and a
backend whose connect fails is skipped. When either side of a link closes, the other
side is closed too, so a client whose server process died gets its connection closed
and dials again, reaching a live process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Sequence
from types import TracebackType
from typing import Final, Self, final

import structlog

__all__ = ["TcpBalancer"]

_log = structlog.get_logger("chatview_server.testing")

_CHUNK: Final = 64 * 1024


@final
class TcpBalancer:
    """Round-robin TCP balancer over backend addresses, listening on ``127.0.0.1``.

    Use it with ``async with`` (or `start` and `close`) in the event loop of the test::

        async with TcpBalancer([first.address, second.address]) as balancer:
            client = ChatClient(config_with(grpc_target=balancer.address), keypair)

    Args:
        backends: ``host:port`` addresses, tried in this order, round-robin.
        connect_timeout: seconds a backend connect may take before it is skipped.

    Raises:
        ValueError: no backend, or an address without a port.
    """

    def __init__(self, backends: Sequence[str], *, connect_timeout: float = 2.0) -> None:
        if not backends:
            msg = "TcpBalancer needs at least one backend address"
            raise ValueError(msg)
        self._backends = [_split(address) for address in backends]
        self._connect_timeout = connect_timeout
        self._next = 0
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()
        self._open: Counter[str] = Counter()
        self._failed: Counter[str] = Counter()

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>``, where clients dial.

        Raises:
            RuntimeError: the balancer is not started.
        """
        if self._server is None:
            msg = "the balancer is not started; call start() first"
            raise RuntimeError(msg)
        port = self._server.sockets[0].getsockname()[1]
        return f"127.0.0.1:{port}"

    def open_links(self) -> dict[str, int]:
        """Return, per backend address, how many client connections are piped to it now."""
        return {address: count for address, count in self._open.items() if count}

    def failed_connects(self) -> dict[str, int]:
        """Return, per backend address, how many connects failed and were skipped."""
        return dict(self._failed)

    async def start(self) -> Self:
        """Listen on a free loopback port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        _log.info("balancer.started", address=self.address, backends=len(self._backends))
        return self

    async def close(self) -> None:
        """Stop listening and cut every open link."""
        if self._server is not None:
            self._server.close()
        for task in list(self._links):
            task.cancel()
        if self._links:
            await asyncio.gather(*self._links, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._links.add(task)
        try:
            await self._link(reader, writer)
        finally:
            self._links.discard(task)
            writer.close()

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected = await self._connect_next()
        if connected is None:
            _log.warning("balancer.no_backend", backends=len(self._backends))
            return
        address, (backend_reader, backend_writer) = connected
        self._open[address] += 1
        try:
            pipes = [
                asyncio.create_task(_pipe(reader, backend_writer)),
                asyncio.create_task(_pipe(backend_reader, writer)),
            ]
            try:
                # The first side to close ends the link: a client then sees its server go.
                await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pipe in pipes:
                    pipe.cancel()
                await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            self._open[address] -= 1
            backend_writer.close()

    async def _connect_next(
        self,
    ) -> tuple[str, tuple[asyncio.StreamReader, asyncio.StreamWriter]] | None:
        for _ in range(len(self._backends)):
            host, port = self._backends[self._next]
            self._next = (self._next + 1) % len(self._backends)
            address = f"{host}:{port}"
            try:
                async with asyncio.timeout(self._connect_timeout):
                    streams = await asyncio.open_connection(host, port)
            except (OSError, TimeoutError) as exc:
                self._failed[address] += 1
                _log.info("balancer.backend_skipped", backend=address, error=type(exc).__name__)
                continue
            return address, streams
        return None


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while chunk := await source.read(_CHUNK):
            sink.write(chunk)
            await sink.drain()


def _split(address: str) -> tuple[str, int]:
    host, separator, port = address.rpartition(":")
    if not separator or not port.isdigit():
        msg = f"backend address {address!r} has no port; expected host:port"
        raise ValueError(msg)
    return host.strip("[]"), int(port)
