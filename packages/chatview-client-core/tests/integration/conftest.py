"""Fixtures for tests against a real server process (chatview_server.testing).

The server runs as a child process on a loopback port, on a database of the session's
PostgreSQL (embedded, or ``CHATVIEW_TEST_DSN``). Rate limits are raised because every
test logs in many times from the same address.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Final, Protocol

import grpc
import pytest

from chatview_client import ChatClient, ClientConfig, Message
from chatview_identity import KeyPair
from chatview_server.testing import ProtocolClient, ServerProcess
from chatview_store_pg.testing import TemporaryPostgres

SERVER_CONFIG: Final[dict[str, object]] = {
    "login_rate_per_minute": 100_000,
    "send_rate_per_second": 100_000,
    "send_burst": 10_000,
}

ServerFactory = Callable[..., ServerProcess]


class ClientFactory(Protocol):
    async def __call__(
        self,
        server: ServerProcess,
        keypair: KeyPair,
        *,
        device: str = "main",
        open_client: bool = True,
        **config: Any,
    ) -> ChatClient: ...


@pytest.fixture(scope="module")
def server(chatview_postgres: TemporaryPostgres) -> Iterator[ServerProcess]:
    """A server shared by a module's tests; each test uses keys of its own."""
    dsn = chatview_postgres.create_database()
    try:
        with ServerProcess(dsn=dsn, config=SERVER_CONFIG) as process:
            yield process
    finally:
        chatview_postgres.drop_database(dsn)


def client_config(data_dir: Path, server: ServerProcess, **config: Any) -> ClientConfig:
    """A configuration for tests: the test server and short retry delays."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "grpc_target": server.address,
        "grpc_timeout": 5.0,
        "retry_initial_delay": 0.1,
        "retry_max_delay": 1.0,
        "reconnect_max_delay": 0.5,
    }
    values.update(config)
    return ClientConfig(**values)


@pytest.fixture
async def make_client(tmp_path: Path) -> AsyncIterator[ClientFactory]:
    """Open clients whose data folder is under the test's tmp_path; all close at the end."""
    made: list[ChatClient] = []

    async def make(
        server: ServerProcess,
        keypair: KeyPair,
        *,
        device: str = "main",
        open_client: bool = True,
        **config: Any,
    ) -> ChatClient:
        data_dir = tmp_path / f"{keypair.public_key.short}-{device}"
        client = ChatClient(client_config(data_dir, server, **config), keypair)
        made.append(client)
        if open_client:
            await client.open()
        return client

    yield make
    for client in reversed(made):
        await client.close()


async def until(
    predicate: Callable[[], bool | Awaitable[bool]], *, within: float = 20.0, what: str = ""
) -> None:
    """Wait until `predicate` is true, polling; fail the test after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within} s waiting for {what or predicate}")
        await asyncio.sleep(0.05)


async def server_history(server: ServerProcess, keypair: KeyPair, peer: str) -> list[Any]:
    """The whole conversation as the server stores it, read through the raw protocol."""
    async with grpc.aio.insecure_channel(server.address) as channel:
        raw = await ProtocolClient(channel, keypair, client_id="checker").login()
        messages: list[Any] = []
        cursor = ""
        while True:
            page = (await raw.history(peer, cursor=cursor, limit=100, direction="newer")).page
            messages.extend(page.messages)
            if not page.has_more:
                return messages
            cursor = str(page.messages[-1].server_seq)


def summary(messages: list[Message]) -> list[tuple[int | None, str, str]]:
    """What two views of a conversation must agree on: seq, author and text."""
    return [(message.server_seq, message.sender, message.text) for message in messages]
