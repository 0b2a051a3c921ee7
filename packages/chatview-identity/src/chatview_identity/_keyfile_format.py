"""The key file's bytes: sealing a seed under a PIN, and reading it back.

Version 1 is exactly 174 bytes, integers big-endian::

    offset  size  field
         0     8  magic b"\\x89CVKEY\\r\\n"
         8     1  format version (1)
         9     1  KDF id (1 = Argon2id v1.3)
        10     4  Argon2id opslimit
        14     8  Argon2id memlimit, in bytes
        22    16  Argon2id salt
        38    24  XChaCha20-Poly1305 nonce
        62    32  PIN check: keyed BLAKE2b-256 of bytes 0-61
        94    48  ciphertext of the 32-byte seed, then the 16-byte Poly1305 tag
       142    32  checksum: unkeyed BLAKE2b-256 of bytes 0-141

Argon2id turns the NFC-normalized UTF-8 PIN and the salt into a 32-byte master key.
Keyed BLAKE2b with two different personalization strings splits it into the cipher
key and the PIN check key. The cipher authenticates bytes 0-93 as associated data,
so a changed header fails decryption too.

Reading checks, in order: magic, version, length, checksum, KDF id and limits, PIN
check, then decryption. So:

- a prefix of a valid file is always truncated, whatever its length;
- accidental damage anywhere except the magic and version fails the checksum, and is
  reported as corrupted before any PIN is tried;
- a wrong PIN fails the PIN check, not decryption, so it is distinguished from damage;
- decryption fails with the right PIN only if someone changed the ciphertext and
  recomputed the checksum, which is also reported as corrupted. Changing a header
  field or the PIN check that way makes every PIN look wrong: without the PIN a
  changed salt and a wrong PIN cannot be told apart, which is the point of the KDF.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
import unicodedata
from typing import Final, final

import attrs
import nacl.bindings
import nacl.exceptions
import nacl.pwhash.argon2id

from ._errors import (
    InvalidKdfLimitsError,
    InvalidPinError,
    KeyFileCorruptedError,
    KeyFileTruncatedError,
    UnsupportedKeyFileVersionError,
    WrongPinError,
)
from ._keys import SEED_BYTES
from ._validation import require_type

__all__ = [
    "KDF_ARGON2ID",
    "KEY_FILE_BYTES",
    "KEY_FILE_MAGIC",
    "KEY_FILE_VERSION",
    "MAX_MEMLIMIT",
    "MAX_OPSLIMIT",
    "KdfLimits",
    "KeyFileInfo",
    "encode_pin",
    "open_key_file",
    "read_key_file_info",
    "seal_seed",
]

KEY_FILE_MAGIC: Final = b"\x89CVKEY\r\n"
"""The first 8 bytes of a key file.

The high first byte catches 7-bit transfers, and the CR LF catches newline conversion.
"""
KEY_FILE_VERSION: Final = 1
KDF_ARGON2ID: Final = 1
"""The KDF id of Argon2id version 1.3, libsodium's ``crypto_pwhash_ALG_ARGON2ID13``."""

# Upper limits on what a file may ask for. Reading a file runs its KDF with the
# file's own limits, so without a cap a crafted file could make an unlock allocate
# terabytes or run for hours. Raise these when stronger defaults need them.
MAX_OPSLIMIT: Final = 64
MAX_MEMLIMIT: Final = 4 * 1024**3

_HEADER: Final = struct.Struct(">8sBBIQ16s24s")
_SALT_BYTES: Final = nacl.pwhash.argon2id.SALTBYTES
_NONCE_BYTES: Final = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
_TAG_BYTES: Final = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_ABYTES
_DIGEST_BYTES: Final = 32

_PIN_CHECK_OFFSET: Final = _HEADER.size
_CIPHERTEXT_OFFSET: Final = _PIN_CHECK_OFFSET + _DIGEST_BYTES
_CHECKSUM_OFFSET: Final = _CIPHERTEXT_OFFSET + SEED_BYTES + _TAG_BYTES
KEY_FILE_BYTES: Final = _CHECKSUM_OFFSET + _DIGEST_BYTES
"""The size of a version 1 key file: 174 bytes."""

# BLAKE2b personalization strings (at most 16 bytes), one per use of a digest.
_PERSON_CIPHER_KEY: Final = b"cv-keyfile-enc"
_PERSON_PIN_CHECK_KEY: Final = b"cv-keyfile-pin"
_PERSON_CHECKSUM: Final = b"cv-keyfile-sum"


def _below_interactive(opslimit: int, memlimit: int) -> bool:
    return (
        opslimit < nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE
        or memlimit < nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE
    )


@final
@attrs.frozen
class KdfLimits:
    """Argon2id cost limits for sealing a key file.

    Limits below libsodium's interactive preset are rejected unless `insecure` is True,
    which exists so that test suites can seal files in microseconds. Use
    `insecure_minimum()` for that and never in application code.

    Raises:
        InvalidKdfLimitsError: a limit is out of range, or below interactive without
            `insecure`.
    """

    opslimit: int
    """Number of Argon2id passes over memory."""
    memlimit: int
    """Memory used by Argon2id, in bytes."""
    insecure: bool = attrs.field(default=False, kw_only=True)
    """Allows limits below interactive; for tests only."""

    def __attrs_post_init__(self) -> None:
        for name, value, low, high in (
            ("opslimit", self.opslimit, nacl.pwhash.argon2id.OPSLIMIT_MIN, MAX_OPSLIMIT),
            ("memlimit", self.memlimit, nacl.pwhash.argon2id.MEMLIMIT_MIN, MAX_MEMLIMIT),
        ):
            if type(value) is not int:
                msg = f"Argon2id {name} must be an int, not {type(value).__name__}"
                raise TypeError(msg)
            if not low <= value <= high:
                msg = f"Argon2id {name} {value} is outside the accepted range {low}..{high}"
                raise InvalidKdfLimitsError(msg)
        if self.below_interactive and not self.insecure:
            msg = (
                f"Argon2id limits opslimit={self.opslimit} memlimit={self.memlimit} are "
                "below the interactive minimum "
                f"(opslimit={nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE} "
                f"memlimit={nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE}); weaker limits "
                "need insecure=True and are meant for tests only"
            )
            raise InvalidKdfLimitsError(msg)

    @property
    def below_interactive(self) -> bool:
        """Whether either limit is below libsodium's interactive preset."""
        return _below_interactive(self.opslimit, self.memlimit)

    @classmethod
    def interactive(cls) -> KdfLimits:
        """Return libsodium's interactive preset (2 passes, 64 MiB): the default."""
        return cls(
            nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE, nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE
        )

    @classmethod
    def moderate(cls) -> KdfLimits:
        """Return libsodium's moderate preset (3 passes, 256 MiB)."""
        return cls(nacl.pwhash.argon2id.OPSLIMIT_MODERATE, nacl.pwhash.argon2id.MEMLIMIT_MODERATE)

    @classmethod
    def sensitive(cls) -> KdfLimits:
        """Return libsodium's sensitive preset (4 passes, 1 GiB)."""
        return cls(nacl.pwhash.argon2id.OPSLIMIT_SENSITIVE, nacl.pwhash.argon2id.MEMLIMIT_SENSITIVE)

    @classmethod
    def insecure_minimum(cls) -> KdfLimits:
        """Return Argon2id's smallest limits (1 pass, 8 KiB). For tests only."""
        return cls(
            nacl.pwhash.argon2id.OPSLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_MIN, insecure=True
        )

    def at_least(self, other: KdfLimits) -> KdfLimits:
        """Return limits that are each the larger of this one's and `other`'s."""
        opslimit = max(self.opslimit, other.opslimit)
        memlimit = max(self.memlimit, other.memlimit)
        return KdfLimits(opslimit, memlimit, insecure=_below_interactive(opslimit, memlimit))


@final
@attrs.frozen
class KeyFileInfo:
    """Header fields of a key file, readable without the PIN."""

    format_version: int
    """The format version; 1 is the only one so far."""
    kdf: str
    """The KDF's name: ``"argon2id"``."""
    opslimit: int
    """The Argon2id passes the file was sealed with."""
    memlimit: int
    """The Argon2id memory the file was sealed with, in bytes."""

    @property
    def below_interactive(self) -> bool:
        """Whether the file was sealed with limits below the interactive preset."""
        return _below_interactive(self.opslimit, self.memlimit)


@attrs.frozen
class _SealedSeed:
    info: KeyFileInfo
    salt: bytes
    nonce: bytes
    header: bytes
    pin_check: bytes
    ciphertext: bytes


def encode_pin(pin: str) -> bytes:
    """Normalize a PIN to NFC and encode it as UTF-8, the bytes the KDF receives.

    NFC makes a PIN typed as "é" (one code point) and as "e" plus a combining accent
    (two code points) open the same file, since keyboards and platforms differ.

    Raises:
        InvalidPinError: the PIN is empty or contains a lone surrogate.
        TypeError: `pin` is not a str.
    """
    require_type(pin, str, "PIN")
    normalized = unicodedata.normalize("NFC", pin)
    if not normalized:
        msg = "PIN is empty; choose a PIN of at least one character"
        raise InvalidPinError(msg)
    try:
        return normalized.encode("utf-8")
    except UnicodeEncodeError:
        msg = "PIN contains a lone surrogate code point, which is not text; retype the PIN"
        raise InvalidPinError(msg) from None


def seal_seed(seed: bytes, pin: bytes, limits: KdfLimits) -> bytes:
    """Encrypt a 32-byte seed under an encoded PIN and return the whole key file."""
    if len(seed) != SEED_BYTES:
        msg = f"seed is {len(seed)} bytes; expected {SEED_BYTES}"
        raise ValueError(msg)
    salt = secrets.token_bytes(_SALT_BYTES)
    nonce = secrets.token_bytes(_NONCE_BYTES)
    header = _HEADER.pack(
        KEY_FILE_MAGIC,
        KEY_FILE_VERSION,
        KDF_ARGON2ID,
        limits.opslimit,
        limits.memlimit,
        salt,
        nonce,
    )

    cipher_key, pin_check_key = _derive_keys(pin, salt, limits.opslimit, limits.memlimit)
    pin_check = _keyed_digest(pin_check_key, header)
    ciphertext = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
        seed, header + pin_check, nonce, cipher_key
    )
    body = header + pin_check + ciphertext
    return body + _checksum(body)


def read_key_file_info(data: bytes) -> KeyFileInfo:
    """Check a key file's structure and checksum and return its header fields.

    Raises:
        KeyFileTruncatedError, KeyFileCorruptedError, UnsupportedKeyFileVersionError:
            see `open_key_file`.
    """
    return _parse(data).info


def open_key_file(data: bytes, pin: bytes) -> tuple[bytes, KeyFileInfo]:
    """Decrypt a key file's bytes with an encoded PIN.

    Returns:
        The 32-byte seed, and the header fields.

    Raises:
        KeyFileTruncatedError: `data` is a proper prefix of a key file.
        KeyFileCorruptedError: the magic, the checksum, the size or the ciphertext is
            wrong.
        UnsupportedKeyFileVersionError: an unknown format version or KDF id, or limits
            above `MAX_OPSLIMIT` or `MAX_MEMLIMIT`.
        WrongPinError: the file is intact and the PIN check does not match.
    """
    sealed = _parse(data)

    cipher_key, pin_check_key = _derive_keys(
        pin, sealed.salt, sealed.info.opslimit, sealed.info.memlimit
    )
    if not hmac.compare_digest(_keyed_digest(pin_check_key, sealed.header), sealed.pin_check):
        msg = "wrong PIN: the key file is intact but this PIN does not open it"
        raise WrongPinError(msg)
    try:
        seed = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
            sealed.ciphertext, sealed.header + sealed.pin_check, sealed.nonce, cipher_key
        )
    except nacl.exceptions.CryptoError:
        msg = (
            "key file is corrupted: the PIN is right but the encrypted key fails "
            "authentication, so its bytes were changed deliberately (the checksum was "
            "rewritten to match); restore the file from a backup"
        )
        raise KeyFileCorruptedError(msg) from None
    return seed, sealed.info


def _parse(data: bytes) -> _SealedSeed:
    # 1. Magic and version come first because a later version may change the layout.
    magic_length = len(KEY_FILE_MAGIC)
    if len(data) < magic_length and KEY_FILE_MAGIC.startswith(data):
        raise KeyFileTruncatedError(_truncated_message(len(data)))
    if data[:magic_length] != KEY_FILE_MAGIC:
        msg = (
            f"not a ChatView key file: it starts with {data[:magic_length].hex(' ')} "
            f"instead of {KEY_FILE_MAGIC.hex(' ')}; check the path"
        )
        raise KeyFileCorruptedError(msg)
    if len(data) == magic_length:
        raise KeyFileTruncatedError(_truncated_message(len(data)))
    version = data[magic_length]
    if version != KEY_FILE_VERSION:
        msg = (
            f"key file format version {version} is not supported; this library reads "
            f"version {KEY_FILE_VERSION}. Upgrade chatview-identity to read newer files"
        )
        raise UnsupportedKeyFileVersionError(msg)

    # 2. Size and checksum, before any field is trusted.
    if len(data) < KEY_FILE_BYTES:
        raise KeyFileTruncatedError(_truncated_message(len(data)))
    if len(data) > KEY_FILE_BYTES:
        msg = (
            f"key file is corrupted: it has {len(data) - KEY_FILE_BYTES} unexpected bytes "
            f"after the {KEY_FILE_BYTES} bytes of a version {KEY_FILE_VERSION} key file"
        )
        raise KeyFileCorruptedError(msg)
    body, checksum = data[:_CHECKSUM_OFFSET], data[_CHECKSUM_OFFSET:]
    if not hmac.compare_digest(_checksum(body), checksum):
        msg = (
            "key file is corrupted: its checksum does not match, so bytes changed after "
            "it was written; restore the file from a backup"
        )
        raise KeyFileCorruptedError(msg)

    # 3. Header fields.
    _, _, kdf_id, opslimit, memlimit, salt, nonce = _HEADER.unpack_from(data)
    if kdf_id != KDF_ARGON2ID:
        msg = (
            f"key file uses KDF id {kdf_id}, which this library cannot read (it knows "
            f"{KDF_ARGON2ID} = Argon2id); upgrade chatview-identity"
        )
        raise UnsupportedKeyFileVersionError(msg)
    _check_stored_limits(opslimit, memlimit)

    return _SealedSeed(
        info=KeyFileInfo(
            format_version=version, kdf="argon2id", opslimit=opslimit, memlimit=memlimit
        ),
        salt=salt,
        nonce=nonce,
        header=data[:_PIN_CHECK_OFFSET],
        pin_check=data[_PIN_CHECK_OFFSET:_CIPHERTEXT_OFFSET],
        ciphertext=data[_CIPHERTEXT_OFFSET:_CHECKSUM_OFFSET],
    )


def _check_stored_limits(opslimit: int, memlimit: int) -> None:
    for name, value, low, high in (
        ("opslimit", opslimit, nacl.pwhash.argon2id.OPSLIMIT_MIN, MAX_OPSLIMIT),
        ("memlimit", memlimit, nacl.pwhash.argon2id.MEMLIMIT_MIN, MAX_MEMLIMIT),
    ):
        if value < low:
            # No writer produces this, since Argon2id itself rejects it.
            msg = f"key file is corrupted: Argon2id {name} {value} is below the minimum {low}"
            raise KeyFileCorruptedError(msg)
        if value > high:
            msg = (
                f"key file asks for Argon2id {name} {value}, above the maximum {high} "
                "this library runs; upgrade chatview-identity if the file is genuine"
            )
            raise UnsupportedKeyFileVersionError(msg)


def _truncated_message(length: int) -> str:
    return (
        f"key file is truncated: it has {length} bytes but a version {KEY_FILE_VERSION} "
        f"key file has {KEY_FILE_BYTES}; it was probably cut short while being copied, "
        "so restore it from a backup"
    )


def _derive_keys(pin: bytes, salt: bytes, opslimit: int, memlimit: int) -> tuple[bytes, bytes]:
    master = nacl.pwhash.argon2id.kdf(
        _DIGEST_BYTES, pin, salt, opslimit=opslimit, memlimit=memlimit
    )
    cipher_key = hashlib.blake2b(
        key=master, digest_size=_DIGEST_BYTES, person=_PERSON_CIPHER_KEY
    ).digest()
    pin_check_key = hashlib.blake2b(
        key=master, digest_size=_DIGEST_BYTES, person=_PERSON_PIN_CHECK_KEY
    ).digest()
    return cipher_key, pin_check_key


def _keyed_digest(key: bytes, data: bytes) -> bytes:
    return hashlib.blake2b(data, key=key, digest_size=_DIGEST_BYTES).digest()


def _checksum(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=_DIGEST_BYTES, person=_PERSON_CHECKSUM).digest()
