"""The key file's bytes: layout, and every kind of damage mapped to a typed error."""

from __future__ import annotations

import hashlib
import re
import struct
from pathlib import Path

import nacl.exceptions
import pytest

from chatview_identity import (
    KEY_FILE_BYTES,
    KEY_FILE_MAGIC,
    KeyFile,
    KeyFileCorruptedError,
    KeyFileFormatError,
    KeyFileTruncatedError,
    KeyPair,
    UnsupportedKeyFileVersionError,
    WrongPinError,
)

from .conftest import FAST_LIMITS

PIN = "2468"
VERSION_OFFSET = 8
CHECKSUM_OFFSET = 142


@pytest.fixture(name="sealed")
def fixture_sealed(key_file: KeyFile) -> tuple[KeyFile, KeyPair, bytes]:
    """A key file sealed under PIN with test limits, its key pair and its bytes."""
    keypair = key_file.create(PIN, limits=FAST_LIMITS)
    return key_file, keypair, key_file.path.read_bytes()


def _with_checksum(body: bytes) -> bytes:
    """Recompute the checksum, as someone tampering on purpose would."""
    checksum = hashlib.blake2b(body, digest_size=32, person=b"cv-keyfile-sum").digest()
    return body + checksum


def _replace(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new) :]


def _unlock_bytes(key_file: KeyFile, data: bytes, pin: str = PIN) -> KeyPair:
    key_file.path.write_bytes(data)
    return key_file.unlock(pin)


class TestLayout:
    def test_size(self, sealed: tuple[KeyFile, KeyPair, bytes]) -> None:
        """A version 1 key file is 174 bytes."""
        _, _, data = sealed

        assert len(data) == KEY_FILE_BYTES == 174

    def test_documented_offsets(self, sealed: tuple[KeyFile, KeyPair, bytes]) -> None:
        """The header fields sit at the offsets the format documentation gives."""
        _, _, data = sealed

        magic, version, kdf_id, opslimit, memlimit = struct.unpack_from(">8sBBIQ", data)

        assert magic == KEY_FILE_MAGIC == b"\x89CVKEY\r\n"
        assert (version, kdf_id) == (1, 1)
        assert (opslimit, memlimit) == (FAST_LIMITS.opslimit, FAST_LIMITS.memlimit)
        assert _with_checksum(data[:CHECKSUM_OFFSET]) == data

    def test_salt_nonce_random(self, key_file: KeyFile) -> None:
        """Two files for one key and PIN share no salt, nonce or ciphertext."""
        keypair = KeyPair.generate()
        first = KeyFile(key_file.path.with_name("first.key"))
        second = KeyFile(key_file.path.with_name("second.key"))

        first.create(PIN, keypair, limits=FAST_LIMITS)
        second.create(PIN, keypair, limits=FAST_LIMITS)

        one, two = first.path.read_bytes(), second.path.read_bytes()
        assert one[22:38] != two[22:38]
        assert one[38:62] != two[38:62]
        assert one[94:142] != two[94:142]

    def test_seed_not_in_file(self, sealed: tuple[KeyFile, KeyPair, bytes]) -> None:
        """The seed does not appear in the file in the clear."""
        _, keypair, data = sealed

        assert bytes.fromhex(keypair.seed_hex()) not in data
        assert keypair.public_key.raw not in data


class TestEveryBitFlip:
    def test_every_bit(self, sealed: tuple[KeyFile, KeyPair, bytes]) -> None:
        """Flipping any single bit gives a typed format error, never a key or a wrong PIN."""
        key_file, _, data = sealed
        outcomes: dict[int, set[type[Exception]]] = {}

        for offset in range(len(data)):
            for bit in range(8):
                damaged = _replace(data, offset, bytes([data[offset] ^ (1 << bit)]))
                with pytest.raises(KeyFileFormatError) as caught:
                    _unlock_bytes(key_file, damaged)
                outcomes.setdefault(offset, set()).add(type(caught.value))
                assert key_file.path.read_bytes() == damaged

        assert outcomes.pop(VERSION_OFFSET) == {UnsupportedKeyFileVersionError}
        assert all(kinds == {KeyFileCorruptedError} for kinds in outcomes.values())

    def test_every_byte_with_wrong_pin(self, sealed: tuple[KeyFile, KeyPair, bytes]) -> None:
        """Damage is reported as such even when the PIN is wrong too."""
        key_file, _, data = sealed

        for offset in range(len(data)):
            damaged = _replace(data, offset, bytes([data[offset] ^ 0xFF]))
            with pytest.raises(KeyFileFormatError):
                _unlock_bytes(key_file, damaged, pin="wrong")

    def test_no_nacl_errors(
        self, sealed: tuple[KeyFile, KeyPair, bytes], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Tampering with a recomputed checksum never lets a PyNaCl error escape."""
        key_file, _, data = sealed

        for offset in range(CHECKSUM_OFFSET):
            damaged = _with_checksum(
                _replace(data, offset, bytes([data[offset] ^ 0x01]))[:CHECKSUM_OFFSET]
            )
            try:
                _unlock_bytes(key_file, damaged)
            except nacl.exceptions.CryptoError:  # pragma: no cover - the failure case
                pytest.fail(f"PyNaCl error escaped for a change at offset {offset}")
            except (KeyFileFormatError, WrongPinError):
                pass
            else:  # pragma: no cover - the failure case
                pytest.fail(f"a change at offset {offset} unlocked the file")


class TestTruncation:
    def test_every_length(self, sealed: tuple[KeyFile, KeyPair, bytes]) -> None:
        """Every proper prefix, the empty file included, is reported as truncated."""
        key_file, _, data = sealed

        for length in range(len(data)):
            with pytest.raises(KeyFileTruncatedError, match=f"it has {length} bytes"):
                _unlock_bytes(key_file, data[:length])

    def test_extra_bytes(self, sealed: tuple[KeyFile, KeyPair, bytes]) -> None:
        """Bytes after the end are corruption, not ignored."""
        key_file, _, data = sealed

        with pytest.raises(KeyFileCorruptedError, match="1 unexpected bytes"):
            _unlock_bytes(key_file, data + b"\n")

    def test_huge_file(self, key_file: KeyFile) -> None:
        """A large file is rejected without being read whole."""
        key_file.path.parent.mkdir()
        key_file.path.write_bytes(KEY_FILE_MAGIC + bytes(1024 * 1024))

        with pytest.raises(KeyFileCorruptedError, match="larger than 65536 bytes"):
            key_file.unlock(PIN)

    def test_other_file(self, key_file: KeyFile) -> None:
        """A file that is not a key file is named as such."""
        key_file.path.parent.mkdir()
        key_file.path.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")

        with pytest.raises(KeyFileCorruptedError, match=r"^not a ChatView key file"):
            key_file.unlock(PIN)

    def test_crlf_converted(self, sealed: tuple[KeyFile, KeyPair, bytes]) -> None:
        """A file whose CR LF became LF in a text-mode copy is caught at the magic."""
        key_file, _, data = sealed

        with pytest.raises(KeyFileCorruptedError, match=r"^not a ChatView key file"):
            _unlock_bytes(key_file, data.replace(b"\r\n", b"\n"))


class TestVersions:
    @pytest.mark.parametrize("version", [0, 2, 255])
    def test_unknown_version(self, sealed: tuple[KeyFile, KeyPair, bytes], version: int) -> None:
        """Another format version is unsupported, whatever follows it."""
        key_file, _, data = sealed
        changed = _replace(data, VERSION_OFFSET, bytes([version]))

        with pytest.raises(UnsupportedKeyFileVersionError, match=f"version {version} is not"):
            _unlock_bytes(key_file, changed)
        with pytest.raises(UnsupportedKeyFileVersionError):
            _unlock_bytes(key_file, changed[:20])

    def test_unknown_kdf(self, sealed: tuple[KeyFile, KeyPair, bytes]) -> None:
        """An unknown KDF id in an intact file is unsupported."""
        key_file, _, data = sealed
        changed = _with_checksum(_replace(data, 9, b"\x07")[:CHECKSUM_OFFSET])

        with pytest.raises(UnsupportedKeyFileVersionError, match="KDF id 7"):
            _unlock_bytes(key_file, changed)

    def test_limits_above_cap(self, sealed: tuple[KeyFile, KeyPair, bytes]) -> None:
        """A file asking for more memory than the cap is refused before running the KDF."""
        key_file, _, data = sealed
        changed = _with_checksum(_replace(data, 14, struct.pack(">Q", 2**40))[:CHECKSUM_OFFSET])

        with pytest.raises(UnsupportedKeyFileVersionError, match="memlimit 1099511627776"):
            _unlock_bytes(key_file, changed)

    def test_limits_below_minimum(self, sealed: tuple[KeyFile, KeyPair, bytes]) -> None:
        """Zero passes cannot come from any writer, so it is corruption."""
        key_file, _, data = sealed
        changed = _with_checksum(_replace(data, 10, struct.pack(">I", 0))[:CHECKSUM_OFFSET])

        with pytest.raises(KeyFileCorruptedError, match="opslimit 0 is below"):
            _unlock_bytes(key_file, changed)


class TestDeliberateTampering:
    def test_ciphertext_with_checksum(self, sealed: tuple[KeyFile, KeyPair, bytes]) -> None:
        """A changed ciphertext with a rewritten checksum fails authentication: corrupted."""
        key_file, _, data = sealed

        for offset in range(94, CHECKSUM_OFFSET):
            changed = _with_checksum(
                _replace(data, offset, bytes([data[offset] ^ 0x80]))[:CHECKSUM_OFFSET]
            )
            with pytest.raises(KeyFileCorruptedError, match="PIN is right"):
                _unlock_bytes(key_file, changed)

    @pytest.mark.parametrize(
        ("offset", "field"),
        [(13, "opslimit"), (21, "memlimit"), (22, "salt"), (40, "nonce"), (70, "PIN check")],
    )
    def test_header_with_checksum(
        self, sealed: tuple[KeyFile, KeyPair, bytes], offset: int, field: str
    ) -> None:
        """A changed header field with a rewritten checksum looks like a wrong PIN."""
        key_file, _, data = sealed
        changed = _with_checksum(
            _replace(data, offset, bytes([data[offset] ^ 2]))[:CHECKSUM_OFFSET]
        )

        # opslimit 1 becomes 3, memlimit 8192 becomes 8194: both still in range.
        with pytest.raises(WrongPinError):
            _unlock_bytes(key_file, changed)


class TestUnchangedOnFailure:
    def test_failed_operations(self, sealed: tuple[KeyFile, KeyPair, bytes]) -> None:
        """Failed unlock, export, change_pin and read_info leave a damaged file as it was."""
        key_file, _, data = sealed
        damaged = _replace(data, 100, bytes([data[100] ^ 4]))
        key_file.path.write_bytes(damaged)

        for operation in (
            lambda: key_file.unlock(PIN),
            lambda: key_file.export_private_key(PIN),
            lambda: key_file.change_pin(PIN, "1357", limits=FAST_LIMITS),
            key_file.read_info,
        ):
            with pytest.raises(KeyFileCorruptedError, match=re.escape(str(key_file.path))):
                operation()
            assert key_file.path.read_bytes() == damaged
        assert sorted(p.name for p in key_file.path.parent.iterdir()) == [key_file.path.name]

    def test_truncated_unchanged(self, sealed: tuple[KeyFile, KeyPair, bytes]) -> None:
        """A truncated file is not repaired, padded or removed by a failed unlock."""
        key_file, _, data = sealed
        key_file.path.write_bytes(data[:100])

        with pytest.raises(KeyFileTruncatedError):
            key_file.change_pin(PIN, "1357", limits=FAST_LIMITS)

        assert key_file.path.read_bytes() == data[:100]


def test_directory_in_place(tmp_path: Path) -> None:
    """A directory at the key file path is an OS error, not a format error."""
    (tmp_path / "chatview.key").mkdir()

    with pytest.raises(IsADirectoryError):
        KeyFile(tmp_path / "chatview.key").unlock(PIN)
