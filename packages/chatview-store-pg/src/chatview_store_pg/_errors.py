"""Exceptions raised by the store.

The tree, split by whose fault the failure is::

    StoreError                              base of everything raised here
    ├── InvalidValueError (ValueError)      the caller passed a bad argument
    │   ├── InvalidPublicKeyError           not 64 lowercase hex characters
    │   ├── InvalidTextError                empty, blank, too long, NUL or lone surrogate
    │   ├── InvalidLimitError               page size out of range
    │   ├── InvalidCursorError              history cursor is not a decimal server_seq
    │   ├── InvalidDirectionError           history direction not "older"/"newer"/""
    │   ├── SelfTargetError                 befriending, messaging or reading yourself
    │   └── InvalidFieldError               any other malformed field (alias, ids, hashes)
    ├── UserNotFoundError (LookupError)     a key that never logged in
    ├── IdempotencyConflictError (ValueError)
    │                                       client_message_id reused for another message
    ├── StoreUnavailableError (ConnectionError)
    │                                       PostgreSQL refused, dropped or is overloaded
    ├── RetriesExhaustedError               serialization conflicts outlasted the retries
    └── DatabaseError (RuntimeError)        any other database failure (a bug or a schema
                                            that was not migrated)

Errors from asyncpg, SQLAlchemy and the operating system never leave the store
untranslated: `translate_database_error` maps them at the boundary, chained with
``from exc``. The server maps InvalidValueError to INVALID_ARGUMENT, UserNotFoundError
to NOT_FOUND, StoreUnavailableError and RetriesExhaustedError to UNAVAILABLE.
"""

from __future__ import annotations

__all__ = [
    "DatabaseError",
    "IdempotencyConflictError",
    "InvalidCursorError",
    "InvalidDirectionError",
    "InvalidFieldError",
    "InvalidLimitError",
    "InvalidPublicKeyError",
    "InvalidTextError",
    "InvalidValueError",
    "RetriesExhaustedError",
    "SelfTargetError",
    "StoreError",
    "StoreUnavailableError",
    "UserNotFoundError",
]


class StoreError(Exception):
    """Base class of every error the store raises."""


class InvalidValueError(StoreError, ValueError):
    """An argument is malformed; the store wrote nothing."""


class InvalidPublicKeyError(InvalidValueError):
    """A public key is not 64 lowercase hex characters (canonicalize it first)."""


class InvalidTextError(InvalidValueError):
    """Message text is empty, whitespace only, too long, or not storable.

    Not storable means it contains NUL (PostgreSQL text cannot hold it) or a lone
    surrogate (it has no UTF-8 form).
    """


class InvalidLimitError(InvalidValueError):
    """A page size is negative or above the maximum."""


class InvalidCursorError(InvalidValueError):
    """A history cursor is neither empty nor a non-negative decimal server_seq."""


class InvalidDirectionError(InvalidValueError):
    """A history direction is not "older", "newer" or empty."""


class SelfTargetError(InvalidValueError):
    """The target key is the caller's own key (friend, message or history)."""


class InvalidFieldError(InvalidValueError):
    """Some other field is malformed: an alias, client id, message id or token hash."""


class UserNotFoundError(StoreError, LookupError):
    """No user has this public key: it has never logged in successfully."""


class IdempotencyConflictError(StoreError, ValueError):
    """The sender already used this client_message_id for a different message.

    Raised when the stored message has another receiver or another text. Nothing is
    written; the client should make a fresh client_message_id for a new message.
    """


class StoreUnavailableError(StoreError, ConnectionError):
    """PostgreSQL cannot be reached, dropped the connection, or has no capacity left.

    The outcome of a write that was in flight is unknown: retry it (a send with the
    same client_message_id is safe to retry).
    """


class RetriesExhaustedError(StoreError):
    """A write transaction kept failing with serialization conflicts and gave up.

    Only raised after the configured number of attempts; nothing was written. The
    caller may retry later.
    """


class DatabaseError(StoreError, RuntimeError):
    """PostgreSQL rejected a statement for a reason the store did not expect.

    Usually a schema that was not migrated, or a bug; the message carries the SQLSTATE.
    """
