"""Why an entry of a source cannot be an item, and the checks every file passes.

:class:`Reject` carries the problem's kind, what is wrong and the fix; the reader that
knows the place (``photos.jsonl:12``) turns it into a :class:`~bulkup.core.items.SourceProblem`.
:class:`Ids` catches duplicate ids across all the sources of a run (a folder's entry
yields to a manifest's entry that says more). :func:`check_file`
stats a file (it never opens it) and rejects what cannot be uploaded.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from typing import Final

from bulkup.core.items import SourceProblem

_DUPLICATE_FIX: Final = 'ids must be unique in a run: list each file once, or set distinct "id"s'
_FILE_TYPES: Final = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class Reject(Exception):
    """Why an entry cannot be an item; becomes a SourceProblem where the place is known."""

    def __init__(
        self, kind: str, what: str, fix: str, *, keeps_id: bool = True, skipped: bool = False
    ) -> None:
        super().__init__(what)
        self.kind, self.what, self.fix = kind, what, fix
        #: True for an entry left out on purpose: its report line says ``skipped``.
        self.skipped = skipped
        #: False when the id belongs to another entry (a duplicate): the report line of
        #: this one then takes its place (``file:line``) as id, so that a consumer keying
        #: the report by id never sees the good entry as failed.
        self.keeps_id = keeps_id

    def problem(
        self, where: str, *, item_id: str | None = None, path: str | None = None
    ) -> SourceProblem:
        """The problem of the entry at ``where`` (``photos.jsonl:12``, a file, a folder).

        Its id is ``item_id`` if the entry has one of its own, else the place; the message
        names the place only when the id does not, so that a line showing both
        (``failed photos.jsonl:12: invalid JSON …``) names it once.
        """
        problem_id = (item_id if self.keeps_id else None) or where
        message = f"{self.what} — {self.fix}"
        if problem_id != where:
            message = f"{where}: {message}"
        return SourceProblem(
            id=problem_id,
            path=path,
            source=where,
            kind=self.kind,
            message=message,
            status="skipped" if self.skipped else "failed",
        )


#: The bits of a packed place that hold its line (the rest: which manifest).
_LINE_BITS = 40


class Ids:
    """The ids claimed so far in one run, each with the place it came from.

    The first claim of an id keeps it, except that a folder's entry yields to an entry
    of ``kept`` (id → place): one that says more than its path, in a manifest read
    after the folder (see :func:`bulkup.sources.iter_sources`).

    A run holds every id it met to its end, so each costs as little as it can: a place
    that is the id itself shares the id's string, and a manifest's ``NAME:LINE`` is kept
    as one number (the manifest's index and the line), not a string of its own.
    """

    def __init__(self, kept: Mapping[str, str] | None = None) -> None:
        self._first: dict[str, str | int] = {}
        self._kept = dict(kept or {})
        self._names: dict[str, int] = {}
        self._by_index: list[str] = []

    def claim(self, item_id: str, where: str, *, from_folder: bool = False) -> None:
        first = self._first.get(item_id)
        if first is not None:
            what = f"duplicate id {item_id!r} (first at {self._place(first)})"
            raise Reject("duplicate_id", what, _DUPLICATE_FIX, keeps_id=False)
        kept = self._kept.get(item_id)
        if from_folder and kept is not None:
            what = f"duplicate id {item_id!r} (kept: the entry at {kept}, which says more)"
            raise Reject("duplicate_id", what, _DUPLICATE_FIX, keeps_id=False)
        self._first[item_id] = self._packed(item_id, where)

    def _packed(self, item_id: str, where: str) -> str | int:
        if where == item_id:
            return item_id
        name, colon, number = where.rpartition(":")
        if not (colon and number.isdecimal() and number == str(int(number))):
            return where
        index = self._names.get(name)
        if index is None:
            index = self._names[name] = len(self._by_index)
            self._by_index.append(name)
        return index << _LINE_BITS | int(number) if int(number) < 1 << _LINE_BITS else where

    def _place(self, packed: str | int) -> str:
        if isinstance(packed, str):
            return packed
        return f"{self._by_index[packed >> _LINE_BITS]}:{packed & ((1 << _LINE_BITS) - 1)}"


def stat_entry(path: str, missing_fix: str = "check the path") -> os.stat_result:
    """``os.stat`` (following symlinks), with failures as rejections."""
    try:
        return os.stat(path)
    except ValueError:  # embedded NUL
        raise Reject("invalid_value", f"path {path!r} contains a NUL", "fix the path") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Reject("symlink_loop", f"symlink loop at {path}", "fix the link") from None
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
            what = f"cannot reach {path} ({exc.strerror})"
            raise Reject("unreadable", what, "grant access to it and its folders") from None
        if os.path.islink(path):
            what = f"broken symlink {path} -> {os.readlink(path)}"
            raise Reject("missing_file", what, "fix or remove the link") from None
        raise Reject("missing_file", f"no such file or directory: {path}", missing_fix) from None


def check_file(path: str, missing_fix: str = "check the path") -> None:
    """Reject unless ``path`` is a non-empty regular file we may read; stat only, no open."""
    mode = stat_entry(path, missing_fix)
    if stat.S_ISDIR(mode.st_mode):
        fix = "list the files inside it, or give the folder as a source to scan it"
        raise Reject("not_a_file", f"{path} is a directory, not a file", fix)
    if not stat.S_ISREG(mode.st_mode):
        kind = next((name for test, name in _FILE_TYPES if test(mode.st_mode)), "special")
        raise Reject("not_a_file", f"{path} is {kind}, not a regular file", "give a regular file")
    if not os.access(path, os.R_OK):
        fix = "grant read permission (chmod u+r)"
        raise Reject("unreadable", f"cannot read {path} (permission denied)", fix)
    if mode.st_size == 0:
        raise Reject("empty_file", f"{path} is empty (0 bytes)", "remove it or replace the file")
