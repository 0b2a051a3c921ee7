"""PostgreSQL data layer of the ChatView server.

`open_store` returns a `Store`, whose async methods are every read and write the server
makes: users, login challenges, sessions, friends, messages, read cursors, change feed
and broadcasts. Values are frozen attrs classes; errors derive from `StoreError`.
`metadata` is the schema that the server's Alembic migrations create.
`chatview_store_pg.testing` gives tests a throwaway PostgreSQL database.
"""

from ._errors import (
    DatabaseError,
    IdempotencyConflictError,
    InvalidCursorError,
    InvalidDirectionError,
    InvalidFieldError,
    InvalidLimitError,
    InvalidPublicKeyError,
    InvalidTextError,
    InvalidValueError,
    RetriesExhaustedError,
    SelfTargetError,
    StoreError,
    StoreUnavailableError,
    UserNotFoundError,
)
from ._schema import metadata
from ._store import (
    DEFAULT_HISTORY_LIMIT,
    MAX_PAGE_LIMIT,
    MAX_SEALED_BODY_BYTES,
    MAX_TEXT_LENGTH,
    Store,
    open_store,
)
from ._values import (
    Broadcast,
    ChangesPage,
    CleanupResult,
    ConversationChange,
    FriendEntry,
    HistoryPage,
    Message,
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
    "Broadcast",
    "ChangesPage",
    "CleanupResult",
    "ConversationChange",
    "DatabaseError",
    "FriendEntry",
    "HistoryPage",
    "IdempotencyConflictError",
    "InvalidCursorError",
    "InvalidDirectionError",
    "InvalidFieldError",
    "InvalidLimitError",
    "InvalidPublicKeyError",
    "InvalidTextError",
    "InvalidValueError",
    "Message",
    "RetriesExhaustedError",
    "Role",
    "SelfTargetError",
    "SendResult",
    "Session",
    "SessionUser",
    "Store",
    "StoreError",
    "StoreStatistics",
    "StoreUnavailableError",
    "User",
    "UserCounts",
    "UserNotFoundError",
    "UserStatus",
    "metadata",
    "open_store",
]
