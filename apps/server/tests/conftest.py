"""Fixtures of the server tests: a real server process per test module, on its own database.

The PostgreSQL behind them is the ``chatview_postgres`` session fixture of
chatview-store-pg: ``CHATVIEW_TEST_DSN`` when set, an embedded one otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import grpc
import pytest

from chatview_identity import KeyPair
from chatview_server.testing import ProtocolClient, ServerProcess
from chatview_store_pg.testing import TemporaryPostgres

# A fixed key for the configured admin; the seed is a test value, not a secret.
ADMIN_SEED = bytes(range(32))

# Limits high enough that tests sharing one server never meet them; the rate-limit
# tests start a server of their own with low ones.
RELAXED_LIMITS = {
    "login_rate_per_minute": 1_000_000,
    "send_rate_per_second": 1_000_000,
    "send_burst": 10_000,
}

ClientFactory = Callable[..., Awaitable[ProtocolClient]]


@pytest.fixture(scope="session")
def admin_keypair() -> KeyPair:
    """The key that every test server makes an admin at start."""
    return KeyPair.from_seed(ADMIN_SEED)


@pytest.fixture(scope="module")
def module_dsn(chatview_postgres: TemporaryPostgres) -> Iterator[str]:
    """A database shared by the server processes of one test module."""
    dsn = chatview_postgres.create_database()
    try:
        yield dsn
    finally:
        chatview_postgres.drop_database(dsn)


@pytest.fixture(scope="session")
def relaxed_limits() -> dict[str, object]:
    """Rate limits that tests sharing one server never meet."""
    return dict(RELAXED_LIMITS)


@pytest.fixture(scope="module")
def server(module_dsn: str, admin_keypair: KeyPair) -> Iterator[ServerProcess]:
    """The module's server process, with the admin key and relaxed limits."""
    config: dict[str, object] = {"admin_pub_key": admin_keypair.public_key.hex, **RELAXED_LIMITS}
    with ServerProcess(dsn=module_dsn, config=config) as process:
        yield process


@pytest.fixture
async def channel(server: ServerProcess) -> AsyncIterator[grpc.aio.Channel]:
    """A plaintext channel to the module's server."""
    async with grpc.aio.insecure_channel(server.address) as opened:
        yield opened


@pytest.fixture
def connect(channel: grpc.aio.Channel) -> ClientFactory:
    """Log in a new user (or the given key pair) on the module's server."""

    async def make(
        keypair: KeyPair | None = None, client_id: str = "test-device"
    ) -> ProtocolClient:
        return await ProtocolClient(channel, keypair, client_id=client_id).login()

    return make


@pytest.fixture
async def admin(connect: ClientFactory, admin_keypair: KeyPair) -> ProtocolClient:
    """The configured admin, logged in."""
    return await connect(admin_keypair)
