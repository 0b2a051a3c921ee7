"""The ``chatview-server`` command line.

::

    chatview-server [serve] [--config FILE] [--KEY VALUE ...] [--port-file PATH]
    chatview-server check-config [--config FILE] [--KEY VALUE ...]
    chatview-server db upgrade [REVISION] | downgrade REVISION | current  [options]

Exit status: 0 after a clean stop, 1 when start-up fails (database, migration,
port), 2 for a usage or configuration error, in which case nothing was started.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, NoReturn

import structlog
import yaml

from ._config import CONFIG_KEYS, ServerConfig, load_config, read_yaml_file
from ._errors import ConfigError, StartupError
from ._logging import configure_logging

__all__ = ["main"]

PROG: Final = "chatview-server"
EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2

_COMMANDS: Final = frozenset({"serve", "check-config", "db"})

_log = structlog.get_logger("chatview_server")


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, like configuration errors."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see {self.prog} --help)")


def _config_options() -> _Parser:
    parent = _Parser(add_help=False)
    group = parent.add_argument_group("configuration (flags override environment and file)")
    group.add_argument(
        "--config", metavar="FILE", type=Path, help="YAML file with configuration keys"
    )
    for key in CONFIG_KEYS:
        help_text = f"{key.help} [env {key.env_var}; default {key.default!r}]"
        if key.is_boolean:
            group.add_argument(
                key.flag,
                dest=key.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
        else:
            group.add_argument(key.flag, dest=key.name, metavar="VALUE", help=help_text)
    return parent


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of every subcommand."""
    common = _config_options()
    parser = _Parser(
        prog=PROG,
        description="ChatView reference server. With no command, 'serve'.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve_parser = commands.add_parser(
        "serve",
        parents=[common],
        help="run the server (the default)",
        description="Run the server.",
    )
    serve_parser.add_argument(
        "--port-file",
        metavar="PATH",
        type=Path,
        help="write the bound host:port here once serving (removed at a clean stop)",
    )

    commands.add_parser(
        "check-config",
        parents=[common],
        help="print the effective configuration (secrets hidden) and exit",
        description="Print the effective configuration, secrets hidden; exit 2 when invalid.",
    )

    db_parser = commands.add_parser("db", help="database migrations", description="Run migrations.")
    db_commands = db_parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = db_commands.add_parser("upgrade", parents=[common], help="migrate up")
    upgrade.add_argument("revision", nargs="?", default="head", help="target (default: head)")
    downgrade = db_commands.add_parser("downgrade", parents=[common], help="migrate down")
    downgrade.add_argument("revision", help="target revision, or 'base' to drop everything")
    db_commands.add_parser("current", parents=[common], help="print the current revision")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or (args_list[0] not in _COMMANDS and args_list[0] not in ("-h", "--help")):
        args_list.insert(0, "serve")

    try:
        args = build_parser().parse_args(args_list)
        config = _load(args)
    except (_UsageError, ConfigError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    if args.command == "check-config":
        shown = config.describe()
        print(yaml.safe_dump(shown, sort_keys=False, allow_unicode=True), end="")
        return EXIT_OK

    configure_logging(config.log_format, config.log_level)
    # Imported only now: gRPC, SQLAlchemy and Alembic take a second or two to load,
    # which a configuration error need not wait for.
    from ._app import serve

    try:
        if args.command == "db":
            asyncio.run(_run_db_command(config, args.db_command, getattr(args, "revision", None)))
        else:
            asyncio.run(serve(config, port_file=args.port_file))
    except StartupError as exc:
        _log.error("server.start_failed", error=str(exc))
        return EXIT_FAILURE
    return EXIT_OK


def _load(args: argparse.Namespace) -> ServerConfig:
    yaml_values: dict[str, object] | None = None
    yaml_source = "config file"
    if args.config is not None:
        yaml_values = read_yaml_file(args.config)
        yaml_source = f"config file {str(args.config)!r}"
    flags: dict[str, Any] = {key.name: getattr(args, key.name) for key in CONFIG_KEYS}
    return load_config(yaml_values=yaml_values, yaml_source=yaml_source, flags=flags)


async def _run_db_command(config: ServerConfig, action: str, revision: str | None) -> None:
    from . import migrations
    from ._embedded import EmbeddedPostgres

    embedded: EmbeddedPostgres | None = None
    dsn = config.db_dsn
    try:
        if not dsn:
            embedded = EmbeddedPostgres(config.data_dir)
            dsn = await embedded.start()
        try:
            if action == "upgrade":
                await asyncio.to_thread(migrations.upgrade, dsn, revision or "head")
            elif action == "downgrade":
                await asyncio.to_thread(migrations.downgrade, dsn, revision or "base")
            result = await asyncio.to_thread(migrations.current, dsn)
        except Exception as exc:
            msg = f"migration {action} failed: {type(exc).__name__}: {exc}"
            raise StartupError(msg) from exc
        print(result or "none (the database was never migrated)")
    finally:
        if embedded is not None:
            await embedded.stop()
