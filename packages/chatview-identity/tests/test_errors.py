"""The error tree: every error is an IdentityError and the fitting builtin."""

from __future__ import annotations

import errno

import pytest

from chatview_identity import (
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


class TestHierarchy:
    @pytest.mark.parametrize(
        ("error", "parents"),
        [
            (InvalidPublicKeyError, (IdentityError, ValueError)),
            (InvalidPrivateKeyError, (IdentityError, ValueError)),
            (InvalidChallengeError, (IdentityError, ValueError)),
            (InvalidSignatureError, (IdentityError, ValueError)),
            (InvalidPinError, (IdentityError, ValueError)),
            (InvalidKdfLimitsError, (IdentityError, ValueError)),
            (SealedMessageError, (IdentityError, ValueError)),
            (KeyFileError, (IdentityError,)),
            (KeyFileNotFoundError, (KeyFileError, FileNotFoundError)),
            (KeyFileExistsError, (KeyFileError, FileExistsError)),
            (WrongPinError, (KeyFileError, ValueError)),
            (KeyFileFormatError, (KeyFileError, ValueError)),
            (KeyFileTruncatedError, (KeyFileFormatError,)),
            (KeyFileCorruptedError, (KeyFileFormatError,)),
            (UnsupportedKeyFileVersionError, (KeyFileFormatError,)),
        ],
    )
    def test_parents(self, error: type[Exception], parents: tuple[type[Exception], ...]) -> None:
        """Each error subclasses its documented parents."""
        for parent in parents:
            assert issubclass(error, parent), parent

    def test_format_errors_distinct(self) -> None:
        """Truncated, corrupted and unsupported files are not subclasses of one another."""
        kinds = [KeyFileTruncatedError, KeyFileCorruptedError, UnsupportedKeyFileVersionError]
        for kind in kinds:
            for other in kinds:
                assert kind is other or not issubclass(kind, other)

    def test_wrong_pin_not_format_error(self) -> None:
        """A wrong PIN is never caught as a damaged file."""
        assert not issubclass(WrongPinError, KeyFileFormatError)


class TestOsErrors:
    def test_not_found_fields(self) -> None:
        """KeyFileNotFoundError carries errno ENOENT and the file name like FileNotFoundError."""
        error = KeyFileNotFoundError("/tmp/missing.key", "key file does not exist")

        assert error.errno == errno.ENOENT
        assert error.filename == "/tmp/missing.key"
        assert error.strerror == "key file does not exist"

    def test_exists_fields(self) -> None:
        """KeyFileExistsError carries errno EEXIST and the file name like FileExistsError."""
        error = KeyFileExistsError("/tmp/present.key", "key file already exists")

        assert error.errno == errno.EEXIST
        assert error.filename == "/tmp/present.key"
