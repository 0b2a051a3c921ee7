"""Sources of PINs and private keys: a file, the environment, or a hidden prompt."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

import click

__all__ = ["read_new_pin", "read_pin", "read_secret_file"]


def read_secret_file(path: Path, what: str) -> str:
    """Return the first line of a file, without its line end.

    Raises:
        click.UsageError: the file cannot be read or is empty.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"cannot read the {what} file {str(path)!r}: {exc.strerror or exc}"
        raise click.UsageError(msg) from None
    first = text.splitlines()[0] if text else ""
    if not first:
        msg = f"the {what} file {str(path)!r} is empty"
        raise click.UsageError(msg)
    return first


def _prompt(prompt: str, what: str, env_name: str, option: str) -> str:
    if not sys.stdin.isatty():
        msg = f"no {what} given: use {option}, set {env_name}, or run in a terminal"
        raise click.UsageError(msg)
    return getpass.getpass(prompt)


def read_pin(pin_file: Path | None, *, prompt: str = "PIN: ") -> str:
    """Return the PIN from `--pin-file`, else ``CHATVIEW_PIN``, else a hidden prompt."""
    if pin_file is not None:
        return read_secret_file(pin_file, "PIN")
    from_env = os.environ.get("CHATVIEW_PIN")
    if from_env:
        return from_env
    return _prompt(prompt, "PIN", "CHATVIEW_PIN", "--pin-file")


def read_new_pin(pin_file: Path | None, *, env_name: str = "CHATVIEW_PIN") -> str:
    """Return a new PIN from a file or the environment, else prompt twice to confirm."""
    if pin_file is not None:
        return read_secret_file(pin_file, "PIN")
    from_env = os.environ.get(env_name)
    if from_env:
        return from_env
    first = _prompt("New PIN: ", "PIN", env_name, "a PIN file option")
    second = getpass.getpass("Repeat the new PIN: ")
    if first != second:
        msg = "the two PINs differ; nothing was changed"
        raise click.UsageError(msg)
    return first
