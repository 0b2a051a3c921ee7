"""ChatView's live-event fan-out: connections per user, presence and bounded queues.

Layers, bottom up: ``Connection`` is one device's bounded queue and its receiving
end; the private registry contains this process's connections and delivers to them;
``HubBackend`` carries fan-out calls between server processes (``LocalBackend`` is
the single-process one); ``Hub`` is what the server calls. The hub knows nothing of
gRPC or protobuf and is generic over the event type.
"""

from ._backend import HubBackend, LocalBackend, LocalDispatcher
from ._connection import Connection
from ._errors import (
    BackendBindingError,
    ConnectionClosedError,
    ConnectionOverflowError,
    HubClosedError,
    HubError,
    InvalidUserError,
    WouldBlockError,
)
from ._hub import Hub
from ._presence import PresenceFeed
from ._values import (
    CloseReason,
    ConnectionStatistics,
    HubStatistics,
    PresenceChange,
    validate_user,
)

__all__ = [
    "BackendBindingError",
    "CloseReason",
    "Connection",
    "ConnectionClosedError",
    "ConnectionOverflowError",
    "ConnectionStatistics",
    "Hub",
    "HubBackend",
    "HubClosedError",
    "HubError",
    "HubStatistics",
    "InvalidUserError",
    "LocalBackend",
    "LocalDispatcher",
    "PresenceChange",
    "PresenceFeed",
    "WouldBlockError",
    "validate_user",
]

__version__ = "0.1.0"

# Show the public path in reprs and tracebacks, not the private module.
for _name in __all__:
    _member = globals()[_name]
    if hasattr(_member, "__module__"):
        _member.__module__ = __name__
del _name, _member
