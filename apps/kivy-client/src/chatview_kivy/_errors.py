"""Errors the app shows to a person.

The session layer turns every error of the client library into one
``SessionError`` whose ``problem`` says what went wrong in terms a screen can
translate; the library's own message stays in ``detail`` for the log::

    SessionError (Exception)
    └── problem: Problem     WRONG_PIN, BAD_PRIVATE_KEY, BAD_PUBLIC_KEY, BAD_MESSAGE,
                             OFFLINE, DENIED, NOT_FOUND, SERVER, OTHER
"""

from __future__ import annotations

import enum

from ._i18n import Translator

__all__ = ["Problem", "SessionError", "describe_error"]


class Problem(enum.Enum):
    """What kind of failure a ``SessionError`` reports."""

    WRONG_PIN = "wrong_pin"
    """The PIN does not open the key file."""
    BAD_PIN = "bad_pin"
    """The PIN cannot be used (empty)."""
    BAD_PRIVATE_KEY = "bad_private_key"
    """Pasted text is not a private key."""
    BAD_PUBLIC_KEY = "bad_public_key"
    """Pasted text is not a public key."""
    BAD_MESSAGE = "bad_message"
    """The message cannot be sent as written (too long, broken characters)."""
    OFFLINE = "offline"
    """The server cannot be reached now."""
    DENIED = "denied"
    """The server refused: banned, not an admin, or the session ended."""
    NOT_FOUND = "not_found"
    """The server knows no such user or message."""
    SERVER = "server"
    """The server failed."""
    OTHER = "other"
    """Anything else; ``detail`` says what."""


class SessionError(Exception):
    """An action of the session failed; ``problem`` says how, ``detail`` gives the cause."""

    def __init__(self, problem: Problem, detail: str = "") -> None:
        super().__init__(f"{problem.value}: {detail}" if detail else problem.value)
        self.problem = problem
        self.detail = detail


def describe_error(error: SessionError, tr: Translator) -> str:
    """Return a translated sentence for ``error``."""
    problem = error.problem
    if problem is Problem.WRONG_PIN:
        return tr._("Wrong PIN. Try again.")
    if problem is Problem.BAD_PIN:
        return tr._("Type a PIN.")
    if problem is Problem.BAD_PRIVATE_KEY:
        return tr._("That is not a private key. Paste the 64 hex digits you exported.")
    if problem is Problem.BAD_PUBLIC_KEY:
        return tr._("That is not a public key. Paste the key your friend shared.")
    if problem is Problem.BAD_MESSAGE:
        return tr._("This message cannot be sent: {reason}").format(reason=error.detail)
    if problem is Problem.OFFLINE:
        return tr._("The server cannot be reached. Check the address and your network.")
    if problem is Problem.DENIED:
        return tr._("The server refused: {reason}").format(reason=error.detail)
    if problem is Problem.NOT_FOUND:
        return tr._("The server does not know that user.")
    if problem is Problem.SERVER:
        return tr._("The server failed: {reason}").format(reason=error.detail)
    return tr._("Something went wrong: {reason}").format(reason=error.detail)
