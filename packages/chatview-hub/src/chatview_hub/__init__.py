"""ChatView's live-event fan-out: connections per user, presence and bounded queues.

Layers, bottom up: ``Connection`` is one device's bounded queue and its receiving
end; the private registry contains this process's connections and delivers to them;
``HubBackend`` carries fan-out calls between server processes (``LocalBackend`` is
the single-process one, ``PostgresBackend`` and ``NatsBackend`` connect several);
``Hub`` is what the server calls. The hub knows nothing of gRPC or protobuf and is
generic over the event type; the cross-process backends take an ``EventCodec``.

Importing this package needs neither asyncpg nor nats-py: the backends that use them
import them when made.
"""

from ._backend import HubBackend, LocalBackend, LocalDispatcher, SharedPresence
from ._connection import Connection
from ._errors import (
    BackendBindingError,
    BackendStateError,
    BackendUnavailableError,
    ConnectionClosedError,
    ConnectionOverflowError,
    HubClosedError,
    HubError,
    InvalidUserError,
    MissingDependencyError,
    WouldBlockError,
)
from ._hub import Hub
from ._nats import NatsBackend
from ._postgres import PostgresBackend
from ._presence import PresenceFeed
from ._values import (
    BackendStatistics,
    CloseReason,
    ConnectionStatistics,
    EventCodec,
    HubStatistics,
    PresenceChange,
    validate_user,
)

__all__ = [
    "BackendBindingError",
    "BackendStateError",
    "BackendStatistics",
    "BackendUnavailableError",
    "CloseReason",
    "Connection",
    "ConnectionClosedError",
    "ConnectionOverflowError",
    "ConnectionStatistics",
    "EventCodec",
    "Hub",
    "HubBackend",
    "HubClosedError",
    "HubError",
    "HubStatistics",
    "InvalidUserError",
    "LocalBackend",
    "LocalDispatcher",
    "MissingDependencyError",
    "NatsBackend",
    "PostgresBackend",
    "PresenceChange",
    "PresenceFeed",
    "SharedPresence",
    "WouldBlockError",
    "validate_user",
]

__version__ = "0.2.0"

# Show the public path in reprs and tracebacks, not the private module.
for _name in __all__:
    _member = globals()[_name]
    if hasattr(_member, "__module__"):
        _member.__module__ = __name__
del _name, _member
