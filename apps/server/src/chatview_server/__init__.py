"""The ChatView reference server.

Run it with the ``chatview-server`` command (or ``python -m chatview_server``). The
public surface is small: the configuration loader, `serve`, the errors, and
`chatview_server.testing` for tests that need a real server process.

`serve`, `main` and `SERVICE_NAMES` are imported on first use, because they pull in
gRPC, SQLAlchemy and Alembic. Importing the package (as the pytest plugin in
`chatview_server.testing` does in every test session) stays cheap.
"""

import importlib as _importlib
import typing as _typing

from ._config import CONFIG_KEYS, ConfigKey, ServerConfig, load_config
from ._errors import ConfigError, ServerError, StartupError

if _typing.TYPE_CHECKING:
    from ._app import SERVICE_NAMES, serve
    from ._cli import main

__all__ = [
    "CONFIG_KEYS",
    "SERVICE_NAMES",
    "ConfigError",
    "ConfigKey",
    "ServerConfig",
    "ServerError",
    "StartupError",
    "load_config",
    "main",
    "serve",
]

__version__ = "0.1.0"

_LAZY = {"SERVICE_NAMES": "._app", "serve": "._app", "main": "._cli"}


def __getattr__(name: str) -> object:
    module_name = _LAZY.get(name)
    if module_name is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(_importlib.import_module(module_name, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
