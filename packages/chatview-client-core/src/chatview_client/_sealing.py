"""End-to-end sealing of message bodies, on top of chatview_identity's sealed format.

The client seals a message when the peer's clients read sealed bodies
(`Friend.supports_sealed`) and opens every sealed message it receives, so only
plaintext (or the undecryptable mark) reaches the cache, and only ciphertext reaches
the server. The format is in ``docs/encryption.md``.
"""

from __future__ import annotations

from typing import Final

import attrs
import structlog

from chatview_identity import (
    KeyPair,
    SealedMessageError,
    open_message,
    parse_public_key,
    seal_message,
)

from ._values import Message

__all__ = ["SEALED_CAPABILITY", "UNDECRYPTABLE_TEXT", "Sealer"]

_log = structlog.get_logger(__name__)

SEALED_CAPABILITY: Final = "sealed-v1"
"""The capability name sent at login, so that contacts seal their messages to this user."""

UNDECRYPTABLE_TEXT: Final = "[Encrypted message that could not be decrypted]"
"""The text of a `Message` whose sealed body failed to open or authenticate."""


class Sealer:
    """Seals and opens one identity's message bodies. Holds the key pair in memory only."""

    def __init__(self, keypair: KeyPair) -> None:
        self._keypair = keypair
        self._me = keypair.public_key.hex

    def seal(self, peer: str, text: str, client_message_id: str) -> bytes:
        """Seal `text` for the conversation with `peer`, bound to `client_message_id`."""
        return seal_message(
            self._keypair, parse_public_key(peer), text, client_message_id=client_message_id
        )

    def open(self, message: Message, sealed: bytes) -> Message:
        """Return `message` with the opened text and `encrypted` set.

        A body that fails to open gives `undecryptable` and the fixed
        `UNDECRYPTABLE_TEXT`, never the server's placeholder or any received bytes.
        """
        try:
            peer = parse_public_key(message.peer)
            author = parse_public_key(message.sender)
            text = open_message(
                self._keypair,
                peer,
                sealed,
                author=author,
                # Only the author's devices learn the id, and there it must match.
                client_message_id=message.client_message_id if message.outgoing else None,
            )
        except (SealedMessageError, ValueError) as exc:
            _log.warning(
                "client.sealed.open_failed",
                peer=message.peer[:8],
                server_seq=message.server_seq,
                error=type(exc).__name__,
            )
            return attrs.evolve(
                message, text=UNDECRYPTABLE_TEXT, encrypted=True, undecryptable=True
            )
        return attrs.evolve(message, text=text, encrypted=True, undecryptable=False)
