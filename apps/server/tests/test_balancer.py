"""The test balancer: round-robin, skipping dead backends, closing links both ways."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from chatview_server.testing import TcpBalancer


class NamedServer:
    """A loopback TCP server that writes its name to each connection, then echoes."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(self.name.encode() + b"\n")
        while data := await reader.read(1024):
            writer.write(data)
        writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()


@pytest.fixture
async def servers() -> AsyncIterator[list[tuple[NamedServer, str]]]:
    started = [NamedServer(name) for name in ("one", "two", "three")]
    addresses = [await server.start() for server in started]
    yield list(zip(started, addresses, strict=True))
    for server in started:
        if server.server is not None and server.server.is_serving():
            await server.stop()


async def _greeting(address: str) -> tuple[str, asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = address.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    async with asyncio.timeout(5):
        line = await reader.readline()
    return line.decode().strip(), reader, writer


def _closed_port_address() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


class TestTcpBalancer:
    async def test_round_robin(self, servers: list[tuple[NamedServer, str]]) -> None:
        """Connections go to the backends in turn, and bytes pass both ways."""
        async with TcpBalancer([address for _, address in servers]) as balancer:
            names = []
            for _ in range(4):
                name, reader, writer = await _greeting(balancer.address)
                writer.write(b"ping\n")
                async with asyncio.timeout(5):
                    echoed = await reader.readline()
                names.append(name)
                writer.close()

        assert ["one", "two", "three", "one"] == names
        assert b"ping\n" == echoed

    async def test_skips_dead_backend(self, servers: list[tuple[NamedServer, str]]) -> None:
        """A backend whose connect fails is skipped and counted."""
        dead = _closed_port_address()
        async with TcpBalancer([dead, servers[1][1]]) as balancer:
            name, _, writer = await _greeting(balancer.address)
            writer.close()

            assert "two" == name
            assert {dead: 1} == balancer.failed_connects()

    async def test_backend_close_reaches_client(
        self, servers: list[tuple[NamedServer, str]]
    ) -> None:
        """When the backend goes away, the client's connection ends too."""
        server, address = servers[0]
        async with TcpBalancer([address]) as balancer:
            _, reader, writer = await _greeting(balancer.address)
            links_before = balancer.open_links()
            await server.stop()
            async with asyncio.timeout(5):
                rest = await reader.read()
            writer.close()

        assert {address: 1} == links_before
        assert b"" == rest

    async def test_no_backend(self) -> None:
        """An empty backend list is rejected at construction."""
        with pytest.raises(ValueError, match="at least one backend"):
            TcpBalancer([])
