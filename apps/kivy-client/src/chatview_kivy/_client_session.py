"""``ClientSession``: the ``Session`` the app runs, on ``chatview_client.ChatClient``.

This is the one module that calls the client library. It turns the library's
errors (and the identity library's, which the client passes through
unchanged) into ``SessionError`` values that screens can translate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

import structlog

from chatview_client import (
    AdminOverview,
    ChatClient,
    ChatViewError,
    ClientConfig,
    Event,
    EventStream,
    Friend,
    IdentityStore,
    InvalidArgumentError,
    InvalidMessageError,
    Message,
    NotFoundError,
    PermissionDeniedError,
    Role,
    RpcError,
    SessionEndedError,
    UnauthenticatedError,
    UnavailableError,
)
from chatview_identity import (
    IdentityError,
    InvalidPinError,
    InvalidPrivateKeyError,
    InvalidPublicKeyError,
    KeyPair,
    WrongPinError,
)

from ._errors import Problem, SessionError
from ._session import HistoryPage

__all__ = ["ClientSession"]

_log = structlog.get_logger("chatview_kivy.session")

_T = TypeVar("_T")


def _problem_of(exc: Exception) -> Problem:
    # Most specific first: several classes share a builtin base.
    kinds: tuple[tuple[type[Exception], Problem], ...] = (
        (WrongPinError, Problem.WRONG_PIN),
        (InvalidPinError, Problem.BAD_PIN),
        (InvalidPrivateKeyError, Problem.BAD_PRIVATE_KEY),
        (InvalidPublicKeyError, Problem.BAD_PUBLIC_KEY),
        (InvalidMessageError, Problem.BAD_MESSAGE),
        (UnavailableError, Problem.OFFLINE),
        (PermissionDeniedError, Problem.DENIED),
        (UnauthenticatedError, Problem.DENIED),
        (SessionEndedError, Problem.DENIED),
        (NotFoundError, Problem.NOT_FOUND),
        (InvalidArgumentError, Problem.BAD_PUBLIC_KEY),
        (RpcError, Problem.SERVER),
    )
    for kind, problem in kinds:
        if isinstance(exc, kind):
            return problem
    return Problem.OTHER


async def _guarded(action: str, work: Awaitable[_T]) -> _T:
    """Await ``work``; turn a library error into a ``SessionError``."""
    try:
        return await work
    except (ChatViewError, IdentityError, ValueError) as exc:
        problem = _problem_of(exc)
        _log.info(
            "session.action.failed",
            action=action,
            problem=problem.value,
            error_type=type(exc).__name__,
        )
        raise SessionError(problem, str(exc)) from exc
    except Exception as exc:
        # A bug below this line must still reach the screen as a message (and
        # give the composer its text back), not vanish in a task.
        _log.exception("session.action.crashed", action=action)
        raise SessionError(Problem.OTHER, repr(exc)) from exc


class ClientSession:
    """One identity in one data folder, talking to the server in ``config``.

    Args:
        config: the client library's configuration (server, TLS, data folder).
        identity: the key file store; defaults to the one in ``config.data_dir``.
    """

    def __init__(self, config: ClientConfig, identity: IdentityStore | None = None) -> None:
        self._config = config
        self._identity = identity or IdentityStore.for_config(config)
        self._keypair: KeyPair | None = None
        self._client: ChatClient | None = None
        self._stream: EventStream | None = None

    @property
    def config(self) -> ClientConfig:
        """The configuration the session runs with."""
        return self._config

    @property
    def has_identity(self) -> bool:
        """Whether a key file exists."""
        return self._identity.exists()

    @property
    def public_key(self) -> str:
        """The unlocked key, or the stored public key, or empty."""
        if self._keypair is not None:
            return str(self._keypair.public_key.hex)
        return self._identity.public_key() or ""

    @property
    def is_admin(self) -> bool:
        """Whether the last login gave the admin role."""
        client = self._client
        return bool(client and client.session and client.session.role is Role.ADMIN)

    # --- identity ----------------------------------------------------------

    async def create_identity(self, pin: str) -> str:
        """Make a new key under ``pin`` and keep it unlocked."""
        self._keypair = await _guarded("identity.create", self._identity.create(pin))
        return self.public_key

    async def import_identity(self, private_key_hex: str, pin: str) -> str:
        """Store an existing private key under ``pin`` and keep it unlocked."""
        work = self._identity.import_key(pin, private_key_hex.strip())
        self._keypair = await _guarded("identity.import", work)
        return self.public_key

    async def unlock(self, pin: str) -> str:
        """Open the key file with ``pin``."""
        self._keypair = await _guarded("identity.unlock", self._identity.unlock(pin))
        return self.public_key

    async def export_private_key(self, pin: str) -> str:
        """Return the private key after checking ``pin``."""
        return await _guarded("identity.export", self._identity.export_key(pin))

    async def change_pin(self, old_pin: str, new_pin: str) -> None:
        """Re-encrypt the key file under ``new_pin``."""
        await _guarded("identity.change_pin", self._identity.change_pin(old_pin, new_pin))

    # --- lifetime ----------------------------------------------------------

    async def start(self) -> None:
        """Open the client (cache, background connection) for the unlocked key."""
        if self._keypair is None:
            raise SessionError(Problem.OTHER, "unlock the identity before starting")
        client = ChatClient(self._config, self._keypair)
        await _guarded("session.start", client.open())
        self._client = client
        # Made right after open, before the client's tasks first run, so no
        # event is missed.
        self._stream = client.events()

    async def close(self) -> None:
        """Close the client and forget the key; safe to call more than once."""
        client, self._client = self._client, None
        stream, self._stream = self._stream, None
        self._keypair = None
        if stream is not None:
            stream.close()
        if client is not None:
            await client.close()

    async def logout(self) -> None:
        """End the session on the server too, then ``close``."""
        client = self._client
        if client is not None:
            try:
                await client.logout()
            except ChatViewError as exc:
                _log.info("session.logout.unconfirmed", error_type=type(exc).__name__)
        await self.close()

    async def events(self) -> AsyncIterator[Event]:
        """Yield the client's events until the session closes."""
        stream = self._stream
        if stream is None:
            return
        async for event in stream:
            yield event

    def _require(self) -> ChatClient:
        if self._client is None:
            raise SessionError(Problem.OTHER, "the session is not started; unlock first")
        return self._client

    async def _call(self, action: str, call: Callable[[ChatClient], Awaitable[_T]]) -> _T:
        return await _guarded(action, call(self._require()))

    # --- friends and messages --------------------------------------------------

    async def friends(self) -> Sequence[Friend]:
        """The conversation list as cached."""
        return await self._call("friends.list", lambda c: c.friends())

    async def refresh_friends(self) -> Sequence[Friend]:
        """The conversation list from the server; the cached one when offline."""
        try:
            return await self._call("friends.refresh", lambda c: c.refresh_friends())
        except SessionError as exc:
            if exc.problem is not Problem.OFFLINE:
                raise
            return await self.friends()

    async def add_friend(self, public_key: str, alias: str) -> Friend:
        """Add a contact."""
        return await self._call("friends.add", lambda c: c.add_friend(public_key, alias))

    async def history(self, peer: str, before_seq: int | None, limit: int) -> HistoryPage:
        """A page of a conversation, oldest first, and whether older messages exist."""
        messages = await self._call(
            "chat.history", lambda c: c.history(peer, limit=limit, before=before_seq)
        )
        # Seqs start at 1 and have no gaps, so the page's smallest says it all.
        seqs = [m.server_seq for m in messages if m.server_seq is not None]
        return messages, bool(seqs) and min(seqs) > 1

    async def send(self, peer: str, text: str) -> Message:
        """Queue a message."""
        return await self._call("chat.send", lambda c: c.send_message(peer, text))

    async def retry(self, client_message_id: str) -> None:
        """Queue a failed message again."""
        await self._call("chat.retry", lambda c: c.retry_message(client_message_id))

    async def mark_read(self, peer: str, server_seq: int) -> None:
        """Move the read cursor; failures are logged, the next view marks again."""
        try:
            await self._call("chat.mark_read", lambda c: c.mark_read(peer, server_seq))
        except SessionError:
            return

    # --- admin -------------------------------------------------------------

    async def admin_overview(self) -> AdminOverview:
        """Users and counters."""
        return await self._call("admin.overview", lambda c: c.admin_overview())

    async def set_banned(self, public_key: str, banned: bool) -> None:
        """Ban or unban."""
        if banned:
            await self._call("admin.ban", lambda c: c.ban(public_key))
        else:
            await self._call("admin.unban", lambda c: c.unban(public_key))

    async def broadcast(self, text: str) -> None:
        """Announce to everyone online."""
        await self._call("admin.broadcast", lambda c: c.broadcast(text))
