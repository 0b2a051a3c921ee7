"""``NatsBackend``: events between server processes over NATS, presence in PostgreSQL.

NATS core publish/subscribe carries the messages: one subject, every process
subscribed, the sender's own copy skipped. A batch of messages travels as one NATS
message, the messages separated by newlines (their JSON never contains one), which
saves a publish per message. NATS keeps the order of one publisher's
messages, and buffers what is published while the link is down. What others
published while this process was disconnected is not replayed, so after a reconnect
every local connection is ended for a catch-up, as with ``PostgresBackend``.

Presence needs an atomic count of processes per user, which core NATS does not
have; it stays in the PostgreSQL tables of ``_ledger``. Presence changes are far
rarer than events, so the database is not the bottleneck NOTIFY would be. Messages
above the server's ``max_payload`` (1 MB by default) are stored in that database
too and sent by reference.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar, final

import structlog

from ._cluster import DEFAULT_HEAL_INTERVAL, ClusterBackend
from ._errors import MissingDependencyError
from ._values import EventCodec

if TYPE_CHECKING:
    import asyncpg
    import nats.aio.client
    import nats.aio.msg

    from ._ledger import Db

__all__ = ["NatsBackend"]

EventT = TypeVar("EventT")

_logger = structlog.get_logger("chatview_hub")

_DEFAULT_SUBJECT = "chatview.hub"


@final
class NatsBackend(ClusterBackend[EventT]):
    """A ``HubBackend`` whose processes exchange events over NATS.

    Same behaviour as ``PostgresBackend`` (cluster-wide presence reported once per
    global change, catch-up after a reconnect, large messages by reference), for
    when NOTIFY's throughput runs out. Presence and large messages still live in
    PostgreSQL, so the backend needs its DSN too.

    Use it as an async context manager around the hub's life, or call ``start()``
    and ``stop()``::

        async with NatsBackend(["nats://127.0.0.1:4222"], codec, presence_dsn=dsn) as backend:
            hub = Hub(backend=backend, on_presence=feed.push)

    Not thread-safe: use it from the hub's event loop thread.

    Args:
        servers: NATS server URLs.
        codec: Turns events into bytes and back.
        presence_dsn: PostgreSQL DSN for the presence and payload tables.
        subject: The NATS subject; processes that should talk use the same one.
        heal_interval: Seconds without a heartbeat after which a process is declared
            dead, and its users, if online nowhere else, go offline.
        heartbeat_interval: Seconds between heartbeats; a third of ``heal_interval``
            by default.
        max_pending: Messages that may wait to be sent; see ``PostgresBackend``.
        max_incoming: Received messages that may wait to be handled.
        payload_retention: Seconds a stored large message is kept for its readers.
        create_tables: Create the presence and payload tables if missing.
        reconnect_wait: Seconds between NATS reconnection attempts.
        connect_timeout: Seconds ``start()`` keeps trying the first connection.

    Raises:
        MissingDependencyError: nats-py or asyncpg is not installed
            (``pip install chatview-hub[nats]``).
        ValueError: A number is out of range.
    """

    def __init__(
        self,
        servers: Sequence[str],
        codec: EventCodec[EventT],
        *,
        presence_dsn: str,
        subject: str = _DEFAULT_SUBJECT,
        heal_interval: float = DEFAULT_HEAL_INTERVAL,
        heartbeat_interval: float | None = None,
        max_pending: int = 10_000,
        max_incoming: int = 100_000,
        payload_retention: float = 300.0,
        create_tables: bool = True,
        reconnect_wait: float = 1.0,
        connect_timeout: float = 10.0,
    ) -> None:
        for module in ("nats", "asyncpg"):
            try:
                __import__(module)
            except ImportError:
                raise MissingDependencyError("NatsBackend", module, "nats") from None
        if isinstance(servers, str):
            # A lone URL string would otherwise be read as a list of characters.
            servers = [servers]
        if not servers:
            msg = "invalid servers []: expected at least one NATS URL"
            raise ValueError(msg)
        if not subject or any(char in subject for char in " \t\r\n*>"):
            msg = f"invalid subject {subject!r}: expected a NATS subject without wildcards"
            raise ValueError(msg)
        super().__init__(
            transport=_NatsTransport(list(servers), subject, reconnect_wait, connect_timeout),
            presence_dsn=presence_dsn,
            codec=codec,
            heal_interval=heal_interval,
            heartbeat_interval=heartbeat_interval,
            max_pending=max_pending,
            max_incoming=max_incoming,
            payload_retention=payload_retention,
            create_tables=create_tables,
        )


@final
class _NatsTransport:
    """One NATS connection per process: subscribe to the subject, publish to it."""

    kind = "nats"
    sends_in_transaction = False

    def __init__(
        self, servers: list[str], subject: str, reconnect_wait: float, connect_timeout: float
    ) -> None:
        self._servers = servers
        self._subject = subject
        self._reconnect_wait = reconnect_wait
        self._connect_timeout = connect_timeout
        self._client: nats.aio.client.Client | None = None
        self._receive: Callable[[bytes | str], None] = _ignore
        self._reconnected: Callable[[], None] = _nothing
        self._lost: Callable[[], None] = _nothing
        self._closing = False

    @property
    def max_message_size(self) -> int:
        client = self._client
        # Until connected, assume the server default of 1 MB less the envelope's margin.
        return client.max_payload if client is not None else 1_000_000

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    async def open(
        self,
        pool: asyncpg.Pool[asyncpg.Record],
        receive: Callable[[bytes | str], None],
        reconnected: Callable[[], None],
        lost: Callable[[], None],
    ) -> None:
        import nats.aio.client

        self._receive = receive
        self._reconnected = reconnected
        self._lost = lost
        client = nats.aio.client.Client()
        try:
            async with asyncio.timeout(self._connect_timeout):
                await client.connect(
                    servers=self._servers,
                    name="chatview-hub",
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=self._reconnect_wait,  # type: ignore[arg-type]
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    error_cb=self._on_error,
                )
            await client.subscribe(
                self._subject,
                cb=self._on_message,
                pending_msgs_limit=-1,
                pending_bytes_limit=-1,
            )
            await client.flush()
        except BaseException:
            await client.close()
            raise
        self._client = client

    async def _on_message(self, message: nats.aio.msg.Msg) -> None:
        for line in message.data.split(b"\n"):
            self._receive(line)

    async def _on_disconnected(self) -> None:
        if not self._closing:
            _logger.warning("hub.backend.listen_lost", backend=self.kind)

    async def _on_reconnected(self) -> None:
        self._reconnected()

    async def _on_error(self, error: Exception) -> None:
        import nats.errors

        if isinstance(error, nats.errors.SlowConsumerError):
            self._lost()
            return
        _logger.warning("hub.backend.bus_error", backend=self.kind, error=type(error).__name__)

    async def send(self, messages: list[bytes]) -> None:
        client = self._client
        assert client is not None
        limit = client.max_payload
        batch: list[bytes] = []
        size = 0
        for message in messages:
            if batch and size + 1 + len(message) > limit:
                await client.publish(self._subject, b"\n".join(batch))
                batch, size = [], 0
            batch.append(message)
            size += len(message) + 1
        if batch:
            await client.publish(self._subject, b"\n".join(batch))

    async def send_in_transaction(self, db: Db, messages: list[bytes]) -> None:
        msg = "NATS cannot send within a database transaction"
        raise NotImplementedError(msg)

    async def close(self) -> None:
        self._closing = True
        client, self._client = self._client, None
        if client is None:
            return
        try:
            async with asyncio.timeout(2.0):
                await client.flush()
        except Exception as exc:
            _logger.debug("hub.backend.flush_failed", backend=self.kind, error=type(exc).__name__)
        await client.close()


def _ignore(data: bytes | str) -> None:
    """Stands in for the receive callback until ``open``."""


def _nothing() -> None:
    """Stands in for a callback until ``open``."""
