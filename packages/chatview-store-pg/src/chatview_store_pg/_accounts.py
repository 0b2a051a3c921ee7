"""Statements for users, login challenges and sessions.

Each function takes an open connection inside a transaction; `Store` picks the
transaction kind and validates arguments first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ._errors import InvalidFieldError, UserNotFoundError
from ._ids import uuid7
from ._schema import challenges, sessions, users
from ._values import CleanupResult, Role, Session, SessionUser, User, UserCounts, UserStatus

__all__ = [
    "consume_challenge",
    "create_session",
    "delete_expired",
    "ensure_user",
    "get_session",
    "get_session_user",
    "get_user",
    "list_users",
    "ping",
    "put_challenge",
    "require_user",
    "revoke_session",
    "revoke_user_sessions",
    "set_supports_sealed",
    "update_user",
    "user_counts",
    "user_not_found",
]

_USER_COLUMNS = (users.c.public_key, users.c.role, users.c.status, users.c.created_at)
_SESSION_COLUMNS = (
    sessions.c.id,
    sessions.c.public_key,
    sessions.c.client_id,
    sessions.c.created_at,
    sessions.c.expires_at,
    sessions.c.revoked_at,
)


def _user(row: Any) -> User:
    return User(
        public_key=row.public_key,
        role=Role(row.role),
        status=UserStatus(row.status),
        created_at=row.created_at,
    )


def _session(row: Any) -> Session:
    return Session(
        id=str(row.id),
        public_key=row.public_key,
        client_id=row.client_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


def user_not_found(public_key: str) -> UserNotFoundError:
    """Build the error for a key with no user row."""
    return UserNotFoundError(
        f"no user has public key {public_key}; it must log in once before it can be used"
    )


async def get_user(connection: AsyncConnection, public_key: str) -> User | None:
    row = (
        await connection.execute(sa.select(*_USER_COLUMNS).where(users.c.public_key == public_key))
    ).first()
    return None if row is None else _user(row)


async def require_user(connection: AsyncConnection, public_key: str) -> User:
    """Return the user or raise UserNotFoundError."""
    user = await get_user(connection, public_key)
    if user is None:
        raise user_not_found(public_key)
    return user


async def ensure_user(connection: AsyncConnection, public_key: str) -> User:
    statement = (
        insert(users)
        .values(public_key=public_key)
        .on_conflict_do_nothing(index_elements=[users.c.public_key])
        .returning(*_USER_COLUMNS)
    )
    row = (await connection.execute(statement)).first()
    if row is not None:
        return _user(row)
    # Someone else created it first (possibly concurrently); READ COMMITTED lets this
    # new statement see their committed row.
    return await require_user(connection, public_key)


async def update_user(connection: AsyncConnection, public_key: str, **values: str) -> User:
    statement = (
        sa.update(users)
        .where(users.c.public_key == public_key)
        .values(**values)
        .returning(*_USER_COLUMNS)
    )
    row = (await connection.execute(statement)).first()
    if row is None:
        raise user_not_found(public_key)
    return _user(row)


async def list_users(connection: AsyncConnection, limit: int, offset: int) -> list[User]:
    statement = (
        sa.select(*_USER_COLUMNS)
        .order_by(users.c.created_at, users.c.public_key)
        .limit(limit)
        .offset(offset)
    )
    return [_user(row) for row in await connection.execute(statement)]


async def user_counts(connection: AsyncConnection) -> UserCounts:
    statement = sa.select(
        sa.func.count(),
        sa.func.count().filter(users.c.status == UserStatus.BANNED.value),
        sa.func.count().filter(users.c.role == Role.ADMIN.value),
    ).select_from(users)
    total, banned, admins = (await connection.execute(statement)).one()
    return UserCounts(total=total, banned=banned, admins=admins)


async def put_challenge(
    connection: AsyncConnection, public_key: str, challenge: bytes, expires_at: datetime
) -> None:
    statement = insert(challenges).values(
        public_key=public_key, challenge=challenge, expires_at=expires_at
    )
    statement = statement.on_conflict_do_update(
        index_elements=[challenges.c.public_key],
        set_={
            "challenge": statement.excluded.challenge,
            "expires_at": statement.excluded.expires_at,
        },
    )
    await connection.execute(statement)


async def consume_challenge(
    connection: AsyncConnection, public_key: str, now: datetime
) -> bytes | None:
    # Deleting and reading in one statement makes the challenge single-use even when
    # two logins race: only one DELETE gets the row back.
    statement = (
        sa.delete(challenges)
        .where(challenges.c.public_key == public_key)
        .returning(challenges.c.challenge, challenges.c.expires_at)
    )
    row = (await connection.execute(statement)).first()
    if row is None or row.expires_at <= now:
        return None
    return bytes(row.challenge)


async def create_session(
    connection: AsyncConnection,
    token_hash: bytes,
    public_key: str,
    client_id: str,
    expires_at: datetime,
) -> Session:
    await require_user(connection, public_key)
    statement = (
        sa.insert(sessions)
        .values(
            id=uuid7(),
            token_hash=token_hash,
            public_key=public_key,
            client_id=client_id,
            expires_at=expires_at,
        )
        .returning(*_SESSION_COLUMNS)
    )
    try:
        row = (await connection.execute(statement)).one()
    except sa_exc.IntegrityError as exc:
        msg = "a session with this token hash already exists; generate a new random token"
        raise InvalidFieldError(msg) from exc
    return _session(row)


def _live_session(token_hash: bytes, now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        sessions.c.token_hash == token_hash,
        sessions.c.revoked_at.is_(None),
        sessions.c.expires_at > now,
    )


async def get_session(
    connection: AsyncConnection, token_hash: bytes, now: datetime
) -> Session | None:
    statement = sa.select(*_SESSION_COLUMNS).where(_live_session(token_hash, now))
    row = (await connection.execute(statement)).first()
    return None if row is None else _session(row)


async def get_session_user(
    connection: AsyncConnection, token_hash: bytes, now: datetime
) -> SessionUser | None:
    statement = (
        sa.select(
            *_SESSION_COLUMNS,
            users.c.role,
            users.c.status,
            users.c.created_at.label("user_created_at"),
        )
        .join_from(sessions, users, sessions.c.public_key == users.c.public_key)
        .where(_live_session(token_hash, now))
    )
    row = (await connection.execute(statement)).first()
    if row is None:
        return None
    user = User(
        public_key=row.public_key,
        role=Role(row.role),
        status=UserStatus(row.status),
        created_at=row.user_created_at,
    )
    return SessionUser(session=_session(row), user=user)


async def revoke_session(connection: AsyncConnection, token_hash: bytes) -> bool:
    statement = (
        sa.update(sessions)
        .where(sessions.c.token_hash == token_hash, sessions.c.revoked_at.is_(None))
        .values(revoked_at=sa.func.now())
    )
    result = await connection.execute(statement)
    return result.rowcount > 0


async def revoke_user_sessions(connection: AsyncConnection, public_key: str) -> int:
    statement = (
        sa.update(sessions)
        .where(sessions.c.public_key == public_key, sessions.c.revoked_at.is_(None))
        .values(revoked_at=sa.func.now())
    )
    result = await connection.execute(statement)
    return int(result.rowcount)


async def delete_expired(connection: AsyncConnection, now: datetime) -> CleanupResult:
    expired_challenges = await connection.execute(
        sa.delete(challenges).where(challenges.c.expires_at <= now)
    )
    dead_sessions = await connection.execute(
        sa.delete(sessions).where(
            sa.or_(sessions.c.expires_at <= now, sessions.c.revoked_at.is_not(None))
        )
    )
    return CleanupResult(
        challenges=int(expired_challenges.rowcount), sessions=int(dead_sessions.rowcount)
    )


async def ping(connection: AsyncConnection) -> None:
    """Run a trivial statement (used to check the server is reachable)."""
    await connection.execute(sa.text("SELECT 1"))


async def set_supports_sealed(connection: AsyncConnection, public_key: str) -> bool:
    """Record that the user reads sealed bodies; True when this changed the row."""
    statement = (
        sa.update(users)
        .where(users.c.public_key == public_key, users.c.supports_sealed.is_(False))
        .values(supports_sealed=True)
        .returning(users.c.public_key)
    )
    if (await connection.execute(statement)).first() is not None:
        return True
    await require_user(connection, public_key)
    return False
