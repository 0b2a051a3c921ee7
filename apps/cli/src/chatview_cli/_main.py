"""The ``chatview`` command: every subcommand is a few calls of chatview_client.

The CLI contains no protocol logic. It reads options into a `ClientConfig`, gets the PIN,
unlocks the identity, opens a `ChatClient`, calls it, and prints the result; errors end
the process with one line on standard error and an exit status from `ExitStatus`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import attrs
import click
import structlog

from chatview_client import (
    ChatClient,
    ClientConfig,
    ConnectionFailedError,
    ConnectionState,
    ConnectionStateChanged,
    FriendStatusChanged,
    IdentityStore,
    Message,
    MessageState,
    MessageStateChanged,
    NewMessage,
    OutboxState,
    load_config,
)
from chatview_identity import KeyFileExistsError, KeyFileNotFoundError, KeyPair

from ._exit import ExitStatus, exit_status_for
from ._output import describe_event, event_name, format_friend, format_message, to_json
from ._pin import read_new_pin, read_pin, read_secret_file

__all__ = ["cli", "main"]

_T = TypeVar("_T")


@attrs.define
class _State:
    """The settings from the global options, passed to every subcommand."""

    config_path: Path | None
    overrides: dict[str, Any]
    pin_file: Path | None
    json: bool
    _config: ClientConfig | None = None

    @property
    def config(self) -> ClientConfig:
        if self._config is None:
            self._config = load_config(self.config_path, **self.overrides)
        return self._config

    @property
    def identity(self) -> IdentityStore:
        return IdentityStore.for_config(self.config)

    def emit(self, human: str, data: Any = None, **extra: Any) -> None:
        """Print a result: `human` normally, `data` as JSON with --json."""
        if self.json:
            click.echo(to_json(data if data is not None else {}, **extra))
        else:
            click.echo(human)


def _configure_logging(verbosity: int) -> None:
    # The library only emits; the application chooses. Errors already print as one
    # line of their own, so logs stay quiet unless asked for, and go to stderr so
    # that standard output contains results only.
    levels = {0: logging.CRITICAL, 1: logging.INFO}
    level = levels.get(verbosity, logging.DEBUG)
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )


def _run(work: Coroutine[Any, Any, _T]) -> _T:
    """Run a command's coroutine; map its errors to one line and an exit status."""
    try:
        return asyncio.run(work)
    except click.ClickException:
        raise
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as exc:
        status = exit_status_for(exc)
        click.echo(f"chatview: error: {_error_text(exc)}", err=True)
        raise SystemExit(int(status)) from None


def _error_text(exc: Exception) -> str:
    """Return one sentence for an error: no errno, the path once, the next step."""
    if isinstance(exc, KeyFileNotFoundError):
        return (
            f"no identity at {exc.filename!r}; create one with 'chatview id create' "
            "or import one with 'chatview id import'"
        )
    if isinstance(exc, KeyFileExistsError):
        return (
            f"an identity already exists at {exc.filename!r}; use it, or add --force to "
            "replace it (the identity it holds is then lost)"
        )
    if isinstance(exc, OSError) and exc.strerror:
        # str() of an OSError reads "[Errno N] text: 'path'", so keep the text and path.
        text = exc.strerror
        if exc.filename is not None and str(exc.filename) not in text:
            text = f"{text}: {str(exc.filename)!r}"
        return text
    return str(exc) or type(exc).__name__


async def _unlock(state: _State) -> KeyPair:
    identity = state.identity
    if not identity.exists():
        # `_error_text` words it, with the path and how to make one.
        raise KeyFileNotFoundError(identity.key_file.path, "no identity")
    return await identity.unlock(read_pin(state.pin_file))


def _one_shot(state: _State, keypair: KeyPair) -> ChatClient:
    """Make a client for a command that ends soon. It opens no event stream, so friends
    who listen do not see this user go online and offline for every command."""
    return ChatClient(state.config, keypair, subscribe_events=False)


async def _names(client: ChatClient) -> dict[str, str]:
    """Return the aliases of the cached contacts that have one, by public key."""
    return {friend.public_key: friend.alias for friend in await client.friends() if friend.alias}


@contextlib.asynccontextmanager
async def _online(state: _State) -> AsyncIterator[ChatClient]:
    """Open a one-shot client and wait until it is logged in."""
    keypair = await _unlock(state)
    async with _one_shot(state, keypair) as client:
        await client.wait_online(timeout=state.config.grpc_timeout)
        yield client


@contextlib.asynccontextmanager
async def _maybe_online(state: _State) -> AsyncIterator[tuple[ChatClient, bool]]:
    """Open a one-shot client; yield it and whether it reached the server (reads use
    the cache)."""
    keypair = await _unlock(state)
    async with _one_shot(state, keypair) as client:
        try:
            await client.wait_online(timeout=state.config.grpc_timeout)
        except ConnectionFailedError as exc:
            click.echo(f"chatview: warning: showing cached data; {exc}", err=True)
            yield client, False
        else:
            yield client, True


# --- the command group ---------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="YAML config file.")
@click.option("--server", "grpc_target", help="Server address, host:port (grpc_target).")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Key file and cache folder.")
@click.option(
    "--tls/--no-tls", "grpc_tls", default=None, help="Use TLS (default: off on loopback)."
)
@click.option("--ca", "grpc_ca_path", type=click.Path(path_type=Path), help="CA certificate (PEM).")
@click.option("--tls-server-name", "grpc_ssl_target_name_override", help="Name in the certificate.")
@click.option("--timeout", "grpc_timeout", help="Per-call deadline, such as 10s.")
@click.option("--client-id", help="This device's name for the server.")
@click.option("--pin-file", type=click.Path(path_type=Path), help="Read the PIN from this file.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines for scripts.")
@click.option("-v", "--verbose", count=True, help="Log more to stderr (-v info, -vv debug).")
@click.pass_context
def cli(
    ctx: click.Context,
    config_path: Path | None,
    grpc_target: str | None,
    data_dir: Path | None,
    grpc_tls: bool | None,
    grpc_ca_path: Path | None,
    grpc_ssl_target_name_override: str | None,
    grpc_timeout: str | None,
    client_id: str | None,
    pin_file: Path | None,
    as_json: bool,
    verbose: int,
) -> None:
    """ChatView from the command line.

    The PIN comes from --pin-file, the CHATVIEW_PIN variable, or a prompt. Exit
    status: 0 ok, 1 other, 2 usage, 3 auth or identity, 4 network, 5 server refusal.
    """
    _configure_logging(verbose)
    ctx.obj = _State(
        config_path=config_path,
        overrides={
            "grpc_target": grpc_target,
            "data_dir": data_dir,
            "grpc_tls": grpc_tls,
            "grpc_ca_path": grpc_ca_path,
            "grpc_ssl_target_name_override": grpc_ssl_target_name_override,
            "grpc_timeout": grpc_timeout,
            "client_id": client_id,
        },
        pin_file=pin_file,
        json=as_json,
    )


pass_state = click.make_pass_decorator(_State)


# --- identity ------------------------------------------------------------------------


@cli.group("id")
def identity_group() -> None:
    """Create, import, export or inspect this data folder's identity."""


@identity_group.command("create")
@click.option("--force", is_flag=True, help="Replace an existing identity (it is lost).")
@pass_state
def id_create(state: _State, force: bool) -> None:
    """Make a new identity, encrypted under a new PIN."""

    async def work() -> None:
        pin = read_new_pin(state.pin_file)
        keypair = await state.identity.create(pin, overwrite=force)
        state.emit(keypair.public_key.hex, {"public_key": keypair.public_key.hex})

    _run(work())


@identity_group.command("import")
@click.option(
    "--key-file",
    type=click.Path(path_type=Path),
    help="File holding the private key hex; else standard input or a prompt.",
)
@click.option("--force", is_flag=True, help="Replace an existing identity (it is lost).")
@pass_state
def id_import(state: _State, key_file: Path | None, force: bool) -> None:
    """Store an existing private key (hex of the seed or of the 64-byte key)."""

    async def work() -> None:
        if key_file is not None:
            secret = read_secret_file(key_file, "private key")
        elif not sys.stdin.isatty():
            secret = sys.stdin.readline().strip()
        else:
            secret = click.prompt("Private key (hex)", hide_input=True)
        pin = read_new_pin(state.pin_file)
        keypair = await state.identity.import_key(pin, secret, overwrite=force)
        state.emit(keypair.public_key.hex, {"public_key": keypair.public_key.hex})

    _run(work())


@identity_group.command("export")
@pass_state
def id_export(state: _State) -> None:
    """Print the private key (hex seed). Anyone with it can act as you."""

    async def work() -> None:
        secret = await state.identity.export_key(read_pin(state.pin_file))
        click.echo("chatview: warning: this is your private key; keep it secret", err=True)
        state.emit(secret, {"private_key": secret})

    _run(work())


@identity_group.command("show")
@pass_state
def id_show(state: _State) -> None:
    """Print the public key (no PIN needed once the identity was used here)."""

    async def work() -> None:
        public_key = state.identity.public_key()
        if public_key is None:
            public_key = (await _unlock(state)).public_key.hex
        state.emit(
            public_key,
            {"public_key": public_key, "data_dir": str(state.config.data_dir)},
        )

    _run(work())


@identity_group.command("change-pin")
@click.option(
    "--new-pin-file",
    type=click.Path(path_type=Path),
    help="Read the new PIN from this file; else CHATVIEW_NEW_PIN or a prompt.",
)
@pass_state
def id_change_pin(state: _State, new_pin_file: Path | None) -> None:
    """Encrypt the key file under a new PIN."""

    async def work() -> None:
        old = read_pin(state.pin_file, prompt="Current PIN: ")
        new = read_new_pin(new_pin_file, env_name="CHATVIEW_NEW_PIN")
        await state.identity.change_pin(old, new)
        state.emit("PIN changed", {"changed": True})

    _run(work())


# --- session -------------------------------------------------------------------------


@cli.command("login")
@pass_state
def login(state: _State) -> None:
    """Check the PIN, reach the server and log in; print the session."""

    async def work() -> None:
        async with _online(state) as client:
            session = client.session
            assert session is not None
            expires = session.expires_at.isoformat() if session.expires_at else "unknown"
            state.emit(
                f"logged in to {state.config.grpc_target} as {session.public_key} "
                f"({session.role.name.lower()}), session expires {expires}",
                session,
                server=state.config.grpc_target,
            )

    _run(work())


@cli.group("friends", invoke_without_command=True)
@click.pass_context
def friends_group(ctx: click.Context) -> None:
    """List contacts (refreshed from the server when reachable), or add one."""
    if ctx.invoked_subcommand is not None:
        return
    state = ctx.find_object(_State)
    assert state is not None

    async def work() -> None:
        async with _maybe_online(state) as (client, online):
            if online:
                await client.catch_up()
            friends = await (client.refresh_friends() if online else client.friends())
            if state.json:
                for friend in friends:
                    click.echo(to_json(friend))
            elif not friends:
                # Printed to stderr because standard output contains results only.
                click.echo(
                    "No contacts yet; add one with: chatview friends add KEY --alias NAME",
                    err=True,
                )
            else:
                for friend in friends:
                    click.echo(format_friend(friend))

    _run(work())


@friends_group.command("add")
@click.argument("key")
@click.option("--alias", default="", help="Your name for the contact.")
@pass_state
def friends_add(state: _State, key: str, alias: str) -> None:
    """Add KEY to the contacts (or change its alias)."""

    async def work() -> None:
        async with _online(state) as client:
            friend = await client.add_friend(key, alias)
            state.emit(f"added {friend.public_key} {friend.alias}".rstrip(), friend)

    _run(work())


@cli.command("send")
@click.argument("key")
@click.argument("text", required=False)
@click.option("--wait/--no-wait", default=True, help="Wait until the server stored it.")
@pass_state
def send(state: _State, key: str, text: str | None, wait: bool) -> None:
    """Send TEXT (or standard input) to KEY.

    Without a connection the message stays in the outbox and goes out with the next
    command that connects; the exit status is then 4.
    """

    async def work() -> None:
        body = text if text is not None and text != "-" else sys.stdin.read().rstrip("\n")
        keypair = await _unlock(state)
        # The outbox sends once logged in; sending needs no event stream.
        async with _one_shot(state, keypair) as client:
            events = client.events()
            message = await client.send_message(key, body)
            if not wait:
                state.emit(f"queued {message.client_message_id}", message)
                return
            try:
                final = await asyncio.wait_for(
                    _delivery(client, events, message), state.config.grpc_timeout * 2
                )
            except TimeoutError:
                msg = (
                    f"could not reach the server at {state.config.grpc_target}; the message "
                    "stays in the outbox and is sent by the next command that connects"
                )
                raise ConnectionFailedError(msg) from None
            if final.state is MessageState.FAILED:
                click.echo(f"chatview: error: not sent: {final.error}", err=True)
                raise SystemExit(int(ExitStatus.REFUSED))
            state.emit(f"sent #{final.server_seq} to {final.peer}", final)

    _run(work())


async def _delivery(client: ChatClient, events: AsyncIterator[Any], message: Message) -> Message:
    """Wait until the outbox is done with `message`; return it as stored or failed.

    The state-change event alone is not enough: when a catch-up page brings the
    stored copy first, the cache row is already SENT and no change is reported.
    So the outbox itself is checked after every event and at least every 0.2 s.
    """
    key = message.client_message_id
    while True:
        entry = next((item for item in client.outbox() if item.client_message_id == key), None)
        if entry is None or entry.state is OutboxState.FAILED:
            stored = await client.history(message.peer, limit=100)
            for candidate in reversed(stored):
                if candidate.client_message_id == key and candidate.state is not (
                    MessageState.PENDING
                ):
                    return candidate
        try:
            event = await asyncio.wait_for(anext(events), 0.2)
        except TimeoutError:
            continue
        except StopAsyncIteration:
            msg = "the client closed before the message was sent"
            raise RuntimeError(msg) from None
        if (
            isinstance(event, MessageStateChanged)
            and event.message.client_message_id == key
            and event.message.state is not MessageState.PENDING
        ):
            return event.message


@cli.command("history")
@click.argument("key")
@click.option("--limit", default=30, show_default=True, type=click.IntRange(1, 100))
@click.option("--before", type=click.IntRange(1), help="Only messages before this seq.")
@pass_state
def history(state: _State, key: str, limit: int, before: int | None) -> None:
    """Show the conversation with KEY, oldest first."""

    async def work() -> None:
        async with _maybe_online(state) as (client, online):
            if online:
                # One-shot commands do not live long enough for the background catch-up.
                await client.catch_up()
            messages = await client.history(key, limit=limit, before=before)
            names = await _names(client)
            for message in messages:
                if state.json:
                    click.echo(to_json(message))
                else:
                    click.echo(format_message(message, client.public_key, names))

    _run(work())


@cli.command("read")
@click.argument("key")
@click.option("--up-to", type=click.IntRange(1), help="Last seq read; default the newest.")
@pass_state
def read(state: _State, key: str, up_to: int | None) -> None:
    """Mark the conversation with KEY as read."""

    async def work() -> None:
        async with _online(state) as client:
            await client.catch_up()
            seq = await client.mark_read(key, up_to)
            state.emit(f"read up to #{seq}", {"peer": key, "last_read_server_seq": seq})

    _run(work())


@cli.command("listen")
@click.option("--count", type=click.IntRange(1), help="Stop after this many new messages.")
@pass_state
def listen(state: _State, count: int | None) -> None:
    """Print events as they arrive, until interrupted (Ctrl-C)."""

    async def work() -> None:
        keypair = await _unlock(state)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with ChatClient(state.config, keypair) as client:
            events = client.events()
            names = await _names(client)
            seen = 0
            waiting = asyncio.ensure_future(stop.wait())
            try:
                while not stop.is_set():
                    getting = asyncio.ensure_future(anext(events))
                    done, _ = await asyncio.wait(
                        {getting, waiting}, return_when=asyncio.FIRST_COMPLETED
                    )
                    if getting not in done:
                        getting.cancel()
                        break
                    event = getting.result()
                    if isinstance(event, FriendStatusChanged) and event.alias:
                        names[event.public_key] = event.alias
                    _show(state, event, client.public_key, names)
                    if (
                        isinstance(event, ConnectionStateChanged)
                        and event.state is ConnectionState.OFFLINE
                    ):
                        # Offline while open means the server ended the session for
                        # good; wait_online raises the reason, which sets the exit status.
                        await client.wait_online(0.01)
                    if isinstance(event, NewMessage) and event.message.peer != client.public_key:
                        seen += 1
                        if count is not None and seen >= count:
                            break
            finally:
                waiting.cancel()

    _run(work())


def _show(state: _State, event: Any, me: str, names: dict[str, str]) -> None:
    if state.json:
        click.echo(to_json(event, event=event_name(event)))
        return
    line = describe_event(event, me, names)
    if line is None:
        return
    is_status = line.startswith(("--", "!!"))
    click.echo(line, err=is_status)


# --- admin ---------------------------------------------------------------------------


@cli.group("admin")
def admin_group() -> None:
    """Administration (admin accounts only)."""


@admin_group.command("users")
@pass_state
def admin_users(state: _State) -> None:
    """List every account."""

    async def work() -> None:
        async with _online(state) as client:
            overview = await client.admin_overview()
            for user in overview.users:
                if state.json:
                    click.echo(to_json(user))
                else:
                    flags = [user.role.name.lower()]
                    flags.append("online" if user.is_online else "offline")
                    if user.is_banned:
                        flags.append("banned")
                    click.echo(f"{user.public_key}  {' '.join(flags)}")

    _run(work())


@admin_group.command("stats")
@pass_state
def admin_stats(state: _State) -> None:
    """Show the server-wide counters."""

    async def work() -> None:
        async with _online(state) as client:
            stats = (await client.admin_overview()).stats
            state.emit(
                f"users {stats.total_users}, online {stats.online_users}, "
                f"banned {stats.banned_users}",
                stats,
            )

    _run(work())


def _admin_status(banned: bool) -> Callable[[_State, str], None]:
    def command(state: _State, key: str) -> None:
        async def work() -> None:
            async with _online(state) as client:
                await (client.ban(key) if banned else client.unban(key))
                verb = "banned" if banned else "unbanned"
                state.emit(f"{verb} {key}", {"public_key": key, "banned": banned})

        _run(work())

    return command


admin_group.command("ban", help="Ban KEY: its sessions end and it cannot log in.")(
    click.argument("key")(pass_state(_admin_status(banned=True)))
)
admin_group.command("unban", help="Lift the ban on KEY.")(
    click.argument("key")(pass_state(_admin_status(banned=False)))
)


@admin_group.command("broadcast")
@click.argument("text")
@pass_state
def admin_broadcast(state: _State, text: str) -> None:
    """Send TEXT to every user online now."""

    async def work() -> None:
        async with _online(state) as client:
            recipients = await client.broadcast(text)
            state.emit(f"broadcast to {recipients} users", {"recipients": recipients})

    _run(work())


def main() -> None:
    """Entry point of the ``chatview`` console script."""
    cli(prog_name="chatview")
