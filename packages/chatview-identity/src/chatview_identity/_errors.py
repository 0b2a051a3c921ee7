"""Errors raised by chatview_identity.

Every error derives from `IdentityError`, and each also derives from the builtin that
fits, so callers that only know the builtins still catch them::

    IdentityError (Exception)
    ├── InvalidPublicKeyError (ValueError)      text is not a usable public key
    ├── InvalidPrivateKeyError (ValueError)     bytes or text are not a usable private key
    ├── InvalidChallengeError (ValueError)      not a login challenge; the client will not sign it
    ├── InvalidSignatureError (ValueError)      a challenge signature failed verification
    ├── InvalidPinError (ValueError)            empty PIN or one that is not encodable text
    ├── InvalidKdfLimitsError (ValueError)      Argon2id limits out of range or too weak
    ├── SealedMessageError (ValueError)         a sealed message body cannot be opened
    └── KeyFileError                            anything about the key file
        ├── KeyFileNotFoundError (FileNotFoundError)
        ├── KeyFileExistsError (FileExistsError)
        ├── WrongPinError (ValueError)          intact file, but the PIN does not open it
        └── KeyFileFormatError (ValueError)     the bytes cannot be read as a key file
            ├── KeyFileTruncatedError           the file ends early
            ├── KeyFileCorruptedError           bytes changed, or not a key file at all
            └── UnsupportedKeyFileVersionError  a format version or KDF this code cannot read

No message ever contains key material or a PIN: errors about private keys name the
length and the kind of problem only.
"""

from __future__ import annotations

import errno
import os

__all__ = [
    "IdentityError",
    "InvalidChallengeError",
    "InvalidKdfLimitsError",
    "InvalidPinError",
    "InvalidPrivateKeyError",
    "InvalidPublicKeyError",
    "InvalidSignatureError",
    "KeyFileCorruptedError",
    "KeyFileError",
    "KeyFileExistsError",
    "KeyFileFormatError",
    "KeyFileNotFoundError",
    "KeyFileTruncatedError",
    "SealedMessageError",
    "UnsupportedKeyFileVersionError",
    "WrongPinError",
]


class IdentityError(Exception):
    """Base class of every error that chatview_identity raises on purpose."""


class InvalidPublicKeyError(IdentityError, ValueError):
    """The text or bytes are not an accepted encoding of a valid Ed25519 public key."""


class InvalidPrivateKeyError(IdentityError, ValueError):
    """The bytes or text are not a 32-byte seed or a consistent 64-byte private key."""


class InvalidChallengeError(IdentityError, ValueError):
    """The bytes are not a login challenge as the server issues them.

    Raised on the client before signing, so that a malicious server cannot obtain a
    signature over arbitrary data, and on the server before verifying.
    """


class InvalidSignatureError(IdentityError, ValueError):
    """A login challenge signature does not verify under the claimed public key."""


class InvalidPinError(IdentityError, ValueError):
    """The PIN is empty or cannot be encoded as UTF-8 (for example a lone surrogate)."""


class InvalidKdfLimitsError(IdentityError, ValueError):
    """Argon2id limits are outside the accepted range, or weaker than interactive."""


class SealedMessageError(IdentityError, ValueError):
    """A sealed message body cannot be opened.

    Raised when the bytes are not in the sealed format, use an unknown format version,
    fail authentication (changed bytes, or sealed for another pair of keys), or name
    another author or idempotency key than the reader expects. The message never says
    which check failed beyond that, and never holds any of the body.
    """


class KeyFileError(IdentityError):
    """Base class of the errors about the PIN-encrypted key file."""


class KeyFileNotFoundError(KeyFileError, FileNotFoundError):
    """No key file exists at the path."""

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        super().__init__(errno.ENOENT, message, os.fspath(path))


class KeyFileExistsError(KeyFileError, FileExistsError):
    """A key file already exists where a new one would be written."""

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        super().__init__(errno.EEXIST, message, os.fspath(path))


class WrongPinError(KeyFileError, ValueError):
    """The key file is intact but the PIN does not open it.

    The file stores a PIN check value, which distinguishes a wrong PIN from changed
    bytes; the key file documentation describes how.
    """


class KeyFileFormatError(KeyFileError, ValueError):
    """The file's bytes cannot be read as a key file."""


class KeyFileTruncatedError(KeyFileFormatError):
    """The file is a proper prefix of a key file, so it ends before the format requires."""


class KeyFileCorruptedError(KeyFileFormatError):
    """The file's bytes were changed after writing, or it was never a key file."""


class UnsupportedKeyFileVersionError(KeyFileFormatError):
    """The file uses a format version or KDF that this version of the library cannot read."""
