"""Exit statuses, and the mapping of errors to them.

====  ===========================================================================
code  meaning
====  ===========================================================================
0     success
1     anything else (a bug, a local file problem)
2     usage: bad options or arguments, a malformed key, unusable configuration
3     auth or identity: no identity, wrong PIN, refused login, banned account
4     network: the server could not be reached or did not answer in time
5     server refusal: the server returned an error (unknown user, not admin, ...)
====  ===========================================================================
"""

from __future__ import annotations

import enum

from chatview_client import (
    ChatViewError,
    ConfigError,
    ConnectionFailedError,
    DeadlineExceededError,
    InvalidMessageError,
    OutboxItemNotFoundError,
    RpcError,
    ServerProtocolError,
    SessionEndedError,
    UnauthenticatedError,
    UnavailableError,
)
from chatview_identity import (
    IdentityError,
    InvalidPrivateKeyError,
    InvalidPublicKeyError,
    KeyFileError,
)

__all__ = ["ExitStatus", "exit_status_for"]


class ExitStatus(enum.IntEnum):
    """The process exit statuses, one per kind of failure."""

    OK = 0
    OTHER = 1
    USAGE = 2
    AUTH = 3
    NETWORK = 4
    REFUSED = 5


def exit_status_for(error: BaseException) -> ExitStatus:
    """Return the exit status for an error that ends a command."""
    if isinstance(error, InvalidPublicKeyError | InvalidMessageError | ConfigError):
        return ExitStatus.USAGE
    if isinstance(error, OutboxItemNotFoundError):
        return ExitStatus.USAGE
    if isinstance(error, InvalidPrivateKeyError):
        return ExitStatus.USAGE
    if isinstance(error, KeyFileError | IdentityError):
        return ExitStatus.AUTH
    if isinstance(error, UnauthenticatedError | SessionEndedError | ServerProtocolError):
        return ExitStatus.AUTH
    if isinstance(error, UnavailableError | DeadlineExceededError | ConnectionFailedError):
        return ExitStatus.NETWORK
    if isinstance(error, RpcError):
        return ExitStatus.REFUSED
    if isinstance(error, ChatViewError):
        return ExitStatus.OTHER
    return ExitStatus.OTHER
