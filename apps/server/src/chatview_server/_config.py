"""Server configuration: keys, their parsers, and the layering of sources.

Precedence, lowest first: built-in defaults, the YAML file given with ``--config``,
environment variables (``CHATVIEW_`` + the key in capitals), command-line flags
(``--listen-addr`` for ``listen_addr``). Every value is parsed and checked before
anything starts, and the first bad one raises `ConfigError` naming the key, the value
and where it came from.

Environment variables with the ``CHATVIEW_`` prefix that name no key are ignored:
other tools of the project (``CHATVIEW_TEST_DSN``) share the prefix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import attrs
import platformdirs
import yaml

from chatview_identity import InvalidPublicKeyError, parse_public_key

from ._errors import ConfigError

__all__ = [
    "CONFIG_KEYS",
    "ConfigKey",
    "ServerConfig",
    "format_duration",
    "load_config",
    "parse_duration",
    "parse_listen_addr",
]

ENV_PREFIX: Final = "CHATVIEW_"

# Error messages quote at most this many characters of a bad value.
_QUOTE_LIMIT: Final = 80

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_DURATION_UNITS: Final = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_SIZE_PATTERN = re.compile(r"(\d+)\s*(b|kb|kib|mb|mib)?", re.IGNORECASE)
_SIZE_UNITS: Final = {"b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2}
_TRUE_WORDS: Final = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS: Final = frozenset({"0", "false", "no", "off"})


def quote_value(value: object) -> str:
    """Return `value` quoted for an error message, shortened when long."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= _QUOTE_LIMIT:
        return repr(text)
    return repr(text[:_QUOTE_LIMIT]) + f"... ({len(text)} characters)"


def parse_duration(text: str) -> timedelta:
    """Parse a duration such as ``30s``, ``5m``, ``24h``, ``1h30m`` or ``250ms``.

    Raises:
        ValueError: the text is not a sequence of number-unit pairs.
    """
    compact = text.strip()
    if not compact:
        msg = "empty duration"
        raise ValueError(msg)

    seconds = 0.0
    position = 0
    for match in _DURATION_PART.finditer(compact):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if position != len(compact):
        msg = "not a duration"
        raise ValueError(msg)
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Format a duration the way `parse_duration` reads it, e.g. ``1h30m`` or ``250ms``."""
    total_ms = round(value.total_seconds() * 1000)
    if total_ms == 0:
        return "0s"
    if total_ms % 1000:
        return f"{total_ms}ms"

    seconds = total_ms // 1000
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def parse_listen_addr(text: str) -> tuple[str, int]:
    """Split ``host:port`` into the host and the port; an empty host means every interface.

    Accepted: ``:50051``, ``127.0.0.1:0``, ``[::1]:50051``, ``localhost:50051``.

    Raises:
        ValueError: no port, a port outside 0..65535, or a bracketed host not closed.
    """
    host, separator, port_text = text.strip().rpartition(":")
    if not separator:
        msg = "expected host:port, e.g. :50051 or 127.0.0.1:50051"
        raise ValueError(msg)
    if host.startswith("["):
        if not host.endswith("]"):
            msg = "IPv6 host must be in brackets, e.g. [::1]:50051"
            raise ValueError(msg)
        host = host[1:-1]
    elif ":" in host:
        msg = "IPv6 host must be in brackets, e.g. [::1]:50051"
        raise ValueError(msg)
    if not port_text.isdigit() or int(port_text) > 65535:
        msg = "port must be a number from 0 to 65535"
        raise ValueError(msg)
    return host, int(port_text)


# -- value parsers: raw value (str from env/flags, any YAML scalar) -> typed value -----


def _parse_str(raw: object) -> str:
    if isinstance(raw, bool | int | float):
        return str(raw)
    if not isinstance(raw, str):
        msg = "expected a text value"
        raise TypeError(msg)
    return raw.strip()


def _parse_bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    word = _parse_str(raw).lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    msg = "expected true or false"
    raise ValueError(msg)


def _parse_positive_duration(raw: object) -> timedelta:
    if isinstance(raw, bool | int | float):
        msg = "a duration needs a unit, e.g. 30s, 5m, 24h or 1h30m"
        raise ValueError(msg)
    try:
        value = parse_duration(_parse_str(raw))
    except ValueError:
        msg = "not a duration; use e.g. 30s, 5m, 24h or 1h30m"
        raise ValueError(msg) from None
    if value <= timedelta(0):
        msg = "must be longer than 0s"
        raise ValueError(msg)
    return value


def _parse_duration_or_zero(raw: object) -> timedelta:
    if _parse_str(raw) in ("0", "0s"):
        return timedelta(0)
    return _parse_positive_duration(raw)


def _int_parser(minimum: int, maximum: int) -> Callable[[object], int]:
    def parse(raw: object) -> int:
        if isinstance(raw, bool):
            msg = "expected a whole number"
            raise TypeError(msg)
        if isinstance(raw, int):
            value = raw
        else:
            text = _parse_str(raw)
            if not re.fullmatch(r"-?\d+", text):
                msg = "expected a whole number"
                raise ValueError(msg)
            value = int(text)
        if not minimum <= value <= maximum:
            msg = f"must be from {minimum} to {maximum}"
            raise ValueError(msg)
        return value

    return parse


def _parse_positive_float(raw: object) -> float:
    try:
        value = float(_parse_str(raw)) if not isinstance(raw, bool) else float("nan")
    except ValueError:
        msg = "expected a number"
        raise ValueError(msg) from None
    if not value > 0:
        msg = "must be a number above 0"
        raise ValueError(msg)
    return value


def _parse_size(raw: object) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    else:
        match = _SIZE_PATTERN.fullmatch(_parse_str(raw))
        if match is None:
            msg = "not a size; use bytes or a unit, e.g. 1048576, 512KiB or 4MiB"
            raise ValueError(msg)
        value = int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()]
    if not 1024 <= value <= 256 * 1024**2:
        msg = "must be from 1KiB to 256MiB"
        raise ValueError(msg)
    return value


def _choice_parser(*choices: str) -> Callable[[object], str]:
    def parse(raw: object) -> str:
        value = _parse_str(raw).lower()
        if value not in choices:
            msg = "expected one of " + ", ".join(choices)
            raise ValueError(msg)
        return value

    return parse


def _parse_listen_addr(raw: object) -> str:
    text = _parse_str(raw)
    parse_listen_addr(text)
    return text


def _parse_public_key_or_empty(raw: object) -> str:
    text = _parse_str(raw)
    if not text:
        return ""
    try:
        return parse_public_key(text).hex
    except InvalidPublicKeyError:
        msg = "not a public key; expected 64 hex characters or base64 of 32 bytes"
        raise ValueError(msg) from None


def _parse_nats_urls(raw: object) -> str:
    urls = [url.strip() for url in _parse_str(raw).split(",") if url.strip()]
    if not urls:
        msg = "expected at least one URL, e.g. nats://127.0.0.1:4222"
        raise ValueError(msg)
    for url in urls:
        if urlsplit(url).scheme not in ("nats", "tls") or not urlsplit(url).hostname:
            msg = "expected nats://host:port or tls://host:port URLs, separated by commas"
            raise ValueError(msg)
    return ",".join(urls)


def _parse_listen_addr_or_empty(raw: object) -> str:
    text = _parse_str(raw)
    if text:
        parse_listen_addr(text)
    return text


def _parse_nats_subject(raw: object) -> str:
    subject = _parse_str(raw)
    # Wildcards would make the processes listen to other clusters' subjects.
    if not re.fullmatch(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*", subject):
        msg = "expected dot-separated tokens of letters, digits, - and _, e.g. chatview.hub"
        raise ValueError(msg)
    return subject


def _parse_path_or_empty(raw: object) -> str:
    text = _parse_str(raw)
    return str(Path(text).expanduser()) if text else ""


@attrs.frozen
class ConfigKey:
    """One configuration key: its parser, default and description."""

    name: str
    parse: Callable[[object], Any]
    default: object
    """The default as it would be written in YAML; parsed like any other value."""
    help: str
    secret: bool = False
    """Hidden by ``check-config`` (a DSN shows with its password replaced)."""

    @property
    def is_boolean(self) -> bool:
        """True for on/off keys, which take ``--flag`` / ``--no-flag`` on the command line."""
        return self.parse is _parse_bool

    @property
    def env_var(self) -> str:
        """The environment variable that sets this key."""
        return ENV_PREFIX + self.name.upper()

    @property
    def flag(self) -> str:
        """The command-line flag that sets this key."""
        return "--" + self.name.replace("_", "-")


def _default_data_dir() -> str:
    return platformdirs.user_data_dir("chatview-server", appauthor=False)


CONFIG_KEYS: Final[tuple[ConfigKey, ...]] = (
    ConfigKey(
        "listen_addr",
        _parse_listen_addr,
        ":50051",
        "host:port to serve on; port 0 picks a free port",
    ),
    ConfigKey(
        "data_dir",
        _parse_path_or_empty,
        "",
        "folder for the embedded PostgreSQL; empty: the user data folder",
    ),
    ConfigKey(
        "db_dsn",
        _parse_str,
        "",
        "PostgreSQL URL; empty: start an embedded PostgreSQL in data_dir",
        secret=True,
    ),
    ConfigKey("db_pool_size", _int_parser(1, 200), 10, "database connections kept open"),
    ConfigKey("skip_migrations", _parse_bool, False, "do not apply database migrations at start"),
    ConfigKey(
        "tls_cert", _parse_path_or_empty, "", "PEM certificate chain file; TLS is on when set"
    ),
    ConfigKey("tls_key", _parse_path_or_empty, "", "PEM private key file of tls_cert"),
    ConfigKey("admin_pub_key", _parse_public_key_or_empty, "", "public key made an admin at start"),
    ConfigKey("session_ttl", _parse_positive_duration, "24h", "how long a login session lasts"),
    ConfigKey(
        "challenge_ttl",
        _parse_positive_duration,
        "5m",
        "how long a login challenge may be answered",
    ),
    ConfigKey(
        "cleanup_interval",
        _parse_positive_duration,
        "10m",
        "period of deleting expired challenges and sessions",
    ),
    ConfigKey(
        "event_backend",
        _choice_parser("local", "postgres", "nats"),
        "local",
        "how live events reach other server processes: local (one process), postgres or nats",
    ),
    ConfigKey(
        "nats_url",
        _parse_nats_urls,
        "nats://127.0.0.1:4222",
        "with event_backend nats: NATS server URLs, separated by commas",
        secret=True,
    ),
    ConfigKey(
        "nats_subject",
        _parse_nats_subject,
        "chatview.hub",
        "with event_backend nats: the subject of one cluster; clusters sharing a NATS differ",
    ),
    ConfigKey(
        "presence_heal_interval",
        _parse_positive_duration,
        "5m",
        "with event_backend postgres or nats: heartbeat silence after which a process is dead",
    ),
    ConfigKey(
        "log_format",
        _choice_parser("auto", "console", "json"),
        "auto",
        "console, json, or auto (console on a terminal, json otherwise)",
    ),
    ConfigKey(
        "log_level",
        _choice_parser("debug", "info", "warning", "error"),
        "info",
        "lowest level logged",
    ),
    ConfigKey(
        "metrics_addr",
        _parse_listen_addr_or_empty,
        "",
        "host:port of the Prometheus /metrics endpoint, e.g. 127.0.0.1:9464; empty: off",
    ),
    ConfigKey(
        "max_message_chars",
        _int_parser(1, 4000),
        4000,
        "maximum message and broadcast length in code points",
    ),
    ConfigKey(
        "max_grpc_message_bytes",
        _parse_size,
        "1MiB",
        "maximum size of one gRPC message, received or sent",
    ),
    ConfigKey(
        "login_rate_per_minute",
        _parse_positive_float,
        30,
        "RequestChallenge and Login calls per client address per minute",
    ),
    ConfigKey(
        "send_rate_per_second",
        _parse_positive_float,
        10,
        "SendMessage calls per user per second, sustained",
    ),
    ConfigKey(
        "send_burst",
        _int_parser(1, 10_000),
        20,
        "SendMessage calls per user allowed at once above the sustained rate",
    ),
    ConfigKey(
        "event_queue_size",
        _int_parser(1, 100_000),
        256,
        "events a stream may hold unread before it is closed",
    ),
    ConfigKey(
        "keepalive_time",
        _parse_positive_duration,
        "30s",
        "idle time after which the server pings a client",
    ),
    ConfigKey(
        "keepalive_timeout",
        _parse_positive_duration,
        "10s",
        "how long the server waits for a ping reply",
    ),
    ConfigKey(
        "keepalive_min_ping_interval",
        _parse_positive_duration,
        "10s",
        "shortest interval of client pings the server accepts",
    ),
    ConfigKey(
        "shutdown_grace",
        _parse_duration_or_zero,
        "10s",
        "how long running calls may finish after SIGTERM or SIGINT",
    ),
)

_KEYS_BY_NAME: Final = {key.name: key for key in CONFIG_KEYS}


@attrs.frozen
class ServerConfig:
    """The effective configuration, every value parsed and checked."""

    listen_addr: str
    data_dir: Path
    db_dsn: str
    db_pool_size: int
    skip_migrations: bool
    tls_cert: str
    tls_key: str
    admin_pub_key: str
    session_ttl: timedelta
    challenge_ttl: timedelta
    cleanup_interval: timedelta
    event_backend: str
    nats_url: str
    nats_subject: str
    presence_heal_interval: timedelta
    log_format: str
    log_level: str
    metrics_addr: str
    max_message_chars: int
    max_grpc_message_bytes: int
    login_rate_per_minute: float
    send_rate_per_second: float
    send_burst: int
    event_queue_size: int
    keepalive_time: timedelta
    keepalive_timeout: timedelta
    keepalive_min_ping_interval: timedelta
    shutdown_grace: timedelta

    @property
    def tls_enabled(self) -> bool:
        """True when a certificate and key are configured."""
        return bool(self.tls_cert)

    def describe(self) -> dict[str, object]:
        """Return every key with a printable value, secrets hidden, for ``check-config``."""
        shown: dict[str, object] = {}
        for key in CONFIG_KEYS:
            value = getattr(self, key.name)
            if isinstance(value, timedelta):
                value = format_duration(value)
            elif isinstance(value, float) and value.is_integer():
                value = int(value)
            elif isinstance(value, Path):
                value = str(value)
            if key.name == "nats_url":
                value = hide_nats_credentials(value)
            elif key.secret:
                value = hide_dsn_password(value)
            shown[key.name] = value
        return shown


def hide_dsn_password(dsn: str) -> str:
    """Return `dsn` with any password replaced by ``***``."""
    if not dsn:
        return dsn
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return "***"
    # A password can also hide in the query string (?password=...).
    query = re.sub(r"(?i)(password=)[^&]*", r"\1***", parts.query)
    netloc = parts.netloc
    if parts.password is not None:
        user_part, _, host_part = netloc.rpartition("@")
        user = user_part.split(":", 1)[0]
        netloc = f"{user}:***@{host_part}"
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def hide_nats_credentials(urls: str) -> str:
    """Return comma-separated NATS `urls` with any user, password or token replaced by ``***``.

    A NATS token sits where a user name would, so the whole user part is hidden.
    """
    shown = []
    for url in urls.split(","):
        parts = urlsplit(url)
        if "@" in parts.netloc:
            netloc = "***@" + parts.netloc.rpartition("@")[2]
            url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        shown.append(url)
    return ",".join(shown)


def read_yaml_file(path: Path) -> dict[str, object]:
    """Read a YAML configuration file into a mapping of key to raw value.

    Raises:
        ConfigError: the file cannot be read, is not YAML, or is not a mapping.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"cannot read config file {str(path)!r}: {exc.strerror or exc}"
        raise ConfigError(msg, key="config", value=str(path)) from None
    except UnicodeDecodeError:
        msg = f"config file {str(path)!r} is not UTF-8 text"
        raise ConfigError(msg, key="config", value=str(path)) from None

    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        msg = f"config file {str(path)!r} is not valid YAML{where}"
        raise ConfigError(msg, key="config", value=str(path)) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        msg = f"config file {str(path)!r} must be a mapping of keys to values"
        raise ConfigError(msg, key="config", value=str(path))
    return {str(key): value for key, value in loaded.items()}


def load_config(
    *,
    yaml_values: Mapping[str, object] | None = None,
    yaml_source: str = "config file",
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, object] | None = None,
) -> ServerConfig:
    """Layer defaults < YAML < environment < flags and return the checked configuration.

    Args:
        yaml_values: keys and raw values of the YAML file, if one was given.
        yaml_source: how to name the YAML file in error messages.
        environ: the environment; ``os.environ`` when None.
        flags: values from command-line flags; None values mean "not given".

    Raises:
        ConfigError: an unknown key, a value that does not parse, or values that do
            not fit together (for example a TLS certificate without its key).
    """
    environ = os.environ if environ is None else environ
    raw: dict[str, tuple[object, str]] = {key.name: (key.default, "default") for key in CONFIG_KEYS}

    for name, value in (yaml_values or {}).items():
        if name not in _KEYS_BY_NAME:
            msg = f"unknown config key {name!r} in {yaml_source}; known keys: " + ", ".join(
                sorted(_KEYS_BY_NAME)
            )
            raise ConfigError(msg, key=name, value=value)
        raw[name] = (value, yaml_source)
    for key in CONFIG_KEYS:
        if key.env_var in environ:
            raw[key.name] = (environ[key.env_var], f"environment variable {key.env_var}")
    for name, value in (flags or {}).items():
        if value is not None:
            raw[name] = (value, f"flag {_KEYS_BY_NAME[name].flag}")

    parsed: dict[str, Any] = {}
    for key in CONFIG_KEYS:
        value, source = raw[key.name]
        try:
            parsed[key.name] = key.parse(value)
        except (ValueError, TypeError) as exc:
            shown = "***" if key.secret else quote_value(value)
            msg = f"invalid value {shown} for config key {key.name} (from {source}): {exc}"
            raise ConfigError(msg, key=key.name, value=value) from None

    if not parsed["data_dir"]:
        parsed["data_dir"] = _default_data_dir()
    parsed["data_dir"] = Path(parsed["data_dir"])
    config = ServerConfig(**parsed)
    _check_tls(config)
    return config


def _check_tls(config: ServerConfig) -> None:
    if bool(config.tls_cert) != bool(config.tls_key):
        missing = "tls_key" if config.tls_cert else "tls_cert"
        given = "tls_cert" if config.tls_cert else "tls_key"
        msg = f"config key {given} is set but {missing} is empty; TLS needs both files"
        raise ConfigError(msg, key=missing, value="")
    for name in ("tls_cert", "tls_key"):
        path = getattr(config, name)
        if not path:
            continue
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            msg = (
                f"cannot read {name} file {path!r}: {exc.strerror or exc}; "
                "check the path and its permissions"
            )
            raise ConfigError(msg, key=name, value=path) from None
        if b"-----BEGIN" not in data:
            msg = f"{name} file {path!r} is not PEM (no '-----BEGIN' line)"
            raise ConfigError(msg, key=name, value=path)
