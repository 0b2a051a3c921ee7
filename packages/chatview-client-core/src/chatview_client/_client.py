"""`ChatClient`: one logged-in identity, its cache, its outbox and its event stream.

Theory of operation. Opening a client opens the identity's cache file and starts one
runner task that owns an `asyncio.TaskGroup` with four tasks:

- the connection loop logs in (challenge signature), opens the Subscribe stream,
  applies live events to the cache, and reconnects with capped, jittered backoff;
- the sync loop runs catch-up after every (re)connect and the history fetches that the
  `SyncPlanner` asks for (a gap in `server_seq`, a hint without a message);
- the outbox loop gets the next action from the `OutboxMachine` and sends;
- the listener loop calls application callbacks, so a slow callback delays no protocol
  work.

The state machines decide; these loops only carry out decisions with gRPC and SQLite.
Cache writes and planner updates happen together under one lock, so the planner's view
and the cache never disagree. Closing cancels the runner, which cancels and awaits every
task, then closes the channel and the cache file: nothing outlives `close`.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import math
import random
import secrets
import socket
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import structlog

from chatview_identity import (
    InvalidChallengeError,
    KeyPair,
    PublicKey,
    check_challenge,
    parse_public_key,
    sign_challenge,
)

from ._backoff import Backoff
from ._cache import Cache, StoreOutcome, StoreResult
from ._config import ClientConfig
from ._errors import (
    ClientStateError,
    ConnectionFailedError,
    DeadlineExceededError,
    OutboxItemNotFoundError,
    PermissionDeniedError,
    RpcError,
    ServerProtocolError,
    SessionEndedError,
    UnauthenticatedError,
    UnavailableError,
    UnimplementedError,
)
from ._events import (
    AdminUpdated,
    BroadcastReceived,
    ConnectionStateChanged,
    ConversationChanged,
    Event,
    ForcedOffline,
    FriendStatusChanged,
    MessageStateChanged,
    NewMessage,
    OutboxChanged,
)
from ._outbox import OutboxMachine, SendNow, classify_failure
from ._rpc import LiveMessage, ReadCursorMoved, Rpc
from ._sealing import Sealer
from ._sync import Fetch, FetchLatest, SyncPlanner, page_is_complete
from ._text import check_message_text
from ._uuid7 import uuid7
from ._values import (
    AdminOverview,
    ConnectionState,
    Friend,
    Message,
    MessageState,
    OutboxEntry,
    OutboxState,
    SessionInfo,
)

__all__ = ["ChatClient", "EventStream", "Listener"]

_log = structlog.get_logger(__name__)
_T = TypeVar("_T")

Listener = Callable[[Event], Awaitable[None] | None]
"""An event callback: a plain function, or an async one (awaited in order)."""

HISTORY_PAGE: Final = 100
"""Messages per GetMessageHistory call during catch-up (the server's maximum)."""
CHANGES_PAGE: Final = 100
"""Conversations per ListChangedConversations call."""
_EVENT_BUFFER: Final = 10_000
# How long a fresh stream may stay silent before it counts as established; servers that
# send response headers at once are recognized sooner.
_STREAM_READY_GRACE: Final = 0.5
_BANNED: Final = "account_banned"
# Cache meta key: the newest system broadcast id this identity has seen.
_LAST_BROADCAST: Final = "last_broadcast_id"


class _End:
    """Marks the end of an event stream."""


_END: Final = _End()


class EventStream:
    """An async iterator over the client's events from the moment it was made.

    Made by `ChatClient.events`; ends when the client closes or `close` is called. Each
    stream buffers up to `maxsize` events; past that, new events are dropped for it
    (and a ``client.events.dropped`` warning is logged), never blocking the client.
    """

    def __init__(self, client: ChatClient, maxsize: int) -> None:
        self._client = client
        self._queue: asyncio.Queue[Event | _End] = asyncio.Queue(maxsize)
        self._ended = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        if self._ended and self._queue.empty():
            raise StopAsyncIteration
        item = await self._queue.get()
        if isinstance(item, _End):
            self._ended = True
            raise StopAsyncIteration
        return item

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop receiving events; iteration ends after the buffered ones."""
        self._client._streams.discard(self)
        self._end()

    def _put(self, event: Event) -> None:
        if self._ended:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            _log.warning("client.events.dropped", event=type(event).__name__)

    def _end(self) -> None:
        if self._ended:
            return
        self._ended = True
        # Room is made so that the end marker always fits.
        while self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(_END)


def _canonical(key: str | PublicKey) -> str:
    if isinstance(key, PublicKey):
        return key.hex
    return parse_public_key(key).hex


class ChatClient:
    """A ChatView client for one unlocked identity.

    Use it as an async context manager::

        async with ChatClient(config, keypair) as client:
            await client.wait_online(timeout=10)
            await client.send_message(peer, "hello")
            async for event in client.events():
                ...

    Opening needs no server: the client works from its cache and queues messages
    while offline, and connects in the background. Everything it starts belongs to
    the client and ends with `close` (or `logout`).

    Args:
        config: where the server and the data folder are.
        keypair: the unlocked identity; it stays in memory only.
        client_id: this device's name; defaults to `config.client_id`, else a name made
            once per cache file.
        rng: randomness for backoff jitter; tests pass a seeded one.
        subscribe_events: open the server's event stream (the default). Without it the
            client only logs in: it sends, reads and catches up when asked, but gets no
            live events, and friends do not see it come online. For short-lived
            programs, such as one command, that should not show up as online.
    """

    def __init__(
        self,
        config: ClientConfig,
        keypair: KeyPair,
        *,
        client_id: str | None = None,
        rng: random.Random | None = None,
        subscribe_events: bool = True,
    ) -> None:
        self._config = config
        self._subscribe_events = subscribe_events
        self._keypair = keypair
        self._me = keypair.public_key.hex
        self._sealer = Sealer(keypair)
        self._requested_client_id = client_id or config.client_id
        self._client_id = ""
        # Jitter needs no cryptographic randomness.
        self._rng = rng or random.Random()  # noqa: S311
        self._reconnect_backoff = Backoff(
            initial=min(config.retry_initial_delay, config.reconnect_max_delay),
            maximum=config.reconnect_max_delay,
        )
        self._send_backoff = Backoff(
            initial=min(config.retry_initial_delay, config.retry_max_delay),
            maximum=config.retry_max_delay,
        )

        self._cache: Cache | None = None
        self._rpc: Rpc | None = None
        self._outbox: OutboxMachine | None = None
        self._planner: SyncPlanner | None = None
        self._runner: asyncio.Task[None] | None = None
        self._opened = False
        self._closed = False

        self._state = ConnectionState.OFFLINE
        self._state_changed = asyncio.Event()
        self._last_error: BaseException | None = None
        self._ended: SessionEndedError | None = None
        self._crashed: BaseException | None = None
        self._session: SessionInfo | None = None

        self._lock = asyncio.Lock()  # cache writes together with planner updates
        self._login_lock = asyncio.Lock()
        self._catch_up_lock = asyncio.Lock()
        self._sync_queue: asyncio.Queue[Fetch | None] = asyncio.Queue()
        self._outbox_wake = asyncio.Event()
        # Serializes queueing, so concurrent sends take distinct outbox positions.
        self._queue_lock = asyncio.Lock()
        self._streams: set[EventStream] = set()
        self._listeners: list[Listener] = []
        self._listener_queue: asyncio.Queue[Event] = asyncio.Queue()
        self._failed_to_persist: list[OutboxEntry] = []
        # Peers whose capability this client asked the server about since it opened.
        self._capability_checked: set[str] = set()
        self._catch_up_requested = False

    # --- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the cache and start connecting in the background.

        Raises:
            ClientStateError: the client was opened before.
            CacheVersionError, CacheCorruptedError, CacheError: the cache file cannot
                be used; nothing was started.
            ConfigError: the TLS CA file cannot be read.
        """
        if self._opened:
            msg = "this ChatClient was already opened; make a new one to connect again"
            raise ClientStateError(msg)
        self._opened = True

        cache = await Cache.open(self._config.cache_path(self._me), owner=self._me)
        try:
            self._client_id = self._requested_client_id or await self._stored_client_id(cache)
            self._outbox = OutboxMachine(
                await cache.outbox_entries(),
                backoff=self._send_backoff,
                max_attempts=self._config.outbox_max_attempts,
            )
            self._planner = SyncPlanner(await cache.sync_state())
            self._rpc = Rpc(self._config, me=self._me)
            self._rpc.sealer = self._sealer
        except BaseException:
            await cache.close()
            raise
        self._cache = cache
        self._runner = asyncio.create_task(self._run(), name=f"chatview-client-{self._me[:8]}")
        _log.info(
            "client.opened",
            public_key=self._me[:8],
            target=self._config.grpc_target,
            client_id=self._client_id,
            outbox=len(self._outbox.entries),
        )

    @staticmethod
    async def _stored_client_id(cache: Cache) -> str:
        stored = await cache.get_meta("client_id")
        if stored:
            return stored
        made = f"{socket.gethostname()[:40]}-{secrets.token_hex(3)}"
        await cache.set_meta("client_id", made)
        return made

    async def close(self) -> None:
        """Stop every background task, then close the channel and the cache file.

        Idempotent. Messages still in the outbox stay there for the next session.
        """
        if self._closed or not self._opened:
            self._closed = True
            return
        self._closed = True
        try:
            await self._stop_runner()
        finally:
            # Cleanup runs even if the caller is being cancelled meanwhile.
            if self._rpc is not None:
                await asyncio.shield(self._rpc.close())
            if self._cache is not None:
                await asyncio.shield(self._cache.close())
            self._set_state(ConnectionState.OFFLINE, None)
            for stream in list(self._streams):
                stream._end()
            self._streams.clear()
            _log.info("client.closed", public_key=self._me[:8])

    async def _stop_runner(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None or runner.done():
            return
        runner.cancel()
        try:
            await runner
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise

    async def logout(self) -> None:
        """End the session on the server (best effort), then `close`.

        The server revokes this device's token; other devices stay logged in.
        """
        self._require_open()
        await self._stop_runner()
        rpc = self._rpc
        if rpc is not None and rpc.token is not None:
            try:
                await rpc.logout()
            except RpcError as exc:
                # Offline logout still ends everything here; the token then expires.
                _log.info("client.logout.unconfirmed", code=exc.code)
            rpc.token = None
        await self.close()

    async def _run(self) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._connection_loop(), name="chatview-connection")
                group.create_task(self._sync_loop(), name="chatview-sync")
                group.create_task(self._outbox_loop(), name="chatview-outbox")
                group.create_task(self._listener_loop(), name="chatview-listeners")
        except Exception as exc:
            # A failure here is a bug; keep it for callers, end the streams.
            self._crashed = exc
            _log.exception("client.crashed")
            self._set_state(ConnectionState.OFFLINE, f"client stopped: {exc!r}")
            for stream in list(self._streams):
                stream._end()

    def _require_open(self) -> None:
        if not self._opened:
            msg = "the ChatClient is not open; use it as 'async with ChatClient(...)'"
            raise ClientStateError(msg)
        if self._closed:
            msg = "the ChatClient is closed; make a new one to connect again"
            raise ClientStateError(msg)
        if self._crashed is not None:
            msg = f"the ChatClient stopped after an internal error: {self._crashed!r}"
            raise ClientStateError(msg) from self._crashed

    def _parts(self) -> tuple[Cache, Rpc, OutboxMachine, SyncPlanner]:
        # Background tasks use this while close() cancels them, so it does not check
        # whether the client is closed; public methods use _open_parts.
        assert self._cache is not None
        assert self._rpc is not None
        assert self._outbox is not None
        assert self._planner is not None
        return self._cache, self._rpc, self._outbox, self._planner

    def _open_parts(self) -> tuple[Cache, Rpc, OutboxMachine, SyncPlanner]:
        self._require_open()
        return self._parts()

    # --- state and events ------------------------------------------------------------

    @property
    def public_key(self) -> str:
        """This identity's key, canonical hex."""
        return self._me

    @property
    def client_id(self) -> str:
        """This device's name as sent to the server (known once open)."""
        return self._client_id

    @property
    def config(self) -> ClientConfig:
        """The configuration the client runs with."""
        return self._config

    @property
    def cache_path(self) -> Path:
        """The identity's SQLite cache file."""
        return self._config.cache_path(self._me)

    @property
    def cache_closed(self) -> bool:
        """Whether the cache file is closed (always after `close`)."""
        return self._cache is None or self._cache.closed

    @property
    def connection_state(self) -> ConnectionState:
        """Online, connecting or offline."""
        return self._state

    @property
    def session(self) -> SessionInfo | None:
        """The current session (role, expiry), or None before the first login."""
        return self._session

    @property
    def running(self) -> bool:
        """Whether background tasks are running."""
        return self._runner is not None and not self._runner.done()

    def events(self, *, maxsize: int = _EVENT_BUFFER) -> EventStream:
        """Return a new async iterator of every event from now on.

        Raises:
            ClientStateError: the client is closed.
        """
        self._require_open()
        stream = EventStream(self, maxsize)
        self._streams.add(stream)
        return stream

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every event, in order, from a background task.

        Exceptions from the listener are logged (``client.listener.failed``) and do not
        stop the client.

        Returns:
            A function that removes the listener.
        """
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def _emit(self, event: Event) -> None:
        for stream in list(self._streams):
            stream._put(event)
        if self._listeners:
            self._listener_queue.put_nowait(event)

    async def _listener_loop(self) -> None:
        while True:
            event = await self._listener_queue.get()
            for listener in list(self._listeners):
                try:
                    result = listener(event)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    _log.exception("client.listener.failed", event=type(event).__name__)

    def _set_state(self, state: ConnectionState, error: str | None) -> None:
        if state is self._state:
            return
        self._state = state
        _log.info("client.connection.changed", state=state.value, error=error)
        self._emit(ConnectionStateChanged(state, error))
        # Wake everyone waiting for a change; later waiters use a fresh event.
        self._state_changed.set()
        self._state_changed = asyncio.Event()

    async def wait_online(self, timeout: float | None = None) -> SessionInfo:  # noqa: ASYNC109
        """Wait until online: logged in, and the event stream open when subscribing.

        Args:
            timeout: seconds to wait; None waits as long as it takes.

        Returns:
            The session.

        Raises:
            ConnectionFailedError: not online within `timeout`; the last failure is the
                ``__cause__``.
            SessionEndedError: the server ended the session for good (banned account).
            ServerProtocolError: the server sent a challenge the client refuses to sign.
            ClientStateError: the client is closed.
        """
        self._require_open()
        try:
            async with asyncio.timeout(timeout):
                while True:
                    if self._ended is not None:
                        raise self._ended
                    if isinstance(self._last_error, ServerProtocolError):
                        raise self._last_error
                    if self._state is ConnectionState.ONLINE and self._session is not None:
                        return self._session
                    self._require_open()
                    await self._state_changed.wait()
        except TimeoutError:
            last = self._last_error
            detail = f": {last}" if last is not None else ""
            msg = (
                f"could not reach the ChatView server at {self._config.grpc_target} within "
                f"{timeout:g} s{detail}"
            )
            raise ConnectionFailedError(msg) from last

    # --- session ---------------------------------------------------------------------

    async def _login(self) -> str:
        """Challenge, check, sign, log in; returns the new token. Caller holds the lock."""
        _, rpc, _, _ = self._parts()
        challenge = await rpc.request_challenge()
        try:
            # The key signs nothing but a ChatView login challenge.
            check_challenge(challenge)
            signature = sign_challenge(self._keypair, challenge)
        except InvalidChallengeError as exc:
            msg = (
                f"the server at {self._config.grpc_target} sent a login challenge that is not "
                "a ChatView challenge; the client refuses to sign it"
            )
            raise ServerProtocolError(msg) from exc
        try:
            token, session = await rpc.login(signature, self._client_id)
        except PermissionDeniedError as exc:
            msg = f"the server refused the login of {self._me[:8]}: the account is banned"
            raise SessionEndedError(msg, reason=_BANNED) from exc
        rpc.token = token
        self._session = session
        _log.info("client.login.succeeded", public_key=self._me[:8], role=session.role.name.lower())
        return token

    async def _ensure_session(self) -> str:
        if self._ended is not None:
            raise self._ended
        _, rpc, _, _ = self._parts()
        async with self._login_lock:
            if rpc.token is not None:
                return rpc.token
            return await self._login()

    async def _relogin(self, stale: str | None) -> str:
        _, rpc, _, _ = self._parts()
        async with self._login_lock:
            if rpc.token is not None and rpc.token != stale:
                return rpc.token  # another task already logged in again
            rpc.token = None
            _log.info("client.login.expired", public_key=self._me[:8])
            return await self._login()

    async def _authed(self, call: Callable[[], Awaitable[_T]]) -> _T:
        """Run a call with a session, logging in again once if the token is refused."""
        token = await self._ensure_session()
        try:
            return await call()
        except UnauthenticatedError:
            await self._relogin(token)
            return await call()

    def _end_session(self, error: SessionEndedError) -> None:
        _, rpc, outbox, _ = self._parts()
        self._ended = error
        self._last_error = error
        rpc.token = None
        outbox.set_online(False)
        failed = outbox.fail_all(str(error))
        if failed:
            self._persist_failed_soon(failed)
        self._set_state(ConnectionState.OFFLINE, str(error))
        _log.warning("client.session.ended", reason=error.reason)

    def _persist_failed_soon(self, entries: Sequence[OutboxEntry]) -> None:
        # Called from the connection loop; the outbox loop persists and reports.
        self._failed_to_persist.extend(entries)
        self._outbox_wake.set()

    # --- connection loop -------------------------------------------------------------

    async def _connection_loop(self) -> None:
        cache, rpc, outbox, _ = self._parts()
        failures = 0
        while True:
            self._set_state(ConnectionState.CONNECTING, _describe(self._last_error))
            try:
                await self._ensure_session()
                if not self._subscribe_events:
                    # Logged in is online for such a client; calls that fail later
                    # are retried by whoever made them (the outbox, the sync loop).
                    self._go_online()
                    await asyncio.get_running_loop().create_future()  # until close
                seen = int(await cache.get_meta(_LAST_BROADCAST) or 0)
                call = rpc.subscribe(self._client_id, broadcasts_after=seen)
                try:
                    await self._read_stream(call)
                finally:
                    call.cancel()
                # The server ended the stream without an error (for example a restart).
                failures = 0
                self._last_error = None
            except SessionEndedError as exc:
                self._end_session(exc)
                return
            except ServerProtocolError as exc:
                self._last_error = exc
                self._set_state(ConnectionState.OFFLINE, str(exc))
                _log.error("client.login.refused_challenge", target=self._config.grpc_target)
                return
            except PermissionDeniedError as exc:
                # The stream ends with PERMISSION_DENIED only for a banned account.
                self._end_session(SessionEndedError(str(exc), reason=_BANNED))
                return
            except UnauthenticatedError as exc:
                self._last_error = exc
                rpc.token = None
                failures += 1
                if failures == 1:
                    continue  # expired session: log in again at once, once
            except RpcError as exc:
                self._last_error = exc
                failures += 1
            finally:
                outbox.set_online(False)
            if self._state is ConnectionState.ONLINE:
                self._set_state(ConnectionState.CONNECTING, _describe(self._last_error))
            delay = self._reconnect_backoff.delay(max(failures, 1), self._rng.random())
            _log.info(
                "client.connection.retrying",
                delay=round(delay, 3),
                failures=failures,
                error=_describe(self._last_error),
            )
            await asyncio.sleep(delay)

    async def _read_stream(self, call: Any) -> None:
        _, rpc, _, _ = self._parts()
        # The server sends response headers once the stream is registered, so events
        # published from then on reach it and catch-up can start. A server that sends
        # no early headers gets a short grace period instead.
        try:
            async with asyncio.timeout(_STREAM_READY_GRACE):
                await call.initial_metadata()
        except TimeoutError:
            pass
        if not call.done():
            self._go_online()
        async for event in rpc.read_events(call):
            await self._on_stream_event(event)

    def _go_online(self) -> None:
        if self._state is ConnectionState.ONLINE:
            return
        _, _, outbox, _ = self._parts()
        self._last_error = None
        self._set_state(ConnectionState.ONLINE, None)
        outbox.set_online(True)
        self._outbox_wake.set()
        self._request_catch_up()

    def _request_catch_up(self) -> None:
        # Requests made while one is queued need no second run.
        if not self._catch_up_requested:
            self._catch_up_requested = True
            self._sync_queue.put_nowait(None)  # None requests a catch-up

    async def _on_stream_event(self, event: object) -> None:
        cache, _, _, _ = self._parts()
        if isinstance(event, LiveMessage):
            await self._on_live_message(event)
        elif isinstance(event, FriendStatusChanged):
            await cache.set_online(event.public_key, event.is_online)
            self._emit(event)
        elif isinstance(event, ForcedOffline):
            self._emit(event)
            _log.warning("client.forced_offline", reason=event.reason)
            if event.reason == _BANNED:
                raise SessionEndedError(
                    f"the server ended the session of {self._me[:8]}: the account is banned",
                    reason=_BANNED,
                )
        elif isinstance(event, BroadcastReceived):
            await self._on_broadcast(event)
        elif isinstance(event, ReadCursorMoved):
            await cache.mark_read(event.peer, event.seq)
            await self._report_conversation(event.peer)
        elif isinstance(event, AdminUpdated):
            self._emit(event)

    async def _on_broadcast(self, event: BroadcastReceived) -> None:
        cache, _, _, _ = self._parts()
        if event.broadcast_id:
            # The server sends only newer ones; this guards against a server that
            # repeats itself. The id is stored before the event is emitted, so a
            # crash loses at most the display of one broadcast, never repeats it.
            # XXX: two broadcasts published out of id order on one live stream lose
            # the lower one here; the server does not publish them that way.
            seen = int(await cache.get_meta(_LAST_BROADCAST) or 0)
            if event.broadcast_id <= seen:
                return
            await cache.set_meta(_LAST_BROADCAST, str(event.broadcast_id))
        self._emit(event)

    async def _on_live_message(self, event: LiveMessage) -> None:
        cache, _, _, planner = self._parts()
        if event.message is None or event.message.server_seq is None:
            async with self._lock:
                fetch = planner.on_hint(event.peer)
        else:
            message = event.message
            assert message.server_seq is not None
            async with self._lock:
                results = await cache.store_server_messages([message])
                fetch = planner.on_message(event.peer, message.server_seq)
                await cache.set_synced(event.peer, planner.synced(event.peer))
            await self._report_stored(results)
        if fetch is not None:
            self._sync_queue.put_nowait(fetch)

    async def _report_stored(self, results: Sequence[StoreResult]) -> None:
        cache, _, outbox, _ = self._parts()
        changed: set[str] = set()
        for result in results:
            if result.outcome is StoreOutcome.INSERTED:
                self._emit(NewMessage(result.message))
                changed.add(result.message.peer)
            elif result.outcome is StoreOutcome.MATCHED:
                assert result.previous_state is not None
                self._emit(MessageStateChanged(result.message, result.previous_state))
                changed.add(result.message.peer)
                # The server has it, whatever the outbox still thinks: stop sending it.
                key = result.message.client_message_id
                entry = outbox.get(key) if key else None
                if entry is not None and entry.state is not OutboxState.SENDING:
                    outbox.delivered(entry.client_message_id)
                    await cache.discard_outbox_entry(entry.client_message_id)
                    self._emit(OutboxChanged(outbox.entries))
        for peer in changed:
            await self._report_conversation(peer)

    async def _report_conversation(self, peer: str) -> None:
        cache, _, _, _ = self._parts()
        friend = await cache.friend(peer)
        if friend is not None:
            self._emit(
                ConversationChanged(
                    peer=peer,
                    unread=friend.unread,
                    last_read_server_seq=friend.last_read_server_seq,
                    last_server_seq=friend.last_server_seq,
                )
            )

    # --- sync loop -------------------------------------------------------------------

    async def _sync_loop(self) -> None:
        while True:
            job = await self._sync_queue.get()
            try:
                if job is None:
                    self._catch_up_requested = False
                    await self._catch_up()
                else:
                    await self._run_fetch(job)
            except (RpcError, SessionEndedError, ServerProtocolError) as exc:
                # The next reconnect catches up again; nothing is lost meanwhile.
                _log.info("client.sync.failed", error=_describe(exc))

    async def catch_up(self) -> None:
        """Fetch everything that changed on the server since the last catch-up.

        The client does this by itself after every (re)connect; call it to be sure the
        cache is current at a given moment.

        Raises:
            RpcError: a call failed; the next catch-up starts from the same point.
        """
        self._open_parts()
        await self._catch_up()

    async def _catch_up(self) -> None:
        # Read cursors moved on other devices arrive live (conversation_read); this
        # also corrects them after an outage or against an older server.
        cache, rpc, _, planner = self._parts()
        async with self._catch_up_lock:
            since = int(await cache.get_meta("next_since") or 0)
            _log.debug("client.catch_up.started", since=since)
            try:
                while True:
                    page = await self._authed(
                        functools.partial(rpc.changed_conversations, since, CHANGES_PAGE)
                    )
                    for change in page.changes:
                        await cache.apply_change(
                            change.peer,
                            last_server_seq=change.last_server_seq,
                            last_read_seq=change.last_read_server_seq,
                            unread=change.unread,
                        )
                        async with self._lock:
                            fetch = planner.on_hint(change.peer, change.last_server_seq)
                        if fetch is not None:
                            await self._run_fetch(fetch)
                        await self._report_conversation(change.peer)
                    # Stored only after every change above was applied, so a failure
                    # part-way lists the same changes again next time.
                    since = page.next_since
                    await cache.set_meta("next_since", str(since))
                    if not page.has_more:
                        break
            except UnimplementedError:
                # A server without ListChangedConversations: ask about every contact.
                await self._catch_up_by_friends()
            _log.debug("client.catch_up.finished", next_since=since)

    async def _catch_up_by_friends(self) -> None:
        _, rpc, _, planner = self._parts()
        for friend in await self._authed(rpc.list_friends):
            async with self._lock:
                fetch = planner.on_hint(friend.public_key, friend.last_server_seq or None)
            if fetch is not None:
                await self._run_fetch(fetch)

    async def _run_fetch(self, fetch: Fetch | None) -> None:
        cache, rpc, _, planner = self._parts()
        while fetch is not None:
            current = fetch
            try:
                if isinstance(current, FetchLatest):
                    call = functools.partial(
                        rpc.history,
                        current.peer,
                        cursor=None,
                        limit=HISTORY_PAGE,
                        direction="older",
                    )
                else:
                    call = functools.partial(
                        rpc.history,
                        current.peer,
                        cursor=current.after,
                        limit=HISTORY_PAGE,
                        direction="newer",
                    )
                page = await self._authed(call)
            except BaseException:
                async with self._lock:
                    planner.on_fetch_failed(current)
                raise
            async with self._lock:
                results = await cache.store_server_messages(page.messages)
                fetch = planner.on_page(
                    current,
                    [message.server_seq for message in page.messages if message.server_seq],
                    has_more=page.has_more,
                )
                await cache.set_synced(current.peer, planner.synced(current.peer))
            await self._report_stored(results)

    # --- outbox loop -----------------------------------------------------------------

    async def _outbox_loop(self) -> None:
        cache, _, outbox, _ = self._parts()
        loop = asyncio.get_running_loop()
        while True:
            if self._failed_to_persist:
                failed, self._failed_to_persist = self._failed_to_persist, []
                for entry in failed:
                    message = await cache.update_outbox_entry(entry, MessageState.FAILED)
                    if message is not None:
                        self._emit(MessageStateChanged(message, MessageState.PENDING))
                self._emit(OutboxChanged(outbox.entries))
            action = outbox.next_action(loop.time())
            if isinstance(action, SendNow):
                await self._send(action.entry)
                continue
            self._outbox_wake.clear()
            timeout = None if action.until is None else max(0.0, action.until - loop.time())
            try:
                async with asyncio.timeout(timeout):
                    await self._outbox_wake.wait()
            except TimeoutError:
                pass

    async def _send(self, entry: OutboxEntry) -> None:
        cache, rpc, outbox, planner = self._parts()
        loop = asyncio.get_running_loop()
        key = entry.client_message_id
        self._emit(OutboxChanged(outbox.entries))
        try:
            result = await self._authed(
                lambda: rpc.send_message(entry.peer, entry.text, key, entry.sealed_body)
            )
        except asyncio.CancelledError:
            outbox.interrupted(key)
            raise
        except (RpcError, SessionEndedError, ServerProtocolError) as exc:
            code = exc.code if isinstance(exc, RpcError) else "PERMISSION_DENIED"
            kind = classify_failure(code, str(exc))
            updated = outbox.failed(key, kind, str(exc), now=loop.time(), random=self._rng.random())
            failed = updated.state is OutboxState.FAILED
            message = await cache.update_outbox_entry(
                updated, MessageState.FAILED if failed else None
            )
            _log.info(
                "client.outbox.send_failed",
                client_message_id=key,
                code=code,
                attempts=updated.attempts,
                final=failed,
            )
            if failed and message is not None:
                self._emit(MessageStateChanged(message, MessageState.PENDING))
            self._emit(OutboxChanged(outbox.entries))
            return

        sent = Message(
            peer=entry.peer,
            sender=self._me,
            receiver=entry.peer,
            text=entry.text,
            timestamp=result.timestamp,
            state=MessageState.SENT,
            server_seq=result.server_seq,
            message_id=result.message_id,
            client_message_id=key,
            encrypted=entry.sealed_body is not None,
        )
        outbox.delivered(key)
        async with self._lock:
            stored = await cache.complete_outbox_entry(key, sent)
            fetch = planner.on_message(entry.peer, result.server_seq)
            await cache.set_synced(entry.peer, planner.synced(entry.peer))
        _log.info(
            "client.outbox.delivered",
            client_message_id=key,
            server_seq=result.server_seq,
            deduplicated=result.deduplicated,
        )
        await self._report_stored([stored])
        self._emit(OutboxChanged(outbox.entries))
        if fetch is not None:
            self._sync_queue.put_nowait(fetch)

    # --- messages --------------------------------------------------------------------

    async def send_message(self, peer: str | PublicKey, text: str) -> Message:
        """Queue a message; it is stored at once as pending and sent in the background.

        The message gets a UUIDv7 client_message_id that every attempt reuses, so the
        server stores it once however often it is retried. Watch `MessageStateChanged`
        for sent or failed.

        Args:
            peer: the recipient, in any accepted key encoding.
            text: the body: not blank, at most `config.max_message_chars` code points.

        Returns:
            The pending message.

        Raises:
            InvalidMessageError: the text would be refused; nothing was queued.
            InvalidPublicKeyError: `peer` is not a public key.
            SessionEndedError: the server ended the session for good (a ban).
            ClientStateError: the client is not open.
        """
        cache, _, outbox, _ = self._open_parts()
        receiver = _canonical(peer)
        check_message_text(text, max_chars=self._config.max_message_chars)
        if self._ended is not None:
            raise self._ended
        now = datetime.now(UTC)
        key = str(uuid7())
        # Sealed once here, so every retry, after a restart too, sends the same bytes
        # and the server's idempotency check matches them.
        sealed = (
            self._sealer.seal(receiver, text, key)
            if await self._peer_reads_sealed(receiver)
            else None
        )
        message = Message(
            peer=receiver,
            sender=self._me,
            receiver=receiver,
            text=text,
            timestamp=now,
            state=MessageState.PENDING,
            client_message_id=key,
            encrypted=sealed is not None,
        )
        async with self._queue_lock:
            entry = OutboxEntry(
                client_message_id=key,
                peer=receiver,
                text=text,
                created_at=now,
                position=outbox.next_position(),
                sealed_body=sealed,
            )
            await cache.add_pending(message, entry)
            outbox.add(entry)
        _log.info("client.outbox.queued", client_message_id=key, peer=receiver[:8])
        self._emit(NewMessage(message))
        self._emit(OutboxChanged(outbox.entries))
        self._outbox_wake.set()
        return message

    async def _peer_reads_sealed(self, peer: str) -> bool:
        """Whether messages to `peer` are sealed: its clients announced they read them.

        The cache remembers it for good. A peer not known to read them is asked about
        once per client while online; offline, the message goes as plaintext.
        """
        cache, _, _, _ = self._parts()
        friend = await cache.friend(peer)
        if friend is not None and friend.supports_sealed:
            return True
        # XXX: a message written offline, or to a key that is neither a contact nor a
        # past correspondent (ListFriends does not list it), goes as plaintext, because
        # the protocol has no per-key capability lookup.
        if peer in self._capability_checked or self._state is not ConnectionState.ONLINE:
            return False
        self._capability_checked.add(peer)
        try:
            await self.refresh_friends()
        except (RpcError, SessionEndedError) as exc:
            _log.info("client.sealed.capability_unknown", peer=peer[:8], error=type(exc).__name__)
            return False
        friend = await cache.friend(peer)
        return friend is not None and friend.supports_sealed

    def outbox(self) -> tuple[OutboxEntry, ...]:
        """Return the outbox items in queue order (queued, sending and failed)."""
        _, _, outbox, _ = self._open_parts()
        return outbox.entries

    async def retry_message(self, client_message_id: str) -> Message:
        """Queue a failed message again, with the same client_message_id.

        Raises:
            OutboxItemNotFoundError: no outbox item has that id.
            ValueError: the item has not failed.
        """
        cache, _, outbox, _ = self._open_parts()
        try:
            entry = outbox.retry(client_message_id)
        except KeyError:
            raise self._no_item(client_message_id) from None
        message = await cache.update_outbox_entry(entry, MessageState.PENDING)
        assert message is not None
        self._emit(MessageStateChanged(message, MessageState.FAILED))
        self._emit(OutboxChanged(outbox.entries))
        self._outbox_wake.set()
        return message

    async def discard_message(self, client_message_id: str) -> None:
        """Remove a queued or failed message from the outbox and the conversation.

        Raises:
            OutboxItemNotFoundError: no outbox item has that id.
            ValueError: the message is being sent right now.
        """
        cache, _, outbox, _ = self._open_parts()
        try:
            outbox.discard(client_message_id)
        except KeyError:
            raise self._no_item(client_message_id) from None
        await cache.discard_outbox_entry(client_message_id)
        self._emit(OutboxChanged(outbox.entries))

    @staticmethod
    def _no_item(client_message_id: str) -> OutboxItemNotFoundError:
        msg = (
            f"no outbox item has client_message_id {client_message_id!r}; it was sent or "
            "discarded already"
        )
        return OutboxItemNotFoundError(msg)

    async def history(
        self, peer: str | PublicKey, *, limit: int = 30, before: int | None = None
    ) -> list[Message]:
        """Return up to `limit` messages of a conversation, oldest first.

        The cache returns the page when it contains the whole range; otherwise the
        client requests the page from the server and stores it. Offline, the cache's
        messages are returned.

        Args:
            peer: the other party.
            limit: 1 to 100 messages.
            before: only messages with `server_seq` below this (scrolling up); None is
                the newest page, followed by this device's unsent messages.

        Raises:
            ValueError: `limit` is out of range.
        """
        cache, rpc, _, planner = self._open_parts()
        other = _canonical(peer)
        if not 1 <= limit <= HISTORY_PAGE:
            msg = f"history limit must be between 1 and {HISTORY_PAGE}, got {limit}"
            raise ValueError(msg)

        # 1. A conversation never read here starts with its newest page.
        if before is None and planner.synced(other) == 0:
            async with self._lock:
                fetch = planner.on_open(other)
            if fetch is not None:
                await self._offline_tolerant(self._run_fetch(fetch))

        # 2. The cache, if it contains the whole range.
        rows = await cache.messages_before(other, before, limit)
        seqs = [row.server_seq for row in rows if row.server_seq is not None]
        after_newest = seqs[0] + 1 if seqs else 1
        upper = before if before is not None else after_newest
        if not page_is_complete(seqs, before=upper, limit=limit):
            # 3. The server fills the hole; scrolled-in pages raise no events.
            page = await self._offline_tolerant(
                self._authed(
                    lambda: rpc.history(other, cursor=upper, limit=limit, direction="older")
                )
            )
            if page is not None:
                async with self._lock:
                    await cache.store_server_messages(page.messages)
                    for message in page.messages:
                        if message.server_seq and message.server_seq > planner.synced(other):
                            planner.on_message(other, message.server_seq)
                rows = await cache.messages_before(other, before, limit)

        result = list(reversed(rows))
        if before is None:
            result.extend(await cache.unsent_messages(other))
        return result

    async def _offline_tolerant(self, work: Awaitable[_T]) -> _T | None:
        try:
            return await work
        except (UnavailableError, DeadlineExceededError, SessionEndedError) as exc:
            _log.info("client.history.offline", error=_describe(exc))
            return None

    async def mark_read(self, peer: str | PublicKey, up_to: int | None = None) -> int:
        """Move the read cursor of a conversation forward.

        Args:
            peer: the other party.
            up_to: the newest seq read; None means the newest message cached.

        Returns:
            The seq marked; 0 when the conversation has no messages here.

        Raises:
            RpcError: the server refused or could not be reached.
        """
        cache, rpc, _, _ = self._open_parts()
        other = _canonical(peer)
        seq = up_to if up_to is not None else await cache.newest_seq(other)
        if seq <= 0:
            return 0
        await self._authed(lambda: rpc.mark_read(other, seq))
        await cache.mark_read(other, seq)
        await self._report_conversation(other)
        return seq

    # --- contacts --------------------------------------------------------------------

    async def friends(self) -> list[Friend]:
        """Return the contact list from the cache, most recently active first."""
        cache, _, _, _ = self._open_parts()
        return await cache.friends()

    async def refresh_friends(self) -> list[Friend]:
        """Ask the server for the contact list, store it, and return the cached list.

        Conversations that turn out to have newer messages are fetched in the
        background.

        Raises:
            RpcError: the call failed.
        """
        cache, rpc, _, planner = self._open_parts()
        for friend in await self._authed(rpc.list_friends):
            await cache.upsert_friend(friend)
            async with self._lock:
                fetch = planner.on_hint(friend.public_key, friend.last_server_seq)
            if fetch is not None:
                self._sync_queue.put_nowait(fetch)
        return await cache.friends()

    async def add_friend(self, peer: str | PublicKey, alias: str = "") -> Friend:
        """Add a contact (one-directional), or change its alias.

        Raises:
            NotFoundError: the key never logged in.
            InvalidArgumentError: the key or alias was refused.
        """
        cache, rpc, _, _ = self._open_parts()
        other = _canonical(peer)
        await self._authed(lambda: rpc.add_friend(other, alias))
        await cache.add_contact(other, alias)
        friend = await cache.friend(other)
        assert friend is not None
        return friend

    # --- admin -----------------------------------------------------------------------

    async def admin_overview(self) -> AdminOverview:
        """Return every account and the server-wide counters (admins only).

        Raises:
            PermissionDeniedError: this user is not an admin.
        """
        _, rpc, _, _ = self._open_parts()
        return await self._authed(rpc.admin_overview)

    async def ban(self, peer: str | PublicKey) -> None:
        """Ban an account: its sessions end and it cannot log in (admins only)."""
        _, rpc, _, _ = self._open_parts()
        other = _canonical(peer)
        await self._authed(lambda: rpc.set_user_status(other, banned=True))

    async def unban(self, peer: str | PublicKey) -> None:
        """Lift a ban (admins only)."""
        _, rpc, _, _ = self._open_parts()
        other = _canonical(peer)
        await self._authed(lambda: rpc.set_user_status(other, banned=False))

    async def broadcast(self, text: str, *, expires_in: float | None = None) -> int:
        """Send an announcement to every user (admins only).

        Users online get it at once, the others when they next connect.

        Args:
            text: the announcement.
            expires_in: seconds after which devices that connect later no longer get
                it; None keeps it until further notice.

        Returns:
            How many users were online and got it, when the server reports it; else 0.
        """
        _, rpc, _, _ = self._open_parts()
        check_message_text(text, max_chars=self._config.max_message_chars)
        seconds = 0 if expires_in is None else max(1, math.ceil(expires_in))
        return await self._authed(lambda: rpc.broadcast(text, expires_in_seconds=seconds))


def _describe(error: BaseException | None) -> str | None:
    return None if error is None else str(error)
