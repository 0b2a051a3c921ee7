"""The identity of a data folder: its PIN-encrypted key file, used from asyncio.

`chatview_identity.KeyFile` does the cryptography; this wraps it with the data folder's
layout and runs the slow Argon2id key derivation in a worker thread, so the event loop
keeps serving while a PIN is checked. Next to the key file, ``identity.pub`` holds the
public key in clear, so that the key can be shown without the PIN.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import attrs
import structlog

from chatview_identity import KdfLimits, KeyFile, KeyPair, parse_public_key

from ._config import ClientConfig

__all__ = ["IdentityStore"]

_log = structlog.get_logger(__name__)


@attrs.frozen
class IdentityStore:
    """The key file in `data_dir`, with async create, unlock, import, export, change PIN.

    Errors come from `chatview_identity` unchanged: `KeyFileNotFoundError`,
    `KeyFileExistsError`, `WrongPinError`, `InvalidPinError`, `InvalidPrivateKeyError`
    and the `KeyFileFormatError` family. None of them carries key material or the PIN.
    """

    data_dir: Path = attrs.field(converter=Path)
    """The folder holding ``identity.key`` and ``identity.pub``."""
    limits: KdfLimits | None = None
    """Argon2id limits for new files; None uses the identity library's default."""

    @classmethod
    def for_config(cls, config: ClientConfig, *, limits: KdfLimits | None = None) -> IdentityStore:
        """The identity of `config.data_dir`."""
        return cls(config.data_dir, limits)

    @property
    def key_file(self) -> KeyFile:
        """The underlying key file."""
        return KeyFile(self.data_dir / "identity.key")

    @property
    def public_key_path(self) -> Path:
        """The clear-text copy of the public key."""
        return self.data_dir / "identity.pub"

    def exists(self) -> bool:
        """Whether a key file exists."""
        return self.key_file.exists()

    def public_key(self) -> str | None:
        """The stored identity's public key without the PIN, or None when not known.

        Returns None when there is no key file or no readable ``identity.pub``.
        """
        if not self.exists():
            return None
        try:
            text = self.public_key_path.read_text(encoding="ascii")
            return parse_public_key(text).hex
        except (OSError, ValueError):
            return None

    async def create(self, pin: str, *, overwrite: bool = False) -> KeyPair:
        """Generate a new identity and store it under `pin`.

        Raises:
            KeyFileExistsError: a key file exists and `overwrite` is False.
            InvalidPinError: the PIN is empty or not encodable.
        """
        keypair = await asyncio.to_thread(
            self.key_file.create, pin, limits=self.limits, overwrite=overwrite
        )
        self._remember(keypair)
        return keypair

    async def unlock(self, pin: str) -> KeyPair:
        """Open the key file with `pin`.

        Raises:
            KeyFileNotFoundError: no identity yet; create or import one.
            WrongPinError: the PIN does not open the file.
        """
        keypair = await asyncio.to_thread(self.key_file.unlock, pin)
        if self.public_key() != keypair.public_key.hex:
            self._remember(keypair)
        return keypair

    async def import_key(
        self, pin: str, private_key_hex: str, *, overwrite: bool = False
    ) -> KeyPair:
        """Store an existing private key (hex of the 32-byte seed or 64-byte key).

        Raises:
            InvalidPrivateKeyError: the text is not a usable private key.
            KeyFileExistsError: a key file exists and `overwrite` is False.
        """
        keypair = await asyncio.to_thread(
            self.key_file.import_private_key,
            pin,
            private_key_hex,
            limits=self.limits,
            overwrite=overwrite,
        )
        self._remember(keypair)
        return keypair

    async def export_key(self, pin: str) -> str:
        """Return the private key's seed as 64 hex digits; whoever holds it is the user.

        Raises:
            WrongPinError: the PIN does not open the file.
        """
        return await asyncio.to_thread(self.key_file.export_private_key, pin)

    async def change_pin(self, old_pin: str, new_pin: str) -> None:
        """Re-encrypt the key file under `new_pin`.

        Raises:
            WrongPinError: `old_pin` does not open the file; nothing changed.
        """
        await asyncio.to_thread(self.key_file.change_pin, old_pin, new_pin)

    def _remember(self, keypair: KeyPair) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.public_key_path.with_suffix(".pub.tmp")
        temporary.write_text(keypair.public_key.hex + "\n", encoding="ascii")
        os.replace(temporary, self.public_key_path)
        _log.debug("client.identity.remembered", public_key=keypair.public_key.short)
