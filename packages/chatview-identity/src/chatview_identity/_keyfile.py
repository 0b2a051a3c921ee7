"""`KeyFile`: the private key on disk, encrypted under the user's PIN.

No operation changes the file unless it succeeds. Every failure (wrong PIN, damaged
file, an existing file, a failed write) leaves the bytes on disk as they were. New
contents are only ever written to a temporary file, which replaces the old one in one
rename at the end.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final, final

import attrs
import structlog

from ._atomic import write_atomically
from ._errors import KeyFileCorruptedError, KeyFileError, KeyFileExistsError, KeyFileNotFoundError
from ._keyfile_format import (
    KEY_FILE_BYTES,
    KdfLimits,
    KeyFileInfo,
    encode_pin,
    open_key_file,
    read_key_file_info,
    seal_seed,
)
from ._keys import KeyPair, seed_of

__all__ = ["KeyFile"]

_log = structlog.get_logger(__name__)

# Reading stops here: anything longer is not a key file, whatever it is.
_READ_LIMIT: Final = 64 * 1024


def _to_path(value: str | os.PathLike[str]) -> Path:
    return Path(value)


@final
@attrs.frozen
class KeyFile:
    """The PIN-encrypted key file at `path`.

    The object holds only the path; each method reads or writes the file anew. PINs are
    normalized to Unicode NFC before key derivation, so every way of typing the same
    characters opens the file. Writes are atomic and create the file with mode 0600
    (and missing directories with 0700).

    Two processes changing the same file at once are not coordinated: the last
    rename wins, and each result is a complete, valid key file.

    Example::

        key_file = KeyFile(Path.home() / ".chatview" / "identity.key")
        keypair = key_file.create("1234")  # a new identity
        assert key_file.unlock("1234") == keypair
    """

    path: Path = attrs.field(converter=_to_path)
    """Location of the key file; ``~`` is not expanded."""

    def exists(self) -> bool:
        """Return whether a file exists at the path (without reading it)."""
        return self.path.exists()

    def read_info(self) -> KeyFileInfo:
        """Check the file's structure and checksum, and return its header fields.

        Needs no PIN, so a caller can see whether the file was sealed with weak limits
        and offer to raise them through `change_pin`.

        Raises:
            KeyFileNotFoundError: no file at the path.
            KeyFileTruncatedError, KeyFileCorruptedError, UnsupportedKeyFileVersionError:
                as `unlock`.
        """
        data = self._read()
        try:
            return read_key_file_info(data)
        except KeyFileError as exc:
            raise self._failure("read_info", exc) from None

    def create(
        self,
        pin: str,
        keypair: KeyPair | None = None,
        *,
        limits: KdfLimits | None = None,
        overwrite: bool = False,
    ) -> KeyPair:
        """Write a new key file that stores `keypair` (a new one by default) under `pin`.

        Args:
            pin: the PIN; any non-empty text.
            keypair: the identity to store; None generates a new one.
            limits: Argon2id limits; None means `KdfLimits.interactive()`.
            overwrite: replace an existing file. Replacing a key file destroys the
                identity it held unless it was exported first.

        Returns:
            The key pair now stored in the file.

        Raises:
            KeyFileExistsError: a file exists at the path and `overwrite` is False.
            InvalidPinError: the PIN is empty or not encodable.
        """
        encoded_pin = encode_pin(pin)
        limits = KdfLimits.interactive() if limits is None else limits
        # Checked here too so that a refused create does not spend the KDF's time first;
        # the exclusive write checks again atomically.
        if not overwrite and self.exists():
            raise self._exists_error()
        keypair = KeyPair.generate() if keypair is None else keypair

        data = seal_seed(seed_of(keypair), encoded_pin, limits)
        self._write(data, overwrite=overwrite)

        _log.info(
            "identity.keyfile.created",
            path=str(self.path),
            public_key=keypair.public_key.short,
            opslimit=limits.opslimit,
            memlimit=limits.memlimit,
            overwrite=overwrite,
        )
        return keypair

    def unlock(self, pin: str) -> KeyPair:
        """Decrypt the file with `pin` and return the key pair it stores.

        Raises:
            KeyFileNotFoundError: no file at the path.
            WrongPinError: the file is intact but `pin` does not open it.
            KeyFileTruncatedError: the file is shorter than a key file.
            KeyFileCorruptedError: the file was changed after writing, or is not a key
                file.
            UnsupportedKeyFileVersionError: the file's format version or KDF is newer
                than this library.
            InvalidPinError: the PIN is empty or not encodable.
        """
        encoded_pin = encode_pin(pin)
        keypair, _ = self._unlock(encoded_pin, "unlock")
        _log.info(
            "identity.keyfile.unlocked", path=str(self.path), public_key=keypair.public_key.short
        )
        return keypair

    def import_private_key(
        self,
        pin: str,
        private_key_hex: str,
        *,
        limits: KdfLimits | None = None,
        overwrite: bool = False,
    ) -> KeyPair:
        """Write a new key file that stores an existing private key.

        Args:
            pin: the PIN to encrypt it under.
            private_key_hex: hex of the 32-byte seed or of libsodium's 64-byte private
                key (seed then public key).
            limits: as `create`.
            overwrite: as `create`.

        Returns:
            The imported key pair.

        Raises:
            InvalidPrivateKeyError: the hex is not a seed or a consistent private key.
            KeyFileExistsError: as `create`.
        """
        encode_pin(pin)
        keypair = KeyPair.from_hex(private_key_hex)
        self.create(pin, keypair, limits=limits, overwrite=overwrite)
        _log.info(
            "identity.keyfile.imported", path=str(self.path), public_key=keypair.public_key.short
        )
        return keypair

    def export_private_key(self, pin: str) -> str:
        """Return the stored seed as 64 hex digits; needs the PIN.

        The result is the identity itself: anyone with it can log in as the user.

        Raises:
            WrongPinError, KeyFileNotFoundError, KeyFileFormatError: as `unlock`.
        """
        encoded_pin = encode_pin(pin)
        keypair, _ = self._unlock(encoded_pin, "export_private_key")
        _log.warning(
            "identity.keyfile.exported", path=str(self.path), public_key=keypair.public_key.short
        )
        return keypair.seed_hex()

    def change_pin(self, old_pin: str, new_pin: str, *, limits: KdfLimits | None = None) -> None:
        """Re-encrypt the key under `new_pin`, replacing the file atomically.

        Also the way to raise the Argon2id limits of an existing file: pass the same PIN
        twice and stronger `limits`.

        Args:
            old_pin: the current PIN.
            new_pin: the new PIN; may equal the old one.
            limits: Argon2id limits for the new file; None keeps the file's limits,
                raised to at least `KdfLimits.interactive()`.

        Raises:
            WrongPinError, KeyFileNotFoundError, KeyFileFormatError: as `unlock`; the
                file is unchanged.
            InvalidPinError: either PIN is empty or not encodable.
            OSError: the new file could not be written; the old one is unchanged.
        """
        encoded_old = encode_pin(old_pin)
        encoded_new = encode_pin(new_pin)

        keypair, info = self._unlock(encoded_old, "change_pin")
        if limits is None:
            stored = KdfLimits(info.opslimit, info.memlimit, insecure=info.below_interactive)
            limits = stored.at_least(KdfLimits.interactive())

        data = seal_seed(seed_of(keypair), encoded_new, limits)
        # XXX: no lock: a file written by another process between the read above and
        # this rename is replaced. One device has one user, so that is not expected.
        self._write(data, overwrite=True)
        _log.info(
            "identity.keyfile.pin_changed",
            path=str(self.path),
            public_key=keypair.public_key.short,
            opslimit=limits.opslimit,
            memlimit=limits.memlimit,
        )

    def _unlock(self, encoded_pin: bytes, operation: str) -> tuple[KeyPair, KeyFileInfo]:
        data = self._read()
        try:
            seed, info = open_key_file(data, encoded_pin)
        except KeyFileError as exc:
            raise self._failure(operation, exc) from None
        return KeyPair.from_seed(seed), info

    def _read(self) -> bytes:
        try:
            with self.path.open("rb") as stream:
                data = stream.read(_READ_LIMIT + 1)
        except FileNotFoundError:
            msg = (
                "key file does not exist; create a new identity or import a private key "
                "at this path"
            )
            raise KeyFileNotFoundError(self.path, msg) from None
        if len(data) > _READ_LIMIT:
            msg = (
                f"key file {self.path} is larger than {_READ_LIMIT} bytes, and a key file "
                f"is {KEY_FILE_BYTES}; check the path"
            )
            raise KeyFileCorruptedError(msg)
        return data

    def _write(self, data: bytes, *, overwrite: bool) -> None:
        try:
            write_atomically(self.path, data, overwrite=overwrite)
        except FileExistsError:
            raise self._exists_error() from None

    def _exists_error(self) -> KeyFileExistsError:
        msg = (
            "key file already exists; unlock it, or pass overwrite=True to replace it "
            "(which destroys the identity it holds)"
        )
        return KeyFileExistsError(self.path, msg)

    def _failure(self, operation: str, exc: KeyFileError) -> KeyFileError:
        """Log a failure to read the file and return the error with the path in its message."""
        _log.warning(
            "identity.keyfile.open_failed",
            path=str(self.path),
            operation=operation,
            error=type(exc).__name__,
        )
        return type(exc)(f"{exc} (key file: {self.path})")
