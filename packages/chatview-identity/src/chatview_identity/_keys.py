"""Ed25519 public keys as ChatView identities, and the key pair that signs for one.

A user *is* a public key, so every accepted spelling of the same 32 bytes must map to
one value: `PublicKey` compares and hashes by its bytes, and its canonical text is 64
lowercase hex characters. `parse_public_key` accepts:

- hex: 64 hex digits in any letter case, optionally prefixed with ``0x`` or ``0X``;
- base64 of the 32 bytes, in the standard (``+/``) or URL-safe (``-_``) alphabet, with
  its single ``=`` of padding or without it (43 or 44 characters).

Whitespace around the text is ignored because copied keys often carry a newline. Text
that mixes the two base64 alphabets, has wrong padding or sets the unused low bits of
the last base64 character is rejected, so that each key has exactly one hex and at most
four base64 spellings. Decoded keys must also be valid Ed25519 points: libsodium's
``crypto_core_ed25519_is_valid_point`` rejects non-canonical encodings, points off the
curve, low-order points and points outside the prime-order subgroup. No key made by an
Ed25519 key generator fails that check, and a low-order key could have signatures that
verify for many messages.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import string
from typing import Any, Final, NoReturn, final

import attrs
import nacl.bindings
import nacl.signing

from ._errors import InvalidPrivateKeyError, InvalidPublicKeyError
from ._validation import require_type

__all__ = [
    "PUBLIC_KEY_BYTES",
    "SEED_BYTES",
    "SIGNATURE_BYTES",
    "KeyPair",
    "PublicKey",
    "canonical_public_key",
    "parse_public_key",
]

PUBLIC_KEY_BYTES: Final = 32
SEED_BYTES: Final = 32
SIGNATURE_BYTES: Final = 64
# libsodium's "secret key": the seed followed by the public key.
_LIBSODIUM_PRIVATE_KEY_BYTES: Final = SEED_BYTES + PUBLIC_KEY_BYTES

_HEX_DIGITS: Final = frozenset(string.hexdigits)
_BASE64_COMMON: Final = frozenset(string.ascii_letters + string.digits)
_BASE64_STANDARD_ONLY: Final = frozenset("+/")
_BASE64_URLSAFE_ONLY: Final = frozenset("-_")
# Base64 of 32 bytes: 43 characters, then one '=' when padded.
_BASE64_LENGTHS: Final = frozenset({43, 44})
# Error messages quote at most this much of a rejected text.
_QUOTE_LIMIT: Final = 80


def _quote(text: str) -> str:
    if len(text) <= _QUOTE_LIMIT:
        return repr(text)
    return repr(text[:_QUOTE_LIMIT]) + f"... ({len(text)} characters)"


def _check_public_key_bytes(_instance: object, _attribute: object, raw: bytes) -> None:
    require_type(raw, bytes, "public key")
    if len(raw) != PUBLIC_KEY_BYTES:
        msg = f"public key is {len(raw)} bytes long; an Ed25519 public key is 32 bytes"
        raise InvalidPublicKeyError(msg)
    if not nacl.bindings.crypto_core_ed25519_is_valid_point(raw):
        msg = (
            f"public key {raw.hex()} is not a valid Ed25519 point (low order, off the curve "
            "or not canonical); check that the whole key was copied"
        )
        raise InvalidPublicKeyError(msg)


@final
@attrs.frozen(repr=False)
class PublicKey:
    """An Ed25519 public key: a ChatView user's identity.

    Equal and hashed by its 32 bytes, whichever text it was parsed from.

    Raises:
        InvalidPublicKeyError: `raw` is not 32 bytes or not a valid Ed25519 point.
    """

    raw: bytes = attrs.field(validator=_check_public_key_bytes)
    """The 32 key bytes."""

    @property
    def hex(self) -> str:
        """The canonical text: 64 lowercase hex characters."""
        return self.raw.hex()

    @property
    def short(self) -> str:
        """The first 8 hex characters, for logs and compact UI; not unique."""
        return self.raw[:4].hex()

    def __str__(self) -> str:
        return self.hex

    def __repr__(self) -> str:
        return f"PublicKey({self.hex!r})"


def parse_public_key(text: str) -> PublicKey:
    """Parse a public key from hex or base64 text.

    Args:
        text: 64 hex digits (any case, optional ``0x``), or standard or URL-safe base64
            of 32 bytes, padded or not. Surrounding whitespace is ignored.

    Returns:
        The key; equal for every accepted spelling of the same bytes.

    Raises:
        InvalidPublicKeyError: the text is empty, has characters outside hex and base64,
            decodes to a length other than 32 bytes, or is not a valid Ed25519 point.
        TypeError: `text` is not a str.
    """
    require_type(text, str, "public key text")

    stripped = text.strip()
    if not stripped:
        msg = "public key is empty; expected 64 hex characters or base64 of 32 bytes"
        raise InvalidPublicKeyError(msg)

    # The length decides first. Base64 of 32 bytes is 43 or 44 characters and hex is
    # 64 (66 with "0x"), so even base64 that starts with "0x" is read as base64.
    has_prefix = stripped[:2] in ("0x", "0X")
    if has_prefix and len(stripped) == 2 + 2 * PUBLIC_KEY_BYTES:
        raw = _decode_hex(stripped[2:], original=text)
    elif len(stripped) in _BASE64_LENGTHS:
        raw = _decode_base64(stripped, original=text)
    elif has_prefix and set(stripped[2:]) <= _HEX_DIGITS:
        raw = _decode_hex(stripped[2:], original=text)
    elif len(stripped) == 2 * PUBLIC_KEY_BYTES or set(stripped) <= _HEX_DIGITS:
        # Wrong-length hex is reported as hex, in hex digits and bytes.
        raw = _decode_hex(stripped, original=text)
    else:
        raw = _decode_base64(stripped, original=text)
    return PublicKey(raw)


def canonical_public_key(text: str) -> str:
    """Return the canonical text (64 lowercase hex characters) of a public key.

    Raises:
        InvalidPublicKeyError: as `parse_public_key`.
    """
    return parse_public_key(text).hex


def _decode_hex(digits: str, *, original: str) -> bytes:
    for position, char in enumerate(digits):
        if char not in _HEX_DIGITS:
            msg = (
                f"public key {_quote(original)} is not valid hex: character {char!r} at "
                f"position {position} is not a hex digit"
            )
            raise InvalidPublicKeyError(msg)
    if len(digits) != 2 * PUBLIC_KEY_BYTES:
        msg = (
            f"public key {_quote(original)} has {len(digits)} hex digits "
            f"({len(digits) / 2:g} bytes); expected 64 hex digits (32 bytes)"
        )
        raise InvalidPublicKeyError(msg)
    return bytes.fromhex(digits)


def _decode_base64(text: str, *, original: str) -> bytes:
    body = text.rstrip("=")
    padding = len(text) - len(body)

    # 1. Alphabet: one of the two base64 alphabets, never both.
    for position, char in enumerate(body):
        if char not in _BASE64_COMMON | _BASE64_STANDARD_ONLY | _BASE64_URLSAFE_ONLY:
            msg = (
                f"public key {_quote(original)} has invalid character {char!r} at position "
                f"{position}; expected hex or base64"
            )
            raise InvalidPublicKeyError(msg)
    chars = set(body)
    if chars & _BASE64_STANDARD_ONLY and chars & _BASE64_URLSAFE_ONLY:
        msg = (
            f"public key {_quote(original)} mixes the standard (+/) and URL-safe (-_) "
            "base64 alphabets; use one of them"
        )
        raise InvalidPublicKeyError(msg)

    # 2. Length and padding. Every base64 group of 4 characters is 3 bytes.
    decoded_length = len(body) * 3 // 4
    if decoded_length != PUBLIC_KEY_BYTES:
        msg = (
            f"public key {_quote(original)} is {len(body)} base64 characters, which is "
            f"not 32 bytes (it would be {decoded_length}); expected 43 base64 characters "
            "plus optional '=' padding, or 64 hex digits"
        )
        raise InvalidPublicKeyError(msg)
    if padding not in (0, -len(body) % 4):
        msg = (
            f"public key {_quote(original)} has {padding} '=' padding characters; "
            "base64 of 32 bytes has one or none"
        )
        raise InvalidPublicKeyError(msg)

    # 3. Decode, then insist on the canonical spelling so that one key has no
    # hidden variants that differ only in the unused low bits.
    standard = body.translate(str.maketrans("-_", "+/"))
    try:
        raw = base64.b64decode(standard + "=", validate=True)
    except binascii.Error as exc:
        msg = f"public key {_quote(original)} is not valid base64: {exc}"
        raise InvalidPublicKeyError(msg) from None
    if base64.b64encode(raw).decode("ascii").rstrip("=") != standard:
        msg = (
            f"public key {_quote(original)} is not canonical base64: the last character "
            "sets bits that are not part of the key"
        )
        raise InvalidPublicKeyError(msg)
    return raw


@final
class KeyPair:
    """An Ed25519 private key and its public key: what signs for one identity.

    Build one with `generate`, `from_seed`, `from_private_key` or `from_hex`. Neither
    `repr()` nor `str()` shows key material, and instances refuse to be pickled, so the
    seed leaves only through an explicit `seed_hex()`. Equal and hashed by public key.
    """

    __slots__ = ("_public_key", "_signing_key")

    _signing_key: nacl.signing.SigningKey
    _public_key: PublicKey

    def __init__(self, signing_key: nacl.signing.SigningKey, /) -> None:
        """Wrap a PyNaCl signing key; prefer the ``from_*`` class methods."""
        require_type(signing_key, nacl.signing.SigningKey, "signing_key")
        self._signing_key = signing_key
        self._public_key = PublicKey(bytes(signing_key.verify_key))

    @classmethod
    def generate(cls) -> KeyPair:
        """Generate a new key pair from the operating system's random source."""
        return cls(nacl.signing.SigningKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> KeyPair:
        """Build the key pair of a 32-byte Ed25519 seed.

        Raises:
            InvalidPrivateKeyError: `seed` is not 32 bytes long.
        """
        require_type(seed, bytes, "seed")
        if len(seed) != SEED_BYTES:
            msg = f"Ed25519 seed is {len(seed)} bytes long; expected 32"
            raise InvalidPrivateKeyError(msg)
        return cls(nacl.signing.SigningKey(seed))

    @classmethod
    def from_private_key(cls, private_key: bytes) -> KeyPair:
        """Build a key pair from libsodium's 64-byte private key (seed, then public key).

        Raises:
            InvalidPrivateKeyError: not 64 bytes, or the public key half is not the one
                the seed half produces.
        """
        require_type(private_key, bytes, "private_key")
        if len(private_key) != _LIBSODIUM_PRIVATE_KEY_BYTES:
            msg = (
                f"Ed25519 private key is {len(private_key)} bytes long; expected 64 "
                "(32-byte seed followed by the 32-byte public key)"
            )
            raise InvalidPrivateKeyError(msg)
        keypair = cls.from_seed(private_key[:SEED_BYTES])
        if not hmac.compare_digest(keypair.public_key.raw, private_key[SEED_BYTES:]):
            msg = (
                "the public key half of the 64-byte private key does not match its seed; "
                "the key is damaged or was assembled from two different keys"
            )
            raise InvalidPrivateKeyError(msg)
        return keypair

    @classmethod
    def from_hex(cls, text: str) -> KeyPair:
        """Build a key pair from hex of a 32-byte seed or a 64-byte private key.

        Surrounding whitespace and a ``0x`` prefix are ignored; letter case is free.

        Raises:
            InvalidPrivateKeyError: not 64 or 128 hex digits, or as `from_private_key`.
            TypeError: `text` is not a str.
        """
        require_type(text, str, "private key hex")
        digits = text.strip()
        if digits[:2] in ("0x", "0X"):
            digits = digits[2:]
        # Positions only: even one character of a private key is not for messages.
        for position, char in enumerate(digits):
            if char not in _HEX_DIGITS:
                msg = f"private key hex has a character that is not a hex digit at {position}"
                raise InvalidPrivateKeyError(msg)
        if len(digits) == 2 * SEED_BYTES:
            return cls.from_seed(bytes.fromhex(digits))
        if len(digits) == 2 * _LIBSODIUM_PRIVATE_KEY_BYTES:
            return cls.from_private_key(bytes.fromhex(digits))
        msg = (
            f"private key hex has {len(digits)} digits; expected 64 (a 32-byte seed) "
            "or 128 (a 64-byte seed and public key)"
        )
        raise InvalidPrivateKeyError(msg)

    @property
    def public_key(self) -> PublicKey:
        """The identity this key pair signs for."""
        return self._public_key

    def sign(self, data: bytes) -> bytes:
        """Sign `data` and return the 64-byte detached Ed25519 signature."""
        require_type(data, bytes, "data")
        return bytes(self._signing_key.sign(data).signature)

    def seed_hex(self) -> str:
        """Return the 32-byte seed as 64 lowercase hex digits, for a deliberate export."""
        return bytes(self._signing_key).hex()

    def __repr__(self) -> str:
        return f"KeyPair(public_key={self._public_key!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KeyPair):
            return NotImplemented
        return self._public_key == other._public_key

    def __hash__(self) -> int:
        return hash((KeyPair, self._public_key))

    def __reduce__(self) -> NoReturn:
        msg = "KeyPair cannot be pickled, because that would copy the private key; use seed_hex()"
        raise TypeError(msg)

    def __copy__(self) -> KeyPair:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> KeyPair:
        return self


def seed_of(keypair: KeyPair) -> bytes:
    """Return the seed bytes, for the key file only; not exported from the package."""
    return bytes(keypair._signing_key)
