"""``chatview-kivy``: start the app."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import structlog

__all__ = ["main"]


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="chatview-kivy", description="ChatView for desktops and tablets."
    )
    parser.add_argument(
        "--config", type=Path, help="client YAML configuration (default: CHATVIEW_CONFIG)"
    )
    parser.add_argument("--data-dir", type=Path, help="where the key, cache and settings live")
    parser.add_argument("--server", help="server as host:port, for this run only")
    parser.add_argument("--language", choices=["en", "zh_CN"], help="language for this run")
    parser.add_argument("--verbose", action="store_true", help="log debug details to stderr")
    return parser.parse_args(argv)


def _configure_logging(verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, stream=sys.stderr, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and run the app until its window closes."""
    args = _parse(argv)
    _configure_logging(args.verbose)
    # Kivy reads its own options from sys.argv unless told not to.
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    if not args.verbose:
        os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")

    from ._launch import build_app

    app = build_app(
        config_path=args.config,
        data_dir=args.data_dir,
        server=args.server,
        language=args.language,
    )
    from ._app import run_app

    asyncio.run(run_app(app))
