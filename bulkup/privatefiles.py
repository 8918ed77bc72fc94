"""Files only their owner may read, written whole: the report, the token file, the checkpoint.

Each holds what other users of the machine must not see (a refresh token is a standing
login; media ids and file names are the user's business), and each must never be left
half-written:

- :func:`open_fd` and :func:`open_text` create a file with mode 0600 whatever the
  umask, and take other users' bits off a file that already exists;
- :func:`write_all` writes every byte, looping over partial ``os.write`` calls (a
  signal, a pipe or a network file system can take fewer bytes than asked), and
  raises ``ENOSPC`` for a write that makes no progress;
- :func:`replace` replaces a file atomically: a private temporary file in the same
  folder, written whole and fsynced, renamed over the old one, and the folder fsynced.
  A reader sees the old content or the new, never a mix; on any failure the old file
  is left as it was and the temporary one removed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path
from typing import IO, Final, Literal

#: Read and write for the owner, nothing for anyone else.
MODE: Final = 0o600


def open_fd(path: str | os.PathLike[str], flags: int) -> int:
    """``os.open(path, flags)``, the file private (0600) whatever the umask or its old mode.

    Only a regular file is made private: ``/dev/null`` or a named pipe keeps its mode
    (``chmod 600 /dev/null`` would break every other user of the machine).
    """
    fd = os.open(path, flags, MODE)
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.fchmod(fd, MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_text(path: str | os.PathLike[str], mode: Literal["a", "w"] = "a") -> IO[str]:
    """A private UTF-8 text file to append to (``"a"``) or to write afresh (``"w"``)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    fd = open_fd(path, flags)
    try:
        return os.fdopen(fd, mode, encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd``, however few bytes each ``os.write`` takes."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


def replace(path: str | os.PathLike[str], data: bytes) -> None:
    """Make ``path`` a private file holding ``data``, atomically and durably.

    The temporary file is ``.NAME.PID.tmp`` beside it, so two processes replacing one
    file at once do not write into each other's temporary file.
    """
    target = Path(path)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        fd = open_fd(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    sync_folder(target.parent)


def sync_folder(folder: str | os.PathLike[str]) -> None:
    """fsync a folder, so a rename in it survives a crash (where the file system can)."""
    with contextlib.suppress(OSError):  # not every file system can fsync a directory
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
