"""Client configuration: defaults, a YAML file, ``CHATVIEW_*`` environment variables and
explicit values, later ones winning in that order.

The keys are those of the original client (``data_dir``, ``grpc_target``, ``grpc_tls``,
``grpc_timeout``) plus TLS details and retry tuning. Durations are seconds as a number,
or text such as ``"10s"``, ``"250ms"``, ``"2m"``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import attrs
import platformdirs
import yaml

from ._errors import ConfigError

__all__ = [
    "DEFAULT_GRPC_TARGET",
    "ENV_PREFIX",
    "ClientConfig",
    "default_config_path",
    "default_data_dir",
    "is_loopback_target",
    "load_config",
]

DEFAULT_GRPC_TARGET: Final = "127.0.0.1:50051"
ENV_PREFIX: Final = "CHATVIEW_"
_APP_NAME: Final = "chatview"

_DURATION: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_DURATION_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


def default_data_dir() -> Path:
    """Return the platform's per-user data folder for ChatView (platformdirs)."""
    return platformdirs.user_data_path(_APP_NAME, appauthor=False)


def default_config_path() -> Path:
    """Return the ``client.yaml`` path that `load_config` reads when given no path."""
    return platformdirs.user_config_path(_APP_NAME, appauthor=False) / "client.yaml"


def is_loopback_target(target: str) -> bool:
    """Return whether a gRPC target names this machine (loopback address or localhost).

    Understands ``host:port``, ``[v6]:port``, ``dns:///host:port``, ``ipv4:``/``ipv6:``
    prefixes and ``unix:`` paths (always local).
    """
    text = target.strip()
    if text.startswith(("unix:", "unix-abstract:")):
        return True
    for prefix in ("dns:///", "dns:", "ipv4:", "ipv6:"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    if text.startswith("["):
        host = text[1 : text.find("]")] if "]" in text else text[1:]
    elif text.count(":") == 1:
        host = text.split(":", 1)[0]
    else:
        host = text  # a bare IPv6 address, or a host without port
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _positive(name: str) -> Any:
    def check(_instance: object, _attribute: object, value: float) -> None:
        if not value > 0:
            msg = f"{name} must be greater than 0, got {value!r}"
            raise ConfigError(msg)

    return check


@attrs.frozen(kw_only=True)
class ClientConfig:
    """Everything the client needs to know before it has a key.

    Build it with `load_config` to read a YAML file and the environment, or directly.

    Raises:
        ConfigError: a value is out of range.
    """

    data_dir: Path = attrs.field(factory=default_data_dir, converter=Path)
    """Folder of the key file and the per-identity caches."""
    grpc_target: str = DEFAULT_GRPC_TARGET
    """The server, as a gRPC target (``host:port``)."""
    grpc_tls: bool | None = None
    """Use TLS; None decides by target: off for loopback, on otherwise."""
    grpc_ca_path: Path | None = attrs.field(default=None, converter=attrs.converters.optional(Path))
    """PEM file of the CA that signed the server's certificate; None uses system roots."""
    grpc_ssl_target_name_override: str | None = None
    """The name to check the server certificate against, when it is not the target host."""
    grpc_timeout: float = attrs.field(default=10.0, validator=_positive("grpc_timeout"))
    """Deadline of each unary call, in seconds."""
    client_id: str | None = None
    """This device's name for the server; None makes one up once per cache."""
    retry_initial_delay: float = attrs.field(
        default=1.0, validator=_positive("retry_initial_delay")
    )
    """First wait before retrying a send or a reconnect, in seconds."""
    retry_max_delay: float = attrs.field(default=60.0, validator=_positive("retry_max_delay"))
    """Maximum wait between two attempts to send one message, in seconds."""
    reconnect_max_delay: float = attrs.field(
        default=30.0, validator=_positive("reconnect_max_delay")
    )
    """Maximum wait between two attempts to reach the server, in seconds."""
    outbox_max_attempts: int = attrs.field(default=10, validator=_positive("outbox_max_attempts"))
    """SendMessage attempts before a message is marked failed."""
    max_message_chars: int = attrs.field(default=4000, validator=_positive("max_message_chars"))
    """Maximum message length in code points, as the server counts; checked before queueing."""
    keepalive_time: float = attrs.field(default=30.0, validator=_positive("keepalive_time"))
    """Seconds between HTTP/2 keepalive pings while a call is open."""

    @property
    def use_tls(self) -> bool:
        """Whether the channel uses TLS, after applying the loopback default."""
        if self.grpc_tls is None:
            return not is_loopback_target(self.grpc_target)
        return self.grpc_tls

    @property
    def key_file_path(self) -> Path:
        """Path of the PIN-encrypted key file."""
        return self.data_dir / "identity.key"

    def cache_path(self, public_key_hex: str) -> Path:
        """Return the cache path of one identity: one SQLite file per key."""
        return self.data_dir / "cache" / f"{public_key_hex}.sqlite3"


_FIELDS: Final = {field.name: field for field in attrs.fields(ClientConfig)}
_DURATION_KEYS: Final = frozenset(
    {"grpc_timeout", "retry_initial_delay", "retry_max_delay", "reconnect_max_delay"}
    | {"keepalive_time"}
)
_INT_KEYS: Final = frozenset({"outbox_max_attempts", "max_message_chars"})
_OPTIONAL_TEXT_KEYS: Final = frozenset({"grpc_ssl_target_name_override", "client_id"})


def _parse_duration(key: str, value: object, source: str) -> float:
    if isinstance(value, bool):
        msg = f"{key} from {source} must be a duration such as 10s, got {value!r}"
        raise ConfigError(msg)
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value))
    if match is None:
        msg = (
            f"{key} from {source} is {value!r}, which is not a duration; "
            "write seconds as a number or with a unit: 250ms, 10s, 2m, 1h"
        )
        raise ConfigError(msg)
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def _parse_bool_or_auto(key: str, value: object, source: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if text in ("", "auto"):
        return None
    msg = f"{key} from {source} is {value!r}; use true, false or auto"
    raise ConfigError(msg)


def _parse_int(key: str, value: object, source: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        msg = f"{key} from {source} is {value!r}, which is not a whole number"
        raise ConfigError(msg) from None


def _convert(key: str, value: object, source: str) -> object:
    if key not in _FIELDS:
        known = ", ".join(sorted(_FIELDS))
        msg = f"unknown configuration key {key!r} in {source}; known keys: {known}"
        raise ConfigError(msg)
    if key in _DURATION_KEYS:
        return _parse_duration(key, value, source)
    if key in _INT_KEYS:
        return _parse_int(key, value, source)
    if key == "grpc_tls":
        return _parse_bool_or_auto(key, value, source)
    if key in ("grpc_ca_path", *_OPTIONAL_TEXT_KEYS):
        return None if value in (None, "") else str(value)
    if key == "data_dir":
        return Path(os.path.expanduser(str(value)))
    return str(value)


def _read_yaml(path: Path) -> dict[str, object]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"cannot read configuration file {str(path)!r}: {exc.strerror or exc}"
        raise ConfigError(msg) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        msg = f"configuration file {str(path)!r} is not valid YAML: {exc}"
        raise ConfigError(msg) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        msg = (
            f"configuration file {str(path)!r} must hold a mapping of keys to values, "
            f"not a {type(data).__name__}"
        )
        raise ConfigError(msg)
    return {str(key): value for key, value in data.items()}


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> ClientConfig:
    """Build a `ClientConfig` from defaults, a YAML file, the environment and arguments.

    Args:
        path: the YAML file. None uses ``CHATVIEW_CONFIG`` when set, otherwise
            `default_config_path()` if that file exists. A path given here or in
            ``CHATVIEW_CONFIG`` must exist.
        env: the environment to read ``CHATVIEW_<KEY>`` variables from (key upper-cased,
            such as ``CHATVIEW_GRPC_TARGET``); None reads `os.environ`.
        **overrides: explicit values; None means "not given" and is skipped.

    Returns:
        The configuration, each key from the last source that set it.

    Raises:
        ConfigError: an unreadable file, an unknown key or a bad value.
    """
    environ = os.environ if env is None else env
    values: dict[str, object] = {}

    # 1. The file.
    if path is None and environ.get(f"{ENV_PREFIX}CONFIG"):
        path = environ[f"{ENV_PREFIX}CONFIG"]
    if path is not None:
        source_path = Path(path)
        for key, value in _read_yaml(source_path).items():
            values[key] = _convert(key, value, f"file {str(source_path)!r}")
    elif default_config_path().is_file():
        for key, value in _read_yaml(default_config_path()).items():
            values[key] = _convert(key, value, f"file {str(default_config_path())!r}")

    # 2. The environment: only keys the config has, so unrelated CHATVIEW_* are ignored.
    for key in _FIELDS:
        name = f"{ENV_PREFIX}{key.upper()}"
        if name in environ:
            values[key] = _convert(key, environ[name], f"environment variable {name}")

    # 3. Explicit values.
    for key, value in overrides.items():
        if value is not None:
            values[key] = _convert(key, value, "arguments")

    try:
        return ClientConfig(**values)  # type: ignore[arg-type]
    except TypeError as exc:
        msg = f"invalid configuration: {exc}"
        raise ConfigError(msg) from exc
