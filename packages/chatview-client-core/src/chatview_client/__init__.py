"""chatview_client: the ChatView client library.

`ChatClient` is the one entry point: open it with a `ClientConfig` (see `load_config`)
and a key pair from `IdentityStore`, and it logs in, keeps a local SQLite cache, sends
through a persistent outbox, follows the live event stream and catches up after every
reconnect. Values and events are attrs classes of this package; no protobuf object
appears in the API. Errors are in one tree under `ChatViewError`.
"""

from ._client import ChatClient, EventStream, Listener
from ._config import (
    DEFAULT_GRPC_TARGET,
    ClientConfig,
    default_config_path,
    default_data_dir,
    is_loopback_target,
    load_config,
)
from ._errors import (
    AbortedError,
    AlreadyExistsError,
    CacheCorruptedError,
    CacheError,
    CacheVersionError,
    CallCancelledError,
    ChatViewError,
    ClientStateError,
    ConfigError,
    ConnectionFailedError,
    DataLossError,
    DeadlineExceededError,
    FailedPreconditionError,
    InternalServerError,
    InvalidArgumentError,
    InvalidMessageError,
    NotFoundError,
    OutboxItemNotFoundError,
    OutOfRangeError,
    PermissionDeniedError,
    ResourceExhaustedError,
    RpcError,
    ServerProtocolError,
    SessionEndedError,
    UnauthenticatedError,
    UnavailableError,
    UnimplementedError,
    UnknownServerError,
    rpc_error_from,
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
from ._identity import IdentityStore
from ._sealing import SEALED_CAPABILITY, UNDECRYPTABLE_TEXT
from ._values import (
    AdminOverview,
    AdminStats,
    AdminUser,
    ConnectionState,
    Friend,
    Message,
    MessageState,
    OutboxEntry,
    OutboxState,
    Role,
    SessionInfo,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_GRPC_TARGET",
    "SEALED_CAPABILITY",
    "UNDECRYPTABLE_TEXT",
    "AbortedError",
    "AdminOverview",
    "AdminStats",
    "AdminUpdated",
    "AdminUser",
    "AlreadyExistsError",
    "BroadcastReceived",
    "CacheCorruptedError",
    "CacheError",
    "CacheVersionError",
    "CallCancelledError",
    "ChatClient",
    "ChatViewError",
    "ClientConfig",
    "ClientStateError",
    "ConfigError",
    "ConnectionFailedError",
    "ConnectionState",
    "ConnectionStateChanged",
    "ConversationChanged",
    "DataLossError",
    "DeadlineExceededError",
    "Event",
    "EventStream",
    "FailedPreconditionError",
    "ForcedOffline",
    "Friend",
    "FriendStatusChanged",
    "IdentityStore",
    "InternalServerError",
    "InvalidArgumentError",
    "InvalidMessageError",
    "Listener",
    "Message",
    "MessageState",
    "MessageStateChanged",
    "NewMessage",
    "NotFoundError",
    "OutOfRangeError",
    "OutboxChanged",
    "OutboxEntry",
    "OutboxItemNotFoundError",
    "OutboxState",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "Role",
    "RpcError",
    "ServerProtocolError",
    "SessionEndedError",
    "SessionInfo",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "UnknownServerError",
    "default_config_path",
    "default_data_dir",
    "is_loopback_target",
    "load_config",
    "rpc_error_from",
]

# Reprs and tracebacks show the public path rather than the private module.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type):
        _value.__module__ = __name__
del _name, _value
