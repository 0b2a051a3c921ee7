"""The Store: every read and write the ChatView server makes to PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from types import TracebackType
from typing import Self, final

import structlog
from sqlalchemy.pool import QueuePool

from . import _accounts, _messaging, _social
from ._engine import Database
from ._errors import InvalidCursorError, InvalidFieldError, InvalidLimitError
from ._validate import (
    check_aware,
    check_bytes,
    check_field,
    check_key,
    check_limit,
    check_not_self,
    check_text,
    parse_cursor,
    parse_direction,
)
from ._values import (
    Broadcast,
    ChangesPage,
    CleanupResult,
    FriendEntry,
    HistoryPage,
    Role,
    SendResult,
    Session,
    SessionUser,
    StoreStatistics,
    User,
    UserCounts,
    UserStatus,
)

__all__ = [
    "DEFAULT_HISTORY_LIMIT",
    "MAX_PAGE_LIMIT",
    "MAX_SEALED_BODY_BYTES",
    "MAX_TEXT_LENGTH",
    "Store",
    "open_store",
]

DEFAULT_HISTORY_LIMIT = 30
"""History page size when the request gives 0."""
MAX_PAGE_LIMIT = 100
"""Largest history page."""
MAX_TEXT_LENGTH = 4000
"""Maximum message length in code points (not bytes, not UTF-16 units)."""
MAX_SEALED_BODY_BYTES = 65536
"""Largest sealed body the store accepts; the server enforces its own, smaller limit."""

_MAX_LIST_LIMIT = 1000
_DEFAULT_LIST_LIMIT = 100
_MAX_ALIAS_LENGTH = 100
_MAX_ID_LENGTH = 200
_MAX_CHALLENGE_BYTES = 1024
_MAX_TOKEN_HASH_BYTES = 128

_log = structlog.get_logger("chatview_store_pg")


async def open_store(
    dsn: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    send_retry_limit: int = 8,
) -> Store:
    """Connect to PostgreSQL and return a Store; the schema must already exist.

    Args:
        dsn: ``postgresql://`` (or ``postgres://``, ``postgresql+asyncpg://``) URL; a
            unix-socket directory goes in ``?host=/path``.
        pool_size: connections kept open.
        max_overflow: extra connections opened under load.
        send_retry_limit: attempts of a write transaction that hits serialization
            conflicts (SQLSTATE 40001/40P01) before RetriesExhaustedError.

    Raises:
        InvalidFieldError: the DSN is malformed, or a size argument is below 1.
        StoreUnavailableError: PostgreSQL cannot be reached.
    """
    if pool_size < 1 or max_overflow < 0 or send_retry_limit < 1:
        msg = (
            f"pool_size {pool_size} and send_retry_limit {send_retry_limit} must be at least 1, "
            f"max_overflow {max_overflow} at least 0"
        )
        raise InvalidFieldError(msg)
    database = Database.connect(
        dsn, pool_size=pool_size, max_overflow=max_overflow, retry_limit=send_retry_limit
    )
    store = Store._create(database)
    try:
        # Fail now, not on the first request, when the server is unreachable.
        await database.read(_accounts.ping)
    except BaseException:
        await database.dispose()
        raise
    _log.info("store.opened", pool_size=pool_size, max_overflow=max_overflow)
    return store


@final
class Store:
    """Async access to the ChatView tables. Safe to share between tasks of one loop.

    Make one with `open_store`; close it with `close` or ``async with``.
    """

    _database: Database
    _closed: bool

    def __init__(self) -> None:
        msg = "use `await open_store(dsn)` to create a Store"
        raise TypeError(msg)

    @classmethod
    def _create(cls, database: Database) -> Store:
        store = object.__new__(cls)
        store._database = database
        store._closed = False
        return store

    async def close(self) -> None:
        """Close every pooled connection. Idempotent."""
        if not self._closed:
            self._closed = True
            await self._database.dispose()
            _log.info("store.closed")

    def statistics(self) -> StoreStatistics:
        """Return the write-retry counters and the connection pool's use, for metrics."""
        pool = self._database.engine.pool
        queue_pool = pool if isinstance(pool, QueuePool) else None
        return StoreStatistics(
            write_retries=self._database.write_retries,
            writes_exhausted=self._database.writes_exhausted,
            pool_size=queue_pool.size() if queue_pool is not None else 0,
            pool_checked_out=queue_pool.checkedout() if queue_pool is not None else 0,
            pool_overflow=queue_pool.overflow() if queue_pool is not None else 0,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # Users

    async def get_user(self, public_key: str) -> User | None:
        """Return the user with this key, or None.

        Raises:
            InvalidPublicKeyError: the key is not canonical.
        """
        key = check_key(public_key)
        return await self._database.read(partial(_accounts.get_user, public_key=key))

    async def ensure_user(self, public_key: str) -> User:
        """Create the user (role USER, status ACTIVE) unless it exists; return it.

        Call on a successful login, never on a challenge request. Idempotent and safe
        under concurrent calls.
        """
        key = check_key(public_key)
        return await self._database.read(partial(_accounts.ensure_user, public_key=key))

    async def set_supports_sealed(self, public_key: str) -> bool:
        """Record that the user logged in with a client that reads sealed bodies.

        The mark is never cleared. Returns True when it was not set before.

        Raises:
            UserNotFoundError: no user has this key.
        """
        key = check_key(public_key)
        return await self._database.read(partial(_accounts.set_supports_sealed, public_key=key))

    async def set_role(self, public_key: str, role: Role) -> User:
        """Set a user's role and return the updated user.

        Raises:
            UserNotFoundError: no user has this key.
        """
        key = check_key(public_key)
        role = Role(role)
        return await self._database.read(
            partial(_accounts.update_user, public_key=key, role=role.value)
        )

    async def set_user_status(self, public_key: str, status: UserStatus) -> User:
        """Ban or unban a user and return the updated user.

        Sessions are left alone: revoke them with `revoke_user_sessions` on a ban.

        Raises:
            UserNotFoundError: no user has this key.
        """
        key = check_key(public_key)
        status = UserStatus(status)
        return await self._database.read(
            partial(_accounts.update_user, public_key=key, status=status.value)
        )

    async def list_users(self, *, limit: int = _DEFAULT_LIST_LIMIT, offset: int = 0) -> list[User]:
        """Return users ordered by creation time, then key.

        Raises:
            InvalidLimitError: `limit` is not 1..1000 or `offset` is negative.
        """
        size = check_limit(limit, default=_DEFAULT_LIST_LIMIT, maximum=_MAX_LIST_LIMIT)
        if not isinstance(offset, int) or offset < 0:
            msg = f"offset {offset!r} must be a non-negative int"
            raise InvalidLimitError(msg)
        return await self._database.read(partial(_accounts.list_users, limit=size, offset=offset))

    async def user_counts(self) -> UserCounts:
        """Return how many users there are, how many are banned and how many are admins."""
        return await self._database.read(_accounts.user_counts)

    # Challenges

    async def put_challenge(self, public_key: str, challenge: bytes, expires_at: datetime) -> None:
        """Store a login challenge, replacing the key's previous one (one live per key).

        Raises:
            InvalidFieldError: `challenge` is not 1..1024 bytes or `expires_at` is naive.
        """
        key = check_key(public_key)
        value = check_bytes(challenge, "challenge", _MAX_CHALLENGE_BYTES)
        expiry = check_aware(expires_at, "expires_at")
        await self._database.read(
            partial(_accounts.put_challenge, public_key=key, challenge=value, expires_at=expiry)
        )

    async def consume_challenge(self, public_key: str, now: datetime) -> bytes | None:
        """Delete the key's challenge and return it; None when missing or expired.

        The delete and the read are one statement, so a challenge is used at most once.
        """
        key = check_key(public_key)
        moment = check_aware(now, "now")
        return await self._database.read(
            partial(_accounts.consume_challenge, public_key=key, now=moment)
        )

    # Sessions

    async def create_session(
        self, token_hash: bytes, public_key: str, client_id: str, expires_at: datetime
    ) -> Session:
        """Store a new session under the hash of its token (never the token itself).

        Raises:
            UserNotFoundError: no user has this key.
            InvalidFieldError: the hash is not 1..128 bytes or already used, the
                client id is longer than 200 characters, or `expires_at` is naive.
        """
        digest = check_bytes(token_hash, "token hash", _MAX_TOKEN_HASH_BYTES)
        key = check_key(public_key)
        client = check_field(client_id, "client id", _MAX_ID_LENGTH)
        expiry = check_aware(expires_at, "expires_at")
        return await self._database.read(
            partial(
                _accounts.create_session,
                token_hash=digest,
                public_key=key,
                client_id=client,
                expires_at=expiry,
            )
        )

    async def get_session(self, token_hash: bytes, now: datetime) -> Session | None:
        """Return the live session with this token hash; None when missing, expired or revoked."""
        digest = check_bytes(token_hash, "token hash", _MAX_TOKEN_HASH_BYTES)
        moment = check_aware(now, "now")
        return await self._database.read(
            partial(_accounts.get_session, token_hash=digest, now=moment)
        )

    async def get_session_user(self, token_hash: bytes, now: datetime) -> SessionUser | None:
        """Like `get_session`, and also return the session's user, in one query."""
        digest = check_bytes(token_hash, "token hash", _MAX_TOKEN_HASH_BYTES)
        moment = check_aware(now, "now")
        return await self._database.read(
            partial(_accounts.get_session_user, token_hash=digest, now=moment)
        )

    async def revoke_session(self, token_hash: bytes) -> bool:
        """Revoke one session; return True when an unrevoked session was revoked."""
        digest = check_bytes(token_hash, "token hash", _MAX_TOKEN_HASH_BYTES)
        return await self._database.read(partial(_accounts.revoke_session, token_hash=digest))

    async def revoke_user_sessions(self, public_key: str) -> int:
        """Revoke every unrevoked session of a user; return how many were revoked."""
        key = check_key(public_key)
        return await self._database.read(partial(_accounts.revoke_user_sessions, public_key=key))

    async def delete_expired(self, now: datetime) -> CleanupResult:
        """Delete challenges that expired and sessions that expired or were revoked."""
        moment = check_aware(now, "now")
        return await self._database.read(partial(_accounts.delete_expired, now=moment))

    # Friends

    async def add_friend(self, owner: str, friend: str, alias: str = "") -> None:
        """Add `friend` to `owner`'s list, or update the alias when already added.

        Friendship is one-directional: the friend's own list does not change.

        Raises:
            SelfTargetError: `friend` is `owner`.
            UserNotFoundError: either key has no user.
            InvalidFieldError: the alias is over 100 characters or contains NUL.
        """
        owner_key = check_key(owner, "owner key")
        friend_key = check_key(friend, "friend key")
        check_not_self(owner_key, friend_key, "add")
        name = check_field(alias, "alias", _MAX_ALIAS_LENGTH)
        await self._database.read(
            partial(_social.add_friend, owner=owner_key, friend=friend_key, alias=name)
        )

    async def list_friends(self, owner: str) -> list[FriendEntry]:
        """Return the owner's friend list.

        It contains everyone the owner added (``added=True``) and everyone who has a
        conversation with the owner without being added (``added=False``, empty
        alias), so messages from strangers are never hidden. Entries with messages
        come first, newest last message first; the rest follow by key.
        """
        owner_key = check_key(owner, "owner key")
        return await self._database.read(partial(_social.list_friends, owner=owner_key))

    async def list_followers(self, public_key: str) -> list[str]:
        """Return the keys whose friend list shows `public_key`, sorted.

        These are the users who added it and those who have a conversation with it:
        the audience for its presence events.
        """
        key = check_key(public_key)
        return await self._database.read(partial(_social.list_followers, public_key=key))

    # Messages

    async def send_message(
        self,
        sender: str,
        receiver: str,
        text: str,
        client_message_id: str,
        sealed_body: bytes | None = None,
    ) -> SendResult:
        """Store a message exactly once per (sender, client_message_id).

        A key the sender already used returns the stored message with
        ``deduplicated=True`` and writes nothing. Otherwise one SERIALIZABLE
        transaction takes the conversation's next server_seq and inserts the message.
        The unique (sender, client_message_id) constraint backs the lookup, so racing
        twins also end with one stored message. The sender's read cursor moves to the
        new message. An empty `client_message_id` disables deduplication.

        With `sealed_body` (1..MAX_SEALED_BODY_BYTES bytes, stored unread) the message is
        end-to-end sealed and `text` is what clients that cannot open it show; a retry
        must carry the same bytes, else it is an idempotency conflict.

        Raises:
            InvalidTextError: text empty, blank, over MAX_TEXT_LENGTH code points, or
                with NUL or a lone surrogate.
            SelfTargetError: `receiver` is `sender`.
            UserNotFoundError: either key has no user.
            IdempotencyConflictError: the key was used for another receiver or text.
            RetriesExhaustedError: serialization conflicts outlasted the retries.
        """
        sender_key = check_key(sender, "sender key")
        receiver_key = check_key(receiver, "receiver key")
        check_not_self(sender_key, receiver_key, "send a message to")
        body = check_text(text, MAX_TEXT_LENGTH)
        idempotency_key = check_field(client_message_id, "client_message_id", _MAX_ID_LENGTH)
        sealed = (
            None
            if sealed_body is None
            else check_bytes(sealed_body, "sealed_body", MAX_SEALED_BODY_BYTES)
        )
        return await self._database.write(
            "send_message",
            partial(
                _messaging.send_message,
                sender=sender_key,
                receiver=receiver_key,
                text=body,
                client_message_id=idempotency_key,
                sealed_body=sealed,
            ),
            precheck=partial(
                _messaging.find_sent,
                sender=sender_key,
                receiver=receiver_key,
                text=body,
                client_message_id=idempotency_key,
                sealed_body=sealed,
            ),
            lock_keys=(sender_key, receiver_key),
            retry_constraints=_messaging.SEND_RETRY_CONSTRAINTS,
        )

    async def get_history(
        self, owner: str, peer: str, cursor: str = "", limit: int = 0, direction: str = ""
    ) -> HistoryPage:
        """Return one page of the owner-peer conversation, in ascending server_seq order.

        Args:
            cursor: exclusive server_seq in decimal; empty starts at the newest
                ("older") or at the beginning ("newer").
            limit: page size 1..100; 0 means 30.
            direction: "older" (or empty) pages backwards, "newer" forwards.

        Returns:
            The page; ``next_cursor`` is the seq to pass next (lowest of the page for
            "older", highest for "newer") or empty on the last page.

        Raises:
            InvalidCursorError, InvalidLimitError, InvalidDirectionError: bad paging.
            UserNotFoundError: either key has no user.
        """
        owner_key = check_key(owner, "owner key")
        peer_key = check_key(peer, "peer key")
        check_not_self(owner_key, peer_key, "read a conversation with")
        start = parse_cursor(cursor)
        size = check_limit(limit, default=DEFAULT_HISTORY_LIMIT, maximum=MAX_PAGE_LIMIT)
        older = parse_direction(direction)
        return await self._database.read(
            partial(
                _messaging.get_history,
                owner=owner_key,
                peer=peer_key,
                cursor=start,
                limit=size,
                older=older,
            )
        )

    async def mark_read(self, owner: str, peer: str, last_read_server_seq: int = 0) -> int:
        """Move the owner's read cursor in the conversation with `peer` forward.

        Args:
            last_read_server_seq: the newest seq read; 0 or less means "up to the
                newest". Values above the newest are capped. A value below the stored
                cursor changes nothing (the cursor never moves backwards).

        Returns:
            The cursor now stored; 0 when there is no conversation yet.

        Raises:
            UserNotFoundError: either key has no user.
            RetriesExhaustedError: serialization conflicts outlasted the retries.
        """
        owner_key = check_key(owner, "owner key")
        peer_key = check_key(peer, "peer key")
        check_not_self(owner_key, peer_key, "mark as read a conversation with")
        if not isinstance(last_read_server_seq, int) or isinstance(last_read_server_seq, bool):
            msg = f"last_read_server_seq must be an int, not {type(last_read_server_seq).__name__}"
            raise InvalidCursorError(msg)
        return await self._database.write(
            "mark_read",
            partial(
                _messaging.mark_read,
                owner=owner_key,
                peer=peer_key,
                last_read_server_seq=last_read_server_seq,
            ),
            lock_keys=(owner_key, peer_key),
        )

    async def list_changes(self, owner: str, since: int = 0, limit: int = 0) -> ChangesPage:
        """Return the owner's conversations whose state changed after counter `since`.

        A send (either way) and a move of the owner's read cursor change a
        conversation. Each conversation appears once, in its current state, ordered by
        its change counter. Pass ``next_since`` back next time: counter order equals
        commit order per user, so no change committed later is ever skipped.

        Args:
            since: the last ``next_since`` seen; 0 lists every conversation.
            limit: 1..1000; 0 means 100.

        Raises:
            InvalidCursorError: `since` is negative.
            InvalidLimitError: `limit` out of range.
        """
        owner_key = check_key(owner, "owner key")
        if not isinstance(since, int) or isinstance(since, bool) or since < 0:
            msg = f"since {since!r} must be a non-negative int (a previous next_since, or 0)"
            raise InvalidCursorError(msg)
        size = check_limit(limit, default=_DEFAULT_LIST_LIMIT, maximum=_MAX_LIST_LIMIT)
        return await self._database.read(
            partial(_messaging.list_changes, owner=owner_key, since=since, limit=size)
        )

    # Broadcasts

    async def add_broadcast(
        self, sender: str, text: str, expires_at: datetime | None = None
    ) -> Broadcast:
        """Store a system broadcast so that users who are offline get it later.

        Raises:
            InvalidTextError: same rules as message text.
            UserNotFoundError: the sender has no user.
        """
        sender_key = check_key(sender, "sender key")
        body = check_text(text, MAX_TEXT_LENGTH)
        expiry = None if expires_at is None else check_aware(expires_at, "expires_at")
        return await self._database.read(
            partial(_social.add_broadcast, sender=sender_key, text=body, expires_at=expiry)
        )

    async def list_broadcasts(
        self, after_id: int, now: datetime, *, limit: int = 0
    ) -> list[Broadcast]:
        """Return broadcasts with id above `after_id` not expired at `now`, oldest first.

        Raises:
            InvalidCursorError: `after_id` is negative.
            InvalidLimitError: `limit` is not 0..1000 (0 means 100).
        """
        if not isinstance(after_id, int) or isinstance(after_id, bool) or after_id < 0:
            msg = f"after_id {after_id!r} must be a non-negative int (0 for all)"
            raise InvalidCursorError(msg)
        moment = check_aware(now, "now")
        size = check_limit(limit, default=_DEFAULT_LIST_LIMIT, maximum=_MAX_LIST_LIMIT)
        return await self._database.read(
            partial(_social.list_broadcasts, after_id=after_id, now=moment, limit=size)
        )
