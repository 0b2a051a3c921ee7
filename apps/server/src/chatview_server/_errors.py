"""Errors raised by chatview_server outside of request handling.

The tree::

    ServerError (Exception)
    ├── ConfigError (ValueError)       a configuration key has a bad value; exit status 2
    └── StartupError (RuntimeError)    the database, a migration or the port failed; exit 1

Errors inside a request never leave the server as exceptions: the interceptor turns
them into gRPC status codes (see ``_interceptors``).
"""

from __future__ import annotations

__all__ = ["ConfigError", "ServerError", "StartupError"]


class ServerError(Exception):
    """Base class of the errors chatview_server raises on purpose."""


class ConfigError(ServerError, ValueError):
    """A configuration value does not parse or does not fit with the others.

    The message is one line naming the key, the value and where it came from.

    Attributes:
        key: the configuration key (or ``"config"`` for the file itself).
        value: the raw value as given.
    """

    def __init__(self, message: str, *, key: str, value: object) -> None:
        super().__init__(message)
        self.key = key
        self.value = value


class StartupError(ServerError, RuntimeError):
    """The server could not start: the database, a migration or the listening port failed."""
