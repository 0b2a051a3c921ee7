"""Login challenges: issued by the server, checked and signed by the client.

A challenge is ``CHALLENGE_PREFIX`` followed by ``CHALLENGE_RANDOM_BYTES`` random
bytes, 50 bytes in all. The client signs nothing else with its identity key: a server
that could get any bytes signed could have the client sign, say, a message in the
user's name. The fixed prefix also keeps a login signature from being valid as a
signature in any other ChatView context that does not start with the same prefix.
"""

from __future__ import annotations

import secrets
from typing import Final

import nacl.exceptions
import nacl.signing
import structlog

from ._errors import InvalidChallengeError, InvalidSignatureError
from ._keys import SIGNATURE_BYTES, KeyPair, PublicKey
from ._validation import require_type

__all__ = [
    "CHALLENGE_BYTES",
    "CHALLENGE_PREFIX",
    "CHALLENGE_RANDOM_BYTES",
    "check_challenge",
    "new_challenge",
    "sign_challenge",
    "verify_challenge_signature",
    "verify_signature",
]

CHALLENGE_PREFIX: Final = b"chatview-login-v1:"
CHALLENGE_RANDOM_BYTES: Final = 32
CHALLENGE_BYTES: Final = len(CHALLENGE_PREFIX) + CHALLENGE_RANDOM_BYTES

_log = structlog.get_logger(__name__)


def new_challenge() -> bytes:
    """Return a fresh login challenge for the server to issue: the prefix and 32 random bytes."""
    return CHALLENGE_PREFIX + secrets.token_bytes(CHALLENGE_RANDOM_BYTES)


def check_challenge(challenge: bytes) -> None:
    """Check that `challenge` has the exact size and prefix of a login challenge.

    Raises:
        InvalidChallengeError: the length is not 50 bytes or the prefix differs.
        TypeError: `challenge` is not bytes.
    """
    require_type(challenge, bytes, "login challenge")

    if len(challenge) != CHALLENGE_BYTES:
        msg = (
            f"login challenge is {len(challenge)} bytes; a ChatView login challenge is "
            f"{CHALLENGE_BYTES} bytes ({CHALLENGE_PREFIX!r} followed by "
            f"{CHALLENGE_RANDOM_BYTES} random bytes)"
        )
        raise InvalidChallengeError(msg)
    if not challenge.startswith(CHALLENGE_PREFIX):
        msg = (
            f"login challenge does not start with {CHALLENGE_PREFIX!r}; the server is "
            "not issuing ChatView login challenges"
        )
        raise InvalidChallengeError(msg)


def sign_challenge(keypair: KeyPair, challenge: bytes) -> bytes:
    """Check a login challenge, then return its 64-byte Ed25519 signature.

    Raises:
        InvalidChallengeError: as `check_challenge`; nothing is signed then.
    """
    try:
        check_challenge(challenge)
    except InvalidChallengeError:
        # A server sending anything else is misconfigured or trying to obtain a
        # signature over other data, so this is worth a warning on the client.
        _log.warning(
            "identity.challenge.sign_refused",
            public_key=keypair.public_key.short,
            length=len(challenge),
        )
        raise
    return keypair.sign(challenge)


def verify_signature(public_key: PublicKey, message: bytes, signature: bytes) -> bool:
    """Return whether `signature` is a valid Ed25519 signature of `message` by `public_key`.

    Never raises for a bad signature, including one of the wrong length: it returns
    False. libsodium rejects non-canonical signatures and low-order ``R`` points.

    Raises:
        TypeError: an argument has the wrong type.
    """
    require_type(public_key, PublicKey, "public_key")
    require_type(message, bytes, "message")
    require_type(signature, bytes, "signature")

    if len(signature) != SIGNATURE_BYTES:
        return False
    try:
        nacl.signing.VerifyKey(public_key.raw).verify(message, signature)
    except nacl.exceptions.BadSignatureError:
        return False
    return True


def verify_challenge_signature(public_key: PublicKey, challenge: bytes, signature: bytes) -> None:
    """Verify a login: `signature` must sign the exact `challenge` the server issued.

    The server looks up the challenge it issued (and its expiry) itself; this checks the
    shape and the signature only. It returns None on success so that a forgotten check
    of a boolean cannot let a login through.

    Raises:
        InvalidChallengeError: `challenge` is not a login challenge.
        InvalidSignatureError: the signature does not verify under `public_key`.
    """
    check_challenge(challenge)
    if not verify_signature(public_key, challenge, signature):
        msg = (
            f"login signature does not verify for public key {public_key.short}; "
            "request a new challenge and sign it with the key being logged in"
        )
        raise InvalidSignatureError(msg)
