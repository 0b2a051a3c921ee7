"""What every cross-process backend shares, whatever carries its messages.

A ``ClusterBackend`` implements ``HubBackend`` for a hub in one of several server
processes. A transport (PostgreSQL NOTIFY, NATS) carries messages between the
processes. The ledger (PostgreSQL tables) contains the shared presence state and the
messages too large for the transport.

Tasks, each the only writer of its part of the state:

* the sender takes the outgoing queue in batches and hands them to the transport;
* the receiver handles incoming messages one at a time, in arrival order, so a
  large message read back from the database does not overtake a later small one;
* the presence task owns the ledger: it writes this process's online users, beats
  the heartbeat, declares silent processes dead and reloads the presence mirror.

Invariants:

1. The hub's calls are synchronous. Local connections get the event at once, and a
   message for the other processes is queued; nothing is dropped without the
   connections concerned being ended so that their clients catch up.
2. ``_local_online`` is exactly the set of users with a connection in this process,
   kept from the hub's presence announcements; ``_in_ledger`` is the set of users
   this process's rows in ``hub_presence`` list. The presence task moves the second
   towards the first.
3. ``change_presence`` is called in the one process whose transaction moved a user's
   process count between zero and non-zero (see ``_ledger``), so every global
   transition reaches the hub's presence listener once in the whole cluster.
4. The mirror contains each user's last known global state with its version and takes
   a change only if its version is newer, so the order in which presence messages
   arrive does not matter.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import itertools
import random
import time
import uuid
from collections.abc import Callable, Collection, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Protocol, Self, TypeVar

import structlog

from ._backend import LocalDispatcher
from ._errors import BackendBindingError, BackendStateError, BackendUnavailableError
from ._ledger import InTransaction, Ledger, ProcessReapedError, Transition, plain_dsn
from ._values import BackendStatistics, CloseReason, EventCodec, PresenceChange
from ._wire import Kind, Message, WireFormatError

if TYPE_CHECKING:
    import asyncpg

    from ._ledger import Db

__all__ = ["DEFAULT_HEAL_INTERVAL", "Backoff", "ClusterBackend", "Transport"]

EventT = TypeVar("EventT")

_logger = structlog.get_logger("chatview_hub")

DEFAULT_HEAL_INTERVAL = 30.0
"""Seconds without a heartbeat after which a process is declared dead."""

# Messages per transport call, and users per ledger transaction: large enough to
# amortize a round trip, small enough to keep one transaction short.
_SEND_BATCH = 256
_PRESENCE_BATCH = 500

_RETRY_FIRST_DELAY = 0.05
_RETRY_MAX_DELAY = 5.0


class Transport(Protocol):
    """Carries encoded messages between processes; implemented per message bus."""

    kind: str
    """A short name for logs: ``"postgres"`` or ``"nats"``."""

    sends_in_transaction: bool
    """True if ``send_in_transaction`` works, so presence messages leave with the
    ledger transaction's commit and never for a transaction that rolled back."""

    @property
    def max_message_size(self) -> int:
        """The largest message in bytes that ``send`` accepts."""
        ...

    @property
    def connected(self) -> bool:
        """True while messages from the other processes arrive."""
        ...

    async def open(
        self,
        pool: asyncpg.Pool[asyncpg.Record],
        receive: Callable[[bytes | str], None],
        reconnected: Callable[[], None],
        lost: Callable[[], None],
    ) -> None:
        """Connect and start receiving. Raise if the first connection fails.

        Args:
            pool: The ledger's pool, which a transport may also send through.
            receive: Called with every message, in arrival order; never blocks.
            reconnected: Called after the receiving link came back from a loss.
            lost: Called when messages may have been lost while connected.
        """
        ...

    async def send(self, messages: list[bytes]) -> None:
        """Send messages in order; raise if they may not have been sent."""
        ...

    async def send_in_transaction(self, db: Db, messages: list[bytes]) -> None:
        """Send within the ledger transaction ``db``, delivered if it commits."""
        ...

    async def close(self) -> None:
        """Stop receiving and release the connections."""
        ...


class _State(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


class Backoff:
    """Growing, jittered delays between retries; reset after a success."""

    def __init__(self) -> None:
        self.attempts = 0

    def next_delay(self) -> float:
        delay = min(_RETRY_MAX_DELAY, _RETRY_FIRST_DELAY * 2.0**self.attempts)
        self.attempts += 1
        # Jitter spreads the retries of processes that failed together.
        return delay * (0.5 + random.random() / 2)  # noqa: S311 - not for security

    def reset(self) -> None:
        self.attempts = 0


class ClusterBackend(Generic[EventT]):
    """The shared engine of ``PostgresBackend`` and ``NatsBackend``.

    Subclasses provide the transport and the presence database's DSN.
    """

    def __init__(
        self,
        *,
        transport: Transport,
        presence_dsn: str,
        codec: EventCodec[EventT],
        heal_interval: float,
        heartbeat_interval: float | None,
        max_pending: int,
        max_incoming: int,
        payload_retention: float,
        create_tables: bool,
    ) -> None:
        if heal_interval <= 0:
            msg = f"invalid heal_interval {heal_interval!r}: expected a positive number of seconds"
            raise ValueError(msg)
        if heartbeat_interval is None:
            heartbeat_interval = heal_interval / 3
        if not 0 < heartbeat_interval < heal_interval:
            msg = (
                f"invalid heartbeat_interval {heartbeat_interval!r}: expected more than 0 and "
                f"less than heal_interval ({heal_interval!r}), a third of it is usual"
            )
            raise ValueError(msg)
        for name, value in (("max_pending", max_pending), ("max_incoming", max_incoming)):
            if value < 1:
                msg = f"invalid {name} {value!r}: expected at least 1"
                raise ValueError(msg)

        self._transport = transport
        self._dsn = plain_dsn(presence_dsn)
        self._codec = codec
        self._heal_interval = heal_interval
        self._heartbeat_interval = heartbeat_interval
        self._max_pending = max_pending
        self._max_incoming = max_incoming
        self._payload_retention = payload_retention
        self._create_tables = create_tables

        self._process_id = uuid.uuid4().hex
        self._state = _State.NEW
        self._local: LocalDispatcher[EventT] | None = None
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._ledger: Ledger | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._numbers = itertools.count(1)

        self._outgoing: collections.deque[Message] = collections.deque()
        self._outgoing_ready = asyncio.Event()
        self._sending = False
        # Set whenever a queue or the ledger moves, for flush() to re-check.
        self._progress = asyncio.Event()
        self._must_catch_up = False
        self._incoming: collections.deque[bytes | str] = collections.deque()
        self._incoming_ready = asyncio.Event()

        self._local_online: set[str] = set()
        self._in_ledger: set[str] = set()
        self._presence_wake = asyncio.Event()
        self._presence_busy = False
        self._reload_mirror = False
        self._mirror_online: set[str] = set()
        self._mirror_versions: dict[str, int] = {}

        self._messages_sent = 0
        self._messages_received = 0
        self._payloads_stored = 0
        self._reconnects = 0
        self._catch_ups = 0
        self._send_failures = 0
        self._messages_dropped = 0

    # -- lifecycle --------------------------------------------------------------------

    @property
    def process_id(self) -> str:
        """This process's random id, in the shared tables and on the wire."""
        return self._process_id

    async def start(self) -> None:
        """Connect, create the tables if asked, register this process, start the tasks.

        Raises:
            BackendUnavailableError: The database or the message bus could not be
                reached; the cause is chained. Nothing is left running.
            BackendStateError: The backend was started before.
        """
        if self._state is not _State.NEW:
            msg = f"this {type(self).__name__} was started before; make a new one"
            raise BackendStateError(msg)
        import asyncpg

        self._state = _State.RUNNING
        try:
            self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=4)
            self._ledger = Ledger(self._pool)
            if self._create_tables:
                await self._ledger.create_tables()
            await self._ledger.register(self._process_id)
            await self._transport.open(
                self._pool, self._receive, self._on_reconnected, self._on_messages_lost
            )
            await self._load_mirror()
        except Exception as exc:
            await self._release()
            self._state = _State.STOPPED
            msg = (
                f"{type(self).__name__} could not start: {type(exc).__name__}: {exc}; "
                "check that the database (and the message bus) is running and reachable"
            )
            raise BackendUnavailableError(msg) from exc

        self._tasks = [
            asyncio.create_task(self._send_loop(), name="chatview-hub-send"),
            asyncio.create_task(self._receive_loop(), name="chatview-hub-receive"),
            asyncio.create_task(self._presence_loop(), name="chatview-hub-presence"),
        ]
        _logger.info(
            "hub.backend.started",
            backend=self._transport.kind,
            process_id=self._process_id,
            heal_interval=self._heal_interval,
        )

    async def flush(self) -> None:
        """Wait until every queued message is sent and the ledger has this process's presence.

        Waits as long as the database or the bus is unreachable; bound it with
        ``asyncio.timeout`` where that matters.
        """
        self._check_running("flush")
        await self._flushed()

    async def _flushed(self) -> None:
        while (
            self._outgoing
            or self._sending
            or self._presence_busy
            or self._in_ledger != self._local_online
        ):
            self._progress.clear()
            await self._progress.wait()

    async def stop(self, *, grace: float = 10.0) -> None:
        """Send what is queued, remove this process from the ledger, end every task.

        Users online only here go offline cluster-wide, reported to this hub's
        presence listener. Close the hub first so that its connections end with
        ``"server_shutdown"``. Idempotent.

        Args:
            grace: Seconds to wait for queued messages and the ledger before giving
                up on them.
        """
        if self._state is _State.NEW:
            self._state = _State.STOPPED
            return
        if self._state is not _State.RUNNING:
            return
        self._state = _State.STOPPING
        deadline = time.monotonic() + grace

        # 1. Let the queues and the ledger catch up with the hub.
        try:
            async with asyncio.timeout(grace):
                await self._flushed()
        except TimeoutError:
            _logger.warning(
                "hub.backend.stop_timed_out", backend=self._transport.kind, step="flush"
            )

        # 2. Leave the ledger. The presence task is stopped first so it cannot write
        # this process's rows again behind the removal.
        await self._cancel(self._tasks[-1:])
        try:
            # Leaving the ledger gets a moment even when flushing took all the grace:
            # otherwise the others wait a heal interval to see these users offline.
            async with asyncio.timeout(max(2.0, deadline - time.monotonic())):
                assert self._ledger is not None
                transitions = await self._ledger.unregister(self._process_id, self._in_transaction)
            self._in_ledger.clear()
            self._report(transitions)
        except Exception as exc:
            # The others declare this process dead after the heal interval instead.
            _logger.warning(
                "hub.backend.unregister_failed",
                backend=self._transport.kind,
                error=type(exc).__name__,
            )

        # 3. Send the last messages, then end the rest.
        try:
            async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                while self._outgoing or self._sending:
                    self._progress.clear()
                    await self._progress.wait()
        except TimeoutError:
            _logger.warning(
                "hub.backend.stop_timed_out",
                backend=self._transport.kind,
                step="send",
                unsent=len(self._outgoing),
            )
        await self._cancel(self._tasks)
        self._tasks = []
        await self._release()
        self._state = _State.STOPPED
        _logger.info(
            "hub.backend.stopped", backend=self._transport.kind, process_id=self._process_id
        )

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def statistics(self) -> BackendStatistics:
        """Return a snapshot of the backend's counters."""
        return BackendStatistics(
            process_id=self._process_id,
            connected=self._state is _State.RUNNING and self._transport.connected,
            messages_sent=self._messages_sent,
            messages_received=self._messages_received,
            payloads_stored=self._payloads_stored,
            pending=len(self._outgoing),
            reconnects=self._reconnects,
            catch_ups=self._catch_ups,
            send_failures=self._send_failures,
            messages_dropped=self._messages_dropped,
        )

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self._state.value} process_id={self._process_id} "
            f"pending={len(self._outgoing)}>"
        )

    async def _release(self) -> None:
        try:
            await self._transport.close()
        finally:
            pool, self._pool = self._pool, None
            if pool is not None:
                try:
                    # A graceful close waits for the server, which may be gone.
                    async with asyncio.timeout(5.0):
                        await pool.close()
                except Exception:
                    pool.terminate()

    @staticmethod
    async def _cancel(tasks: Iterable[asyncio.Task[None]]) -> None:
        pending = [task for task in tasks if not task.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _check_running(self, operation: str) -> None:
        if self._state is not _State.RUNNING:
            msg = (
                f"cannot {operation}: this {type(self).__name__} is {self._state.value}; "
                "await start() first"
            )
            raise BackendStateError(msg)

    # -- HubBackend -------------------------------------------------------------------

    def bind(self, local: LocalDispatcher[EventT]) -> None:
        """Attach the hub's dispatcher. A hub calls this once, when it is made.

        Raises:
            BackendBindingError: The backend is already bound to a hub.
        """
        if self._local is not None:
            msg = (
                f"this {type(self).__name__} is already bound to a hub; "
                "give each hub its own backend"
            )
            raise BackendBindingError(msg)
        self._local = local

    def publish(
        self,
        users: Collection[str],
        event: EventT,
        *,
        exclude_connection: str | None,
        exclude_session: str | None,
    ) -> int:
        """Deliver here, and queue the event for the other processes."""
        reached = self._bound().deliver(
            users, event, exclude_connection=exclude_connection, exclude_session=exclude_session
        )
        if users:
            self._enqueue(
                Kind.PUBLISH,
                users=tuple(users),
                event=self._codec.encode(event),
                exclude_connection=exclude_connection,
                exclude_session=exclude_session,
            )
        return reached

    def broadcast(self, event: EventT) -> int:
        """Deliver here, and queue the event for the other processes."""
        reached = self._bound().deliver_all(event)
        self._enqueue(Kind.BROADCAST, event=self._codec.encode(event))
        return reached

    def publish_admins(self, event: EventT) -> int:
        """Deliver here, and queue the event for the other processes."""
        reached = self._bound().deliver_admins(event)
        self._enqueue(Kind.ADMINS, event=self._codec.encode(event))
        return reached

    def close_user(self, user: str, final_event: EventT | None, *, reason: str) -> int:
        """End the user's connections here, and queue the close for the others."""
        ended = self._bound().close_user(user, final_event, reason=reason)
        self._enqueue(
            Kind.CLOSE_USER,
            users=(user,),
            event=None if final_event is None else self._codec.encode(final_event),
            reason=str(reason),
        )
        return ended

    def close_session(self, session_id: str, final_event: EventT | None, *, reason: str) -> int:
        """End the session's connections here, and queue the close for the others."""
        ended = self._bound().close_session(session_id, final_event, reason=reason)
        self._enqueue(
            Kind.CLOSE_SESSION,
            session_id=session_id,
            event=None if final_event is None else self._codec.encode(final_event),
            reason=str(reason),
        )
        return ended

    def announce_presence(self, change: PresenceChange) -> None:
        """Note this process's transition; the presence task writes it to the ledger."""
        if change.online:
            self._local_online.add(change.user)
        else:
            self._local_online.discard(change.user)
        self._presence_wake.set()
        self._progress.set()

    # -- SharedPresence ---------------------------------------------------------------

    def is_online(self, user: str) -> bool:
        """Return whether ``user`` has a connection in any process."""
        return user in self._local_online or user in self._mirror_online

    def online_users(self) -> frozenset[str]:
        """Return the users with a connection in any process."""
        return frozenset(self._mirror_online.union(self._local_online))

    def online_count(self) -> int:
        """Return how many users have a connection in any process."""
        return len(self._mirror_online.union(self._local_online))

    def _bound(self) -> LocalDispatcher[EventT]:
        if self._local is None:
            msg = f"this {type(self).__name__} is not bound to a hub; pass it to Hub(backend=...)"
            raise BackendBindingError(msg)
        return self._local

    # -- sending ----------------------------------------------------------------------

    def _enqueue(self, kind: Kind, **fields: Any) -> None:
        message = Message(kind=kind, origin=self._process_id, number=next(self._numbers), **fields)
        if self._state in (_State.NEW, _State.RUNNING, _State.STOPPING):
            self._queue(message)
            return
        # Stopped: no process will hear it, and the local connections got it already.
        _logger.warning("hub.backend.message_unsent", backend=self._transport.kind, kind=str(kind))

    def _queue(self, message: Message) -> None:
        if len(self._outgoing) >= self._max_pending:
            # The others would miss these messages; they end all their connections
            # instead, once the catch-up message gets through.
            dropped = len(self._outgoing)
            self._outgoing.clear()
            self._messages_dropped += dropped
            self._must_catch_up = True
            _logger.error(
                "hub.backend.send_overflowed",
                backend=self._transport.kind,
                dropped=dropped,
                max_pending=self._max_pending,
            )
        self._outgoing.append(message)
        self._outgoing_ready.set()

    async def _send_loop(self) -> None:
        backoff = Backoff()
        while True:
            if not self._outgoing and not self._must_catch_up:
                self._outgoing_ready.clear()
                await self._outgoing_ready.wait()
                continue
            batch = [self._outgoing.popleft() for _ in range(min(_SEND_BATCH, len(self._outgoing)))]
            catch_up = self._must_catch_up
            if catch_up:
                batch.insert(0, Message(Kind.CATCH_UP, self._process_id, next(self._numbers)))
            self._sending = True
            try:
                await self._send_batch(batch)
            except Exception as exc:
                self._send_failures += 1
                delay = backoff.next_delay()
                _logger.warning(
                    "hub.backend.send_failed",
                    backend=self._transport.kind,
                    messages=len(batch),
                    error=type(exc).__name__,
                    retry_in=round(delay, 3),
                )
                # Back at the front, in order; the catch-up message is made anew.
                self._outgoing.extendleft(reversed(batch[1:] if catch_up else batch))
                await asyncio.sleep(delay)
                continue
            finally:
                self._sending = False
                self._progress.set()
            if catch_up:
                self._must_catch_up = False
            backoff.reset()

    async def _send_batch(self, batch: list[Message]) -> None:
        assert self._ledger is not None
        limit = self._transport.max_message_size
        encoded: list[bytes] = []
        for message in batch:
            data = message.to_bytes()
            if len(data) > limit:
                # Too large for the transport: send where to read it instead.
                payload_id = await self._ledger.store_payload(data)
                self._payloads_stored += 1
                _logger.debug(
                    "hub.backend.payload_stored",
                    backend=self._transport.kind,
                    size=len(data),
                    payload_id=payload_id,
                )
                data = Message(
                    Kind.REFERENCE, self._process_id, message.number, payload_id=payload_id
                ).to_bytes()
            encoded.append(data)
        await self._transport.send(encoded)
        self._messages_sent += len(encoded)

    @property
    def _in_transaction(self) -> InTransaction | None:
        if self._transport.sends_in_transaction:
            return self._send_in_transaction
        return None

    async def _send_in_transaction(self, db: Db, transitions: list[Transition]) -> None:
        messages = [self._presence_message(transition).to_bytes() for transition in transitions]
        await self._transport.send_in_transaction(db, messages)
        self._messages_sent += len(messages)

    def _presence_message(self, transition: Transition) -> Message:
        return Message(
            Kind.PRESENCE,
            self._process_id,
            next(self._numbers),
            users=(transition.user,),
            online=transition.online,
            version=transition.version,
        )

    # -- receiving --------------------------------------------------------------------

    def _receive(self, data: bytes | str) -> None:
        if len(self._incoming) >= self._max_incoming:
            dropped = len(self._incoming)
            self._incoming.clear()
            self._messages_dropped += dropped
            _logger.error(
                "hub.backend.receive_overflowed",
                backend=self._transport.kind,
                dropped=dropped,
                max_incoming=self._max_incoming,
            )
            self._catch_up(None, CloseReason.EVENTS_MISSED)
        self._incoming.append(data)
        self._incoming_ready.set()

    def _on_reconnected(self) -> None:
        # Whatever the others sent while the link was down is lost; the database is
        # the truth, so every client here catches up from it. Done now rather than
        # at the loss, so that clients reconnecting meanwhile are covered as well.
        self._reconnects += 1
        _logger.warning("hub.backend.reconnected", backend=self._transport.kind)
        self._catch_up(None, CloseReason.BACKEND_RECONNECTED)
        self._reload_mirror = True
        self._presence_wake.set()

    def _on_messages_lost(self) -> None:
        _logger.error("hub.backend.messages_lost", backend=self._transport.kind)
        self._catch_up(None, CloseReason.EVENTS_MISSED)

    async def _receive_loop(self) -> None:
        while True:
            if not self._incoming:
                self._incoming_ready.clear()
                await self._incoming_ready.wait()
                continue
            data = self._incoming.popleft()
            try:
                await self._handle(data)
            except Exception:
                # A bug in a dispatcher must not end the receiving for good.
                _logger.exception("hub.backend.receive_failed", backend=self._transport.kind)

    async def _handle(self, data: bytes | str) -> None:
        try:
            message = Message.from_bytes(data)
        except WireFormatError as exc:
            # Nobody to end connections for: the targets are in the unreadable part.
            _logger.error(
                "hub.backend.message_invalid", backend=self._transport.kind, error=str(exc)
            )
            return
        if message.origin == self._process_id:
            return
        if message.kind is Kind.REFERENCE:
            loaded = await self._load_reference(message)
            if loaded is None:
                return
            message = loaded
        self._messages_received += 1
        self._dispatch(message)

    async def _load_reference(self, reference: Message) -> Message | None:
        assert self._ledger is not None
        assert reference.payload_id is not None
        try:
            body = await self._ledger.fetch_payload(reference.payload_id)
        except Exception as exc:
            body = None
            error = type(exc).__name__
        else:
            error = "deleted"
        if body is not None:
            try:
                return Message.from_bytes(body)
            except WireFormatError:
                error = "invalid"
        # Whom it was meant for is in the payload, so every local client catches up.
        _logger.error(
            "hub.backend.payload_missing",
            backend=self._transport.kind,
            payload_id=reference.payload_id,
            error=error,
        )
        self._catch_up(None, CloseReason.EVENTS_MISSED)
        return None

    def _dispatch(self, message: Message) -> None:
        kind = message.kind
        if kind is Kind.PRESENCE:
            assert message.online is not None
            assert message.version is not None
            self._apply_presence(message.users[0], message.online, message.version)
            return
        if kind is Kind.CATCH_UP:
            self._catch_up(None, CloseReason.EVENTS_MISSED)
            return
        local = self._local
        if local is None:
            return

        event: EventT | None = None
        if message.event is not None:
            try:
                event = self._codec.decode(message.event)
            except Exception as exc:
                _logger.error(
                    "hub.backend.event_undecodable",
                    backend=self._transport.kind,
                    kind=str(kind),
                    error=type(exc).__name__,
                )
                targeted = kind in (Kind.PUBLISH, Kind.CLOSE_USER)
                self._catch_up(message.users if targeted else None, CloseReason.EVENTS_MISSED)
                return

        if kind is Kind.PUBLISH:
            assert event is not None
            local.deliver(
                message.users,
                event,
                exclude_connection=message.exclude_connection,
                exclude_session=message.exclude_session,
            )
        elif kind is Kind.BROADCAST:
            assert event is not None
            local.deliver_all(event)
        elif kind is Kind.ADMINS:
            assert event is not None
            local.deliver_admins(event)
        elif kind is Kind.CLOSE_USER:
            assert message.reason is not None
            local.close_user(message.users[0], event, reason=message.reason)
        elif kind is Kind.CLOSE_SESSION:
            assert message.session_id is not None
            assert message.reason is not None
            local.close_session(message.session_id, event, reason=message.reason)

    def _catch_up(self, users: Iterable[str] | None, reason: str) -> None:
        """End local connections (of ``users``, or all) so their clients catch up."""
        local = self._local
        if local is None:
            return
        targets = list(self._local_online) if users is None else list(users)
        ended = sum(local.close_user(user, None, reason=reason) for user in targets)
        self._catch_ups += 1
        _logger.warning(
            "hub.backend.catch_up",
            backend=self._transport.kind,
            reason=str(reason),
            scope="all" if users is None else "users",
            connections_ended=ended,
        )

    # -- presence ---------------------------------------------------------------------

    def _apply_presence(self, user: str, online: bool, version: int) -> None:
        if version <= self._mirror_versions.get(user, 0):
            return
        self._mirror_versions[user] = version
        if online:
            self._mirror_online.add(user)
        else:
            self._mirror_online.discard(user)

    def _report(self, transitions: list[Transition]) -> None:
        """Take committed transitions: mirror them, tell the hub, and tell the others."""
        local = self._local
        for transition in transitions:
            self._apply_presence(transition.user, transition.online, transition.version)
            if not self._transport.sends_in_transaction:
                # XXX: sent after the commit, so a crash in between leaves the other
                # processes' mirrors stale for this user until its next change or their
                # next reconnect; a periodic mirror reload would bound that.
                self._queue(self._presence_message(transition))
            if local is not None:
                local.change_presence(
                    PresenceChange(user=transition.user, online=transition.online)
                )

    async def _load_mirror(self) -> None:
        assert self._ledger is not None
        for user, online, version in await self._ledger.snapshot():
            self._apply_presence(user, online, version)

    async def _presence_loop(self) -> None:
        assert self._ledger is not None
        ledger = self._ledger
        backoff = Backoff()
        loop = asyncio.get_running_loop()
        next_heartbeat = loop.time() + self._heartbeat_interval
        next_prune = loop.time()
        while True:
            in_sync = self._in_ledger == self._local_online and not self._reload_mirror
            if in_sync:
                try:
                    async with asyncio.timeout(max(0.0, next_heartbeat - loop.time())):
                        await self._presence_wake.wait()
                except TimeoutError:
                    pass
            self._presence_wake.clear()

            self._presence_busy = True
            try:
                if self._reload_mirror:
                    self._reload_mirror = False
                    await self._load_mirror()
                if loop.time() >= next_heartbeat:
                    await self._heartbeat(ledger)
                    next_heartbeat = loop.time() + self._heartbeat_interval
                await self._write_presence(ledger)
                if loop.time() >= next_prune:
                    await ledger.prune_payloads(self._payload_retention)
                    next_prune = loop.time() + self._payload_retention / 2
            except ProcessReapedError:
                try:
                    await self._register_again(ledger)
                except Exception as exc:
                    await self._presence_failed(exc, backoff)
            except Exception as exc:
                await self._presence_failed(exc, backoff)
            else:
                backoff.reset()
            finally:
                self._presence_busy = False
                self._progress.set()

    async def _presence_failed(self, exc: Exception, backoff: Backoff) -> None:
        delay = backoff.next_delay()
        _logger.warning(
            "hub.backend.presence_failed",
            backend=self._transport.kind,
            error=type(exc).__name__,
            retry_in=round(delay, 3),
        )
        await asyncio.sleep(delay)

    async def _heartbeat(self, ledger: Ledger) -> None:
        await ledger.heartbeat(self._process_id)
        dead, transitions = await ledger.reap(
            self._process_id, self._heal_interval, self._in_transaction
        )
        if dead:
            _logger.warning(
                "hub.backend.processes_reaped",
                backend=self._transport.kind,
                processes=len(dead),
                users_offline=len(transitions),
            )
        self._report(transitions)

    async def _write_presence(self, ledger: Ledger) -> None:
        while True:
            add = sorted(self._local_online - self._in_ledger)[:_PRESENCE_BATCH]
            remove = sorted(self._in_ledger - self._local_online)[:_PRESENCE_BATCH]
            if not add and not remove:
                return
            transitions = await ledger.update(self._process_id, add, remove, self._in_transaction)
            self._in_ledger.update(add)
            self._in_ledger.difference_update(remove)
            self._report(transitions)

    async def _register_again(self, ledger: Ledger) -> None:
        # Declared dead while alive (paused, or cut off from the database longer than
        # the heal interval): the others reported this process's users offline, so
        # register anew and let the presence task add every local user again.
        _logger.warning(
            "hub.backend.registered_again",
            backend=self._transport.kind,
            process_id=self._process_id,
            users=len(self._local_online),
        )
        self._in_ledger.clear()
        await ledger.register(self._process_id)
