"""``PostgresBackend``: server processes sharing one PostgreSQL exchange events by NOTIFY.

Each process keeps one dedicated connection that LISTENs on the channel. It sends
through a small pool with ``pg_notify``, a batch of messages per statement; the
statement is one transaction, so the messages arrive in order. PostgreSQL delivers
a notification to every listening session after the sending transaction commits,
the sender's own session included, which skips it.

Limits worth knowing (PostgreSQL's defaults):

* A payload must be shorter than 8000 bytes. Larger messages are stored in
  ``hub_payloads`` and the notification carries their id; receivers read them back.
* All notifications of the server go through one queue of 8 GB. A session that
  stops reading keeps the queue from emptying for every other. The dedicated
  connection here only listens and answers a keepalive, so it reads promptly.
* Every notification is written under a cluster-wide lock at commit, so NOTIFY does
  not scale with cores; see the README for when to move to ``NatsBackend``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, final

import structlog

from ._cluster import DEFAULT_HEAL_INTERVAL, Backoff, ClusterBackend
from ._errors import MissingDependencyError
from ._ledger import plain_dsn
from ._values import EventCodec

if TYPE_CHECKING:
    import asyncpg

    from ._ledger import Db

__all__ = ["PostgresBackend"]

EventT = TypeVar("EventT")

_logger = structlog.get_logger("chatview_hub")

# NOTIFY rejects a payload of 8000 bytes or more (the build's page size less a margin).
_NOTIFY_PAYLOAD_LIMIT = 7999

_NOTIFY_MANY = "SELECT pg_notify($1, message) FROM unnest($2::text[]) AS message"

_DEFAULT_CHANNEL = "chatview_hub"


@final
class PostgresBackend(ClusterBackend[EventT]):
    """A ``HubBackend`` for several server processes sharing one PostgreSQL.

    Events cross between processes by LISTEN/NOTIFY. Presence is kept in tables of
    the same database, so the hub's ``is_online``, ``online_users`` and
    ``online_count`` become cluster-wide. Every global presence change (a user's
    first connection anywhere, or its last one gone) is reported once in the whole
    cluster, to the presence listener of the process that caused it.

    Use it as an async context manager around the hub's life::

        codec = EventCodec(encode=Event.SerializeToString, decode=Event.FromString)
        async with PostgresBackend(dsn, codec) as backend:
            hub = Hub(backend=backend, on_presence=feed.push)
            ...
            hub.close()

    or call ``start()`` and ``stop()``. The hub may be made before ``start()``; what
    it publishes meanwhile is sent once started.

    If the listening connection drops, the backend reconnects with growing delays
    and then ends every local connection with reason ``"backend_reconnected"``:
    notifications sent meanwhile are lost, and the clients catch up from the
    database. A message that would exceed the payload limit is stored in a table
    and sent by reference; none is dropped without the connections concerned being
    ended for a catch-up.

    Not thread-safe: use it from the hub's event loop thread.

    Args:
        dsn: A ``postgresql://`` URL (a ``+asyncpg`` driver suffix is dropped) or a
            libpq connection string. The connections are held for the backend's
            whole life, so point it at PostgreSQL itself or at a pooler in session
            mode (LISTEN does not work through transaction pooling).
        codec: Turns events into bytes and back.
        channel: The NOTIFY channel; processes that should talk use the same one.
        heal_interval: Seconds without a heartbeat after which a process is declared
            dead, and its users, if online nowhere else, go offline.
        heartbeat_interval: Seconds between heartbeats; a third of ``heal_interval``
            by default. The same task declares silent processes dead.
        max_pending: Messages that may wait to be sent while the database is
            unreachable. Beyond that they are dropped and, once sending works again,
            the other processes end all their connections so the clients catch up.
        max_incoming: Received messages that may wait to be handled; beyond that they
            are dropped and every local connection is ended for a catch-up.
        payload_retention: Seconds a stored large message is kept for its readers.
        create_tables: Create the presence and payload tables if missing. Pass False
            when migrations create them.
        keepalive_interval: Seconds between checks that the listening connection is
            alive, to notice a silently dropped link.

    Raises:
        MissingDependencyError: asyncpg is not installed
            (``pip install chatview-hub[postgres]``).
        ValueError: A number is out of range.
    """

    def __init__(
        self,
        dsn: str,
        codec: EventCodec[EventT],
        *,
        channel: str = _DEFAULT_CHANNEL,
        heal_interval: float = DEFAULT_HEAL_INTERVAL,
        heartbeat_interval: float | None = None,
        max_pending: int = 10_000,
        max_incoming: int = 100_000,
        payload_retention: float = 300.0,
        create_tables: bool = True,
        keepalive_interval: float = 10.0,
    ) -> None:
        _require_asyncpg("PostgresBackend", "postgres")
        if not channel or len(channel.encode()) > 63:
            msg = f"invalid channel {channel!r}: expected 1 to 63 bytes (a PostgreSQL identifier)"
            raise ValueError(msg)
        super().__init__(
            transport=_NotifyTransport(plain_dsn(dsn), channel, keepalive_interval),
            presence_dsn=dsn,
            codec=codec,
            heal_interval=heal_interval,
            heartbeat_interval=heartbeat_interval,
            max_pending=max_pending,
            max_incoming=max_incoming,
            payload_retention=payload_retention,
            create_tables=create_tables,
        )

    def listen_connection_pid(self) -> int | None:
        """Return the server process id of the listening connection, or None.

        For operators and tests: ``pg_terminate_backend`` on it simulates a lost link.
        """
        transport = self._transport
        assert isinstance(transport, _NotifyTransport)
        return transport.server_pid()


def _require_asyncpg(backend: str, extra: str) -> None:
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        raise MissingDependencyError(backend, "asyncpg", extra) from None


@final
class _NotifyTransport:
    """LISTEN on one dedicated connection; NOTIFY through the ledger's pool."""

    kind = "postgres"
    sends_in_transaction = True

    def __init__(self, dsn: str, channel: str, keepalive_interval: float) -> None:
        self._dsn = dsn
        self._channel = channel
        self._keepalive_interval = keepalive_interval
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._listener: asyncpg.Connection[asyncpg.Record] | None = None
        self._lost = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self._receive: Callable[[bytes | str], None] = _ignore
        self._reconnected: Callable[[], None] = _nothing

    @property
    def max_message_size(self) -> int:
        return _NOTIFY_PAYLOAD_LIMIT

    @property
    def connected(self) -> bool:
        return self._listener is not None and not self._listener.is_closed()

    def server_pid(self) -> int | None:
        return None if self._listener is None else self._listener.get_server_pid()

    async def open(
        self,
        pool: asyncpg.Pool[asyncpg.Record],
        receive: Callable[[bytes | str], None],
        reconnected: Callable[[], None],
        lost: Callable[[], None],
    ) -> None:
        # PostgreSQL queues notifications for a slow listener instead of dropping
        # them, so ``lost`` never applies here.
        self._pool = pool
        self._receive = receive
        self._reconnected = reconnected
        await self._listen()
        self._watcher = asyncio.create_task(self._watch(), name="chatview-hub-listen")

    async def _listen(self) -> None:
        import asyncpg

        self._lost.clear()
        connection = await asyncpg.connect(self._dsn)
        try:
            connection.add_termination_listener(self._on_terminated)
            await connection.add_listener(self._channel, self._on_notification)
        except BaseException:
            connection.terminate()
            raise
        self._listener = connection

    def _on_notification(self, connection: Any, pid: int, channel: str, payload: object) -> None:
        self._receive(str(payload))

    def _on_terminated(self, connection: Any) -> None:
        self._lost.set()

    async def _watch(self) -> None:
        while True:
            await self._wait_for_loss()
            _logger.warning("hub.backend.listen_lost", backend=self.kind)
            if self._listener is not None:
                self._listener.terminate()
                self._listener = None
            await self._reconnect()
            self._reconnected()

    async def _wait_for_loss(self) -> None:
        """Return once the listening connection is gone or stops answering."""
        while True:
            try:
                async with asyncio.timeout(self._keepalive_interval):
                    await self._lost.wait()
            except TimeoutError:
                pass
            else:
                return
            listener = self._listener
            if listener is None or listener.is_closed():
                return
            try:
                async with asyncio.timeout(self._keepalive_interval):
                    await listener.execute("SELECT 1")
            except Exception:
                return

    async def _reconnect(self) -> None:
        backoff = Backoff()
        while True:
            try:
                await self._listen()
            except Exception as exc:
                delay = backoff.next_delay()
                _logger.warning(
                    "hub.backend.reconnect_failed",
                    backend=self.kind,
                    attempt=backoff.attempts,
                    error=type(exc).__name__,
                    retry_in=round(delay, 3),
                )
                await asyncio.sleep(delay)
            else:
                return

    async def send(self, messages: list[bytes]) -> None:
        assert self._pool is not None
        await self._pool.execute(_NOTIFY_MANY, self._channel, [m.decode("ascii") for m in messages])

    async def send_in_transaction(self, db: Db, messages: list[bytes]) -> None:
        # NOTIFY is transactional: delivered at the commit, dropped at a rollback.
        await db.execute(_NOTIFY_MANY, self._channel, [m.decode("ascii") for m in messages])

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
            self._watcher = None
        listener, self._listener = self._listener, None
        if listener is not None and not listener.is_closed():
            try:
                async with asyncio.timeout(2.0):
                    await listener.close()
            except Exception:
                listener.terminate()


def _ignore(data: bytes | str) -> None:
    """Stands in for the receive callback until ``open``."""


def _nothing() -> None:
    """Stands in for the reconnected callback until ``open``."""
