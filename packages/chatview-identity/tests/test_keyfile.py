"""KeyFile operations: create, unlock, import, export and change the PIN."""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
import unicodedata
from pathlib import Path

import nacl.pwhash.argon2id
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from chatview_identity import (
    InvalidKdfLimitsError,
    InvalidPinError,
    InvalidPrivateKeyError,
    KdfLimits,
    KeyFile,
    KeyFileExistsError,
    KeyFileInfo,
    KeyFileNotFoundError,
    KeyPair,
    WrongPinError,
)

from .conftest import FAST_LIMITS
from .strategies import keypairs, pins


def _snapshot(path: Path) -> tuple[bytes, int, int]:
    status = path.stat()
    return path.read_bytes(), status.st_mode, status.st_mtime_ns


class TestCreateUnlock:
    @settings(max_examples=40, deadline=None)
    @given(pins, keypairs)
    def test_round_trip(self, pin: str, keypair: KeyPair) -> None:
        """Any PIN, Unicode included, opens the file it sealed, giving the same key."""
        with tempfile.TemporaryDirectory() as directory:
            key_file = KeyFile(Path(directory) / "chatview.key")

            key_file.create(pin, keypair, limits=FAST_LIMITS)

            assert key_file.unlock(pin).seed_hex() == keypair.seed_hex()

    @settings(max_examples=20, deadline=None)
    @given(pins, pins)
    def test_other_pin_fails(self, pin: str, other: str) -> None:
        """A PIN that differs after normalization is a wrong PIN."""
        assume(unicodedata.normalize("NFC", other) != unicodedata.normalize("NFC", pin))
        with tempfile.TemporaryDirectory() as directory:
            key_file = KeyFile(Path(directory) / "chatview.key")
            key_file.create(pin, limits=FAST_LIMITS)

            with pytest.raises(WrongPinError):
                key_file.unlock(other)

    def test_generates_keypair(self, key_file: KeyFile) -> None:
        """Without a key pair, create makes a new one and returns it."""
        created = key_file.create("246810", limits=FAST_LIMITS)

        assert key_file.unlock("246810") == created

    @pytest.mark.parametrize(
        ("written", "typed"),
        [
            ("caf\u00e9", "cafe\u0301"),  # precomposed é against e + combining acute
            ("\u212b", "\u00c5"),  # angstrom sign against A with ring above
            ("한국", "\u1112\u1161\u11ab\u1100\u116e\u11a8"),  # Hangul syllables and jamo
        ],
    )
    def test_nfc_normalized(self, key_file: KeyFile, written: str, typed: str) -> None:
        """PINs are compared after NFC, so canonically equal spellings open the file."""
        keypair = key_file.create(written, limits=FAST_LIMITS)

        assert key_file.unlock(typed) == keypair

    def test_default_limits_interactive(self, key_file: KeyFile) -> None:
        """Without limits, the file is sealed with the interactive preset, recorded in it."""
        key_file.create("1234")

        assert key_file.read_info() == KeyFileInfo(
            format_version=1,
            kdf="argon2id",
            opslimit=nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE,
            memlimit=nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE,
        )
        assert not key_file.read_info().below_interactive

    def test_test_limits_recorded(self, key_file: KeyFile) -> None:
        """Test limits are recorded as such, and read_info reports them as weak."""
        key_file.create("1234", limits=FAST_LIMITS)

        info = key_file.read_info()

        assert (info.opslimit, info.memlimit) == (1, 8192)
        assert info.below_interactive

    def test_refuses_overwrite(self, key_file: KeyFile) -> None:
        """An existing file is neither replaced nor touched without overwrite=True."""
        key_file.create("1234", limits=FAST_LIMITS)
        before = _snapshot(key_file.path)

        with pytest.raises(KeyFileExistsError, match="already exists") as caught:
            key_file.create("5678", limits=FAST_LIMITS)

        assert _snapshot(key_file.path) == before
        assert caught.value.filename == str(key_file.path)
        assert isinstance(caught.value, FileExistsError)

    def test_overwrite(self, key_file: KeyFile) -> None:
        """overwrite=True replaces the file with a new identity."""
        first = key_file.create("1234", limits=FAST_LIMITS)

        second = key_file.create("5678", limits=FAST_LIMITS, overwrite=True)

        assert key_file.unlock("5678") == second
        assert second != first

    def test_not_found(self, key_file: KeyFile) -> None:
        """A missing file is KeyFileNotFoundError, a FileNotFoundError with the path."""
        with pytest.raises(KeyFileNotFoundError, match="does not exist") as caught:
            key_file.unlock("1234")

        assert isinstance(caught.value, FileNotFoundError)
        assert caught.value.filename == str(key_file.path)
        assert not key_file.exists()

    def test_accepts_str_path(self, tmp_path: Path) -> None:
        """The path may be given as str."""
        key_file = KeyFile(str(tmp_path / "chatview.key"))

        key_file.create("1234", limits=FAST_LIMITS)

        assert key_file.path == tmp_path / "chatview.key"
        assert key_file.exists()


class TestPins:
    def test_empty(self, key_file: KeyFile) -> None:
        """An empty PIN is rejected and no file is written."""
        with pytest.raises(InvalidPinError, match="PIN is empty"):
            key_file.create("", limits=FAST_LIMITS)

        assert not key_file.exists()

    def test_lone_surrogate(self, key_file: KeyFile) -> None:
        """A PIN with a lone surrogate is rejected, without echoing it."""
        with pytest.raises(InvalidPinError, match="lone surrogate") as caught:
            key_file.create("12\ud83d34", limits=FAST_LIMITS)

        assert "12" not in str(caught.value)

    def test_not_str(self, key_file: KeyFile) -> None:
        """A bytes PIN is a type error: the encoding must not be guessed."""
        with pytest.raises(TypeError, match="PIN must be str"):
            key_file.create(b"1234", limits=FAST_LIMITS)  # type: ignore[arg-type]

    def test_wrong_pin_unchanged(self, key_file: KeyFile) -> None:
        """A wrong PIN leaves the file byte for byte as it was."""
        key_file.create("1234", limits=FAST_LIMITS)
        before = _snapshot(key_file.path)

        for operation in (
            lambda: key_file.unlock("4321"),
            lambda: key_file.export_private_key("4321"),
            lambda: key_file.change_pin("4321", "0000", limits=FAST_LIMITS),
        ):
            with pytest.raises(WrongPinError, match=r"^wrong PIN"):
                operation()
            assert _snapshot(key_file.path) == before

    def test_wrong_pin_message_names_file(self, key_file: KeyFile) -> None:
        """The wrong PIN message names the key file."""
        key_file.create("1234", limits=FAST_LIMITS)

        with pytest.raises(WrongPinError, match=re.escape(str(key_file.path))):
            key_file.unlock("0000")


class TestLimits:
    def test_weak_needs_insecure(self) -> None:
        """Limits below interactive are rejected unless marked insecure."""
        with pytest.raises(InvalidKdfLimitsError, match="below the interactive minimum"):
            KdfLimits(1, 8192)

    @pytest.mark.parametrize(
        ("opslimit", "memlimit"),
        [(0, 8192), (65, 2**26), (2, 1024), (2, 2**33)],
    )
    def test_out_of_range(self, opslimit: int, memlimit: int) -> None:
        """Limits outside what Argon2id and this library accept are rejected."""
        with pytest.raises(InvalidKdfLimitsError, match="outside the accepted range"):
            KdfLimits(opslimit, memlimit, insecure=True)

    def test_presets_ordered(self) -> None:
        """The presets grow, and none is below interactive."""
        presets = [KdfLimits.interactive(), KdfLimits.moderate(), KdfLimits.sensitive()]

        assert [preset.opslimit for preset in presets] == [2, 3, 4]
        assert [preset.memlimit for preset in presets] == [2**26, 2**28, 2**30]
        assert not any(preset.below_interactive for preset in presets)

    def test_at_least(self) -> None:
        """at_least takes the larger of each limit."""
        mixed = KdfLimits(4, 2**26).at_least(KdfLimits(2, 2**28))

        assert (mixed.opslimit, mixed.memlimit) == (4, 2**28)
        assert not mixed.insecure

    def test_not_int(self) -> None:
        """Limits are ints; floats and bools are type errors."""
        with pytest.raises(TypeError, match="opslimit must be an int"):
            KdfLimits(2.0, 2**26)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="opslimit must be an int"):
            KdfLimits(True, 2**26)


class TestImportExport:
    @settings(max_examples=20, deadline=None)
    @given(keypairs, st.booleans())
    def test_round_trip(self, keypair: KeyPair, as_private_key: bool) -> None:
        """An imported seed or 64-byte key exports as the same seed."""
        text = keypair.seed_hex()
        if as_private_key:
            text += keypair.public_key.hex
        with tempfile.TemporaryDirectory() as directory:
            key_file = KeyFile(Path(directory) / "chatview.key")

            imported = key_file.import_private_key("1234", text.upper(), limits=FAST_LIMITS)

            assert imported == keypair
            assert key_file.export_private_key("1234") == keypair.seed_hex()

    def test_import_bad_hex(self, key_file: KeyFile) -> None:
        """A malformed key is rejected before any file is written."""
        with pytest.raises(InvalidPrivateKeyError):
            key_file.import_private_key("1234", "abcd", limits=FAST_LIMITS)

        assert not key_file.exists()

    def test_import_refuses_overwrite(self, key_file: KeyFile) -> None:
        """Import does not replace an existing identity unless told to."""
        key_file.create("1234", limits=FAST_LIMITS)
        before = _snapshot(key_file.path)

        with pytest.raises(KeyFileExistsError):
            key_file.import_private_key("1234", KeyPair.generate().seed_hex(), limits=FAST_LIMITS)

        assert _snapshot(key_file.path) == before

    def test_export_logged_without_key(self, key_file: KeyFile) -> None:
        """Export is logged as a warning that names the public key only."""
        keypair = key_file.create("1234", limits=FAST_LIMITS)

        with capture_logs() as logs:
            exported = key_file.export_private_key("1234")

        assert logs == [
            {
                "event": "identity.keyfile.exported",
                "log_level": "warning",
                "path": str(key_file.path),
                "public_key": keypair.public_key.short,
            }
        ]
        assert exported not in repr(logs)


class TestChangePin:
    def test_new_pin_opens(self, key_file: KeyFile) -> None:
        """After a change the new PIN opens the same key and the old one does not."""
        keypair = key_file.create("1234", limits=FAST_LIMITS)

        key_file.change_pin("1234", "新密码", limits=FAST_LIMITS)

        assert key_file.unlock("新密码") == keypair
        with pytest.raises(WrongPinError):
            key_file.unlock("1234")

    def test_raises_weak_limits(self, key_file: KeyFile) -> None:
        """Without limits, change_pin raises a weak file to at least interactive."""
        key_file.create("1234", limits=FAST_LIMITS)

        key_file.change_pin("1234", "1234")

        info = key_file.read_info()
        assert (info.opslimit, info.memlimit) == (2, 2**26)

    def test_keeps_stronger_limits(self, key_file: KeyFile) -> None:
        """Without limits, limits stronger than interactive are kept."""
        key_file.create("1234", limits=KdfLimits(3, 2**26))

        key_file.change_pin("1234", "5678")

        info = key_file.read_info()
        assert (info.opslimit, info.memlimit) == (3, 2**26)

    def test_new_salt_and_nonce(self, key_file: KeyFile) -> None:
        """Even with the same PIN, the new file shares no salt or nonce with the old one."""
        key_file.create("1234", limits=FAST_LIMITS)
        before = key_file.path.read_bytes()

        key_file.change_pin("1234", "1234", limits=FAST_LIMITS)

        after = key_file.path.read_bytes()
        assert before[22:38] != after[22:38]
        assert before[38:62] != after[38:62]

    def test_failed_rename_keeps_old(
        self, key_file: KeyFile, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """If the final rename fails, the old file is intact and no temporary file remains."""
        key_file.create("1234", limits=FAST_LIMITS)
        before = _snapshot(key_file.path)

        def fail_replace(source: object, target: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "replace", fail_replace)
        with pytest.raises(OSError, match="No space left"):
            key_file.change_pin("1234", "5678", limits=FAST_LIMITS)
        monkeypatch.undo()

        assert _snapshot(key_file.path) == before
        assert sorted(os.listdir(key_file.path.parent)) == [key_file.path.name]
        assert key_file.unlock("1234") is not None

    def test_failed_fsync_keeps_old(
        self, key_file: KeyFile, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """If writing the new file fails, the old file is intact and no temporary file remains."""
        key_file.create("1234", limits=FAST_LIMITS)
        before = _snapshot(key_file.path)

        def fail_fsync(descriptor: int) -> None:
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(os, "fsync", fail_fsync)
        with pytest.raises(OSError, match="Input/output error"):
            key_file.change_pin("1234", "5678", limits=FAST_LIMITS)
        monkeypatch.undo()

        assert _snapshot(key_file.path) == before
        assert sorted(os.listdir(key_file.path.parent)) == [key_file.path.name]


class TestPermissions:
    def test_file_mode(self, key_file: KeyFile) -> None:
        """The key file is readable and writable by its owner only."""
        key_file.create("1234", limits=FAST_LIMITS)

        assert stat.S_IMODE(key_file.path.stat().st_mode) == 0o600

    def test_mode_after_change(self, key_file: KeyFile) -> None:
        """A PIN change keeps mode 0600, even if the old file had been opened up."""
        key_file.create("1234", limits=FAST_LIMITS)
        key_file.path.chmod(0o644)

        key_file.change_pin("1234", "5678", limits=FAST_LIMITS)

        assert stat.S_IMODE(key_file.path.stat().st_mode) == 0o600

    def test_modes_despite_umask(self, tmp_path: Path) -> None:
        """Missing directories get 0700 and the file 0600 even under a umask that denies them."""
        key_file = KeyFile(tmp_path / "a" / "b" / "chatview.key")
        old_umask = os.umask(0o277)
        try:
            key_file.create("1234", limits=FAST_LIMITS)
        finally:
            os.umask(old_umask)

        assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700
        assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700
        assert stat.S_IMODE(key_file.path.stat().st_mode) == 0o600

    def test_existing_directory_kept(self, tmp_path: Path) -> None:
        """An existing directory keeps its mode."""
        tmp_path.chmod(0o755)

        KeyFile(tmp_path / "chatview.key").create("1234", limits=FAST_LIMITS)

        assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755

    def test_no_temporary_left(self, key_file: KeyFile) -> None:
        """Create leaves exactly one file in the directory."""
        key_file.create("1234", limits=FAST_LIMITS)

        assert os.listdir(key_file.path.parent) == [key_file.path.name]


class TestLogs:
    def test_no_secrets(self, key_file: KeyFile) -> None:
        """Log events carry the short public key and never the PIN or seed."""
        with capture_logs() as logs:
            keypair = key_file.create("pin-7391", limits=FAST_LIMITS)
            key_file.unlock("pin-7391")
            with pytest.raises(WrongPinError):
                key_file.unlock("pin-0000")

        events = [entry["event"] for entry in logs]
        text = repr(logs)
        assert events == [
            "identity.keyfile.directory_created",
            "identity.keyfile.created",
            "identity.keyfile.unlocked",
            "identity.keyfile.open_failed",
        ]
        assert "pin-7391" not in text
        assert "pin-0000" not in text
        assert keypair.seed_hex() not in text
        assert logs[-1]["error"] == "WrongPinError"


class TestExclusiveCreate:
    def test_race_lost(self, key_file: KeyFile, monkeypatch: pytest.MonkeyPatch) -> None:
        """A file that appears after the early check is still never overwritten."""
        key_file.create("1234", limits=FAST_LIMITS)
        before = _snapshot(key_file.path)
        # Hide the existing file from the early check, as if it were created just after.
        monkeypatch.setattr(KeyFile, "exists", lambda self: False)

        with pytest.raises(KeyFileExistsError):
            key_file.create("5678", limits=FAST_LIMITS)
        monkeypatch.undo()

        assert _snapshot(key_file.path) == before
        assert os.listdir(key_file.path.parent) == [key_file.path.name]

    def test_without_hard_links(self, key_file: KeyFile, monkeypatch: pytest.MonkeyPatch) -> None:
        """Where hard links are not supported, create falls back to a checked rename."""

        def no_link(source: object, target: object) -> None:
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(os, "link", no_link)

        keypair = key_file.create("1234", limits=FAST_LIMITS)
        with pytest.raises(KeyFileExistsError):
            key_file.create("5678", limits=FAST_LIMITS)
        monkeypatch.undo()

        assert key_file.unlock("1234") == keypair
        assert os.listdir(key_file.path.parent) == [key_file.path.name]

    def test_other_link_errors_raised(
        self, key_file: KeyFile, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Link errors other than missing support are raised, and nothing is left behind."""

        def broken_link(source: object, target: object) -> None:
            raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr(os, "link", broken_link)

        with pytest.raises(OSError, match="Input/output error"):
            key_file.create("1234", limits=FAST_LIMITS)
        monkeypatch.undo()

        assert os.listdir(key_file.path.parent) == []
