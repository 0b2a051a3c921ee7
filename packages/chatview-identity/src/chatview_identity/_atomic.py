"""Atomic, private file writes: a reader sees the old file or the new one, never a mix.

The data goes to a temporary file in the target's directory (so that the final rename
stays on one file system), is flushed to disk with fsync, and then takes the target's
name in one step. The directory is fsynced afterwards so that the rename itself
survives a power cut. Files are created with mode 0600 and missing directories with
mode 0700.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import structlog

__all__ = ["ensure_private_directory", "write_atomically"]

_log = structlog.get_logger(__name__)

# os.link fails with these where the file system has no hard links.
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK})
_NO_DIRECTORY_FSYNC = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP})


def ensure_private_directory(directory: Path) -> None:
    """Create `directory` and any missing parents with mode 0700.

    Directories that already exist keep their mode.
    """
    missing: list[Path] = []
    current = directory
    while not current.exists() and current.parent != current:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue
        # mkdir applies the umask; set the mode explicitly so it is 0700 whatever it is.
        path.chmod(0o700)
        _log.debug("identity.keyfile.directory_created", path=str(path))


def write_atomically(path: Path, data: bytes, *, overwrite: bool) -> None:
    """Write `data` to `path` atomically with mode 0600.

    Args:
        path: the file to write.
        data: its complete new contents.
        overwrite: replace an existing file; when False an existing file makes the call
            raise FileExistsError and stays untouched.

    Raises:
        FileExistsError: `path` exists and `overwrite` is False.
        OSError: the write failed; `path` is then unchanged and no temporary file
            is left behind.
    """
    ensure_private_directory(path.parent)
    descriptor, temporary_name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    temporary = Path(temporary_name)
    try:
        # mkstemp creates the file with mode 0600 minus the umask, so set it exactly.
        if hasattr(os, "fchmod"):
            os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if overwrite:
            os.replace(temporary, path)
        else:
            _link_exclusively(temporary, path)
    finally:
        # After os.replace the name is gone already; after a link or a failure the
        # temporary name is still there and must go.
        temporary.unlink(missing_ok=True)
    _fsync_directory(path.parent)


def _link_exclusively(source: Path, target: Path) -> None:
    # A hard link fails if the target exists, atomically, where checking first and
    # then renaming would let a file created in between be overwritten.
    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        # XXX: without hard links, a file created between this check and the rename
        # is overwritten; file systems such as some FUSE mounts lack hard links.
        if target.exists():
            raise FileExistsError(errno.EEXIST, "file exists", os.fspath(target)) from None
        os.replace(source, target)


def _fsync_directory(directory: Path) -> None:
    if os.name == "nt":
        # Windows cannot open a directory for fsync; its renames are journaled by NTFS.
        return
    descriptor = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(descriptor)
    except OSError as exc:
        # Some file systems do not support fsync on directories. The file itself is on
        # disk already, so that alone does not fail the write.
        if exc.errno not in _NO_DIRECTORY_FSYNC:
            raise
    finally:
        os.close(descriptor)
