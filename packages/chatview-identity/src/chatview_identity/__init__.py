"""ChatView identities: a user is an Ed25519 public key.

- `parse_public_key` turns any accepted spelling of a key into one `PublicKey`.
- `KeyPair` keeps a private key in memory and signs with it, and never shows the key.
- `new_challenge`, `sign_challenge` and `verify_challenge_signature` are the login.
- `KeyFile` keeps the private key on disk, encrypted under a PIN.
- `seal_message` and `open_message` encrypt message bodies end to end between two users.

Errors are in one tree under `IdentityError`; see `chatview_identity._errors`.
"""

from ._challenge import (
    CHALLENGE_BYTES,
    CHALLENGE_PREFIX,
    CHALLENGE_RANDOM_BYTES,
    check_challenge,
    new_challenge,
    sign_challenge,
    verify_challenge_signature,
    verify_signature,
)
from ._errors import (
    IdentityError,
    InvalidChallengeError,
    InvalidKdfLimitsError,
    InvalidPinError,
    InvalidPrivateKeyError,
    InvalidPublicKeyError,
    InvalidSignatureError,
    KeyFileCorruptedError,
    KeyFileError,
    KeyFileExistsError,
    KeyFileFormatError,
    KeyFileNotFoundError,
    KeyFileTruncatedError,
    SealedMessageError,
    UnsupportedKeyFileVersionError,
    WrongPinError,
)
from ._keyfile import KeyFile
from ._keyfile_format import (
    KDF_ARGON2ID,
    KEY_FILE_BYTES,
    KEY_FILE_MAGIC,
    KEY_FILE_VERSION,
    MAX_MEMLIMIT,
    MAX_OPSLIMIT,
    KdfLimits,
    KeyFileInfo,
)
from ._keys import (
    PUBLIC_KEY_BYTES,
    SEED_BYTES,
    SIGNATURE_BYTES,
    KeyPair,
    PublicKey,
    canonical_public_key,
    parse_public_key,
)
from ._sealed import SEALED_FORMAT_VERSION, SEALED_OVERHEAD_BYTES, open_message, seal_message

__all__ = [
    "CHALLENGE_BYTES",
    "CHALLENGE_PREFIX",
    "CHALLENGE_RANDOM_BYTES",
    "KDF_ARGON2ID",
    "KEY_FILE_BYTES",
    "KEY_FILE_MAGIC",
    "KEY_FILE_VERSION",
    "MAX_MEMLIMIT",
    "MAX_OPSLIMIT",
    "PUBLIC_KEY_BYTES",
    "SEALED_FORMAT_VERSION",
    "SEALED_OVERHEAD_BYTES",
    "SEED_BYTES",
    "SIGNATURE_BYTES",
    "IdentityError",
    "InvalidChallengeError",
    "InvalidKdfLimitsError",
    "InvalidPinError",
    "InvalidPrivateKeyError",
    "InvalidPublicKeyError",
    "InvalidSignatureError",
    "KdfLimits",
    "KeyFile",
    "KeyFileCorruptedError",
    "KeyFileError",
    "KeyFileExistsError",
    "KeyFileFormatError",
    "KeyFileInfo",
    "KeyFileNotFoundError",
    "KeyFileTruncatedError",
    "KeyPair",
    "PublicKey",
    "SealedMessageError",
    "UnsupportedKeyFileVersionError",
    "WrongPinError",
    "canonical_public_key",
    "check_challenge",
    "new_challenge",
    "open_message",
    "parse_public_key",
    "seal_message",
    "sign_challenge",
    "verify_challenge_signature",
    "verify_signature",
]

# Show the public path in reprs and tracebacks rather than the private module.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) or callable(_value):
        _value.__module__ = __name__
del _name, _value
