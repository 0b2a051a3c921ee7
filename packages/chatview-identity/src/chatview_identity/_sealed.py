"""End-to-end sealed message bodies between two identities.

A body is sealed with libsodium's ``crypto_box`` (X25519, XSalsa20-Poly1305) under X25519
keys converted from the two users' Ed25519 identity keys, so no other key exchange is
needed and every device that has an identity key can open its messages.

``crypto_box`` derives one shared key from (own X25519 secret, peer X25519 public), and
that key is the same from either side. So the author's own other devices, which hold the
author's identity, open what the author sealed to the peer, just as the peer does.

Layout of a sealed body, format version 1::

    version (1 byte, 0x01) || nonce (24 random bytes) || box(envelope) (16-byte tag + envelope)

    envelope = author key (32 bytes) || id length n (1 byte) || client_message_id (n bytes,
               UTF-8) || text (UTF-8)

The envelope names the author because the shared key is symmetric: without it, whoever
relays the bytes could present a message of A to B as a message of B to A. It carries the
idempotency key so the author's devices can tell a body was not moved from another
message. ``docs/encryption.md`` describes the format for other clients.
"""

from __future__ import annotations

from typing import Final

import nacl.exceptions
import nacl.public
import nacl.signing
import nacl.utils

from ._errors import SealedMessageError
from ._keys import PUBLIC_KEY_BYTES, KeyPair, PublicKey, seed_of
from ._validation import require_type

__all__ = [
    "SEALED_FORMAT_VERSION",
    "SEALED_OVERHEAD_BYTES",
    "open_message",
    "seal_message",
]

SEALED_FORMAT_VERSION: Final = 1
_NONCE_BYTES: Final = nacl.public.Box.NONCE_SIZE
_TAG_BYTES: Final = 16
_MAX_ID_BYTES: Final = 255
SEALED_OVERHEAD_BYTES: Final = 1 + _NONCE_BYTES + _TAG_BYTES + PUBLIC_KEY_BYTES + 1
"""Bytes a sealed body adds to the UTF-8 text, not counting the client_message_id."""

_MIN_SEALED_BYTES: Final = SEALED_OVERHEAD_BYTES


def _box(own: KeyPair, peer: PublicKey) -> nacl.public.Box:
    secret = nacl.signing.SigningKey(seed_of(own)).to_curve25519_private_key()
    public = nacl.signing.VerifyKey(peer.raw).to_curve25519_public_key()
    return nacl.public.Box(secret, public)


def seal_message(
    sender_keypair: KeyPair,
    receiver_public_key: PublicKey,
    plaintext: str,
    *,
    client_message_id: str = "",
) -> bytes:
    """Seal a message body so that only the two users can open it.

    Args:
        sender_keypair: the author's identity.
        receiver_public_key: the recipient's identity.
        plaintext: the body; any text without lone surrogates.
        client_message_id: the idempotency key the message is sent with, bound into
            the sealed body; at most 255 bytes of UTF-8.

    Returns:
        Format-version-1 bytes with a fresh random nonce: sealing the same text twice
        gives different bytes, so a retry must send the bytes of the first seal.

    Raises:
        SealedMessageError: the text or the id cannot be encoded, or the id is too long.
        TypeError: an argument has the wrong type.
    """
    require_type(sender_keypair, KeyPair, "sender_keypair")
    require_type(receiver_public_key, PublicKey, "receiver_public_key")
    require_type(plaintext, str, "plaintext")
    require_type(client_message_id, str, "client_message_id")
    try:
        body = plaintext.encode("utf-8")
        bound_id = client_message_id.encode("utf-8")
    except UnicodeEncodeError:
        msg = "the text or client_message_id has a lone surrogate and cannot be sealed"
        raise SealedMessageError(msg) from None
    if len(bound_id) > _MAX_ID_BYTES:
        msg = (
            f"client_message_id is {len(bound_id)} bytes of UTF-8; a sealed body binds "
            f"at most {_MAX_ID_BYTES}"
        )
        raise SealedMessageError(msg)

    envelope = sender_keypair.public_key.raw + bytes([len(bound_id)]) + bound_id + body
    nonce = nacl.utils.random(_NONCE_BYTES)
    sealed = _box(sender_keypair, receiver_public_key).encrypt(envelope, nonce)
    return bytes([SEALED_FORMAT_VERSION]) + bytes(sealed)


def open_message(
    own_keypair: KeyPair,
    peer_public_key: PublicKey,
    sealed: bytes,
    *,
    author: PublicKey,
    client_message_id: str | None = None,
) -> str:
    """Open a body sealed between this identity and a peer, in either direction.

    Args:
        own_keypair: the reader's identity: the recipient, or the author on another
            of the author's devices.
        peer_public_key: the other user of the conversation.
        sealed: the bytes `seal_message` returned.
        author: who the message claims to be from (own key or peer key); the body
            must name the same author.
        client_message_id: when given, the body must bind exactly this idempotency key.
            Only the author's devices learn it from the server.

    Returns:
        The text as the author wrote it.

    Raises:
        SealedMessageError: not sealed-format bytes, an unknown version, failed
            authentication, or another author or client_message_id than expected.
        TypeError: an argument has the wrong type.
        ValueError: `author` is neither the reader nor the peer.
    """
    require_type(own_keypair, KeyPair, "own_keypair")
    require_type(peer_public_key, PublicKey, "peer_public_key")
    require_type(sealed, bytes, "sealed")
    require_type(author, PublicKey, "author")
    if author not in (own_keypair.public_key, peer_public_key):
        msg = f"author {author.hex} is neither the reader nor the peer of this conversation"
        raise ValueError(msg)

    # 1. Framing: version byte and enough bytes for nonce, tag and envelope header.
    if len(sealed) < _MIN_SEALED_BYTES:
        msg = (
            f"sealed body is {len(sealed)} bytes; format version {SEALED_FORMAT_VERSION} "
            f"needs at least {_MIN_SEALED_BYTES}"
        )
        raise SealedMessageError(msg)
    if sealed[0] != SEALED_FORMAT_VERSION:
        msg = (
            f"sealed body has format version {sealed[0]}; this library reads version "
            f"{SEALED_FORMAT_VERSION} only, so a newer client wrote it"
        )
        raise SealedMessageError(msg)

    # 2. Authenticate and decrypt; any changed byte fails here.
    nonce = sealed[1 : 1 + _NONCE_BYTES]
    try:
        envelope = _box(own_keypair, peer_public_key).decrypt(sealed[1 + _NONCE_BYTES :], nonce)
    except nacl.exceptions.CryptoError:
        msg = (
            "sealed body failed authentication: it was changed, or sealed for another pair of users"
        )
        raise SealedMessageError(msg) from None

    # 3. The envelope: author, bound id, text. Only the other party could have
    # written these bytes, but check the framing anyway.
    bound_author = envelope[:PUBLIC_KEY_BYTES]
    id_length = envelope[PUBLIC_KEY_BYTES]
    id_end = PUBLIC_KEY_BYTES + 1 + id_length
    if len(envelope) < id_end:
        msg = "sealed body's envelope is shorter than its client_message_id length says"
        raise SealedMessageError(msg)
    if bound_author != author.raw:
        msg = f"sealed body names another author than {author.hex}; it was moved or reflected"
        raise SealedMessageError(msg)
    try:
        bound_id = envelope[PUBLIC_KEY_BYTES + 1 : id_end].decode("utf-8")
        text = envelope[id_end:].decode("utf-8")
    except UnicodeDecodeError:
        msg = "sealed body's envelope is not valid UTF-8"
        raise SealedMessageError(msg) from None
    if client_message_id is not None and bound_id != client_message_id:
        msg = (
            f"sealed body binds another client_message_id than {client_message_id!r}; "
            "it was moved from another message"
        )
        raise SealedMessageError(msg)
    return text
