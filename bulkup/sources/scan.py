"""Directory scans: every regular file below a folder, in name order.

Include/exclude globs are matched against the path relative to the scanned folder
(see :class:`~bulkup.sources.SourceOptions`). Symlinks to files are followed; a symlink
to a folder is one ``skipped`` problem (``symlink_not_followed``) unless
``follow_symlinks`` is set, and then one leading back to a folder above it is one
``symlink_loop`` problem. Either way the scan goes on. ``/proc``, ``/sys`` and ``/dev``
are never entered, however they are reached (a ``skipped`` ``system_folder`` problem).

Folders hold other files: a scanned file whose first bytes (:data:`SNIFF_BYTES`, as many as
the uploader sniffs) are not an image, a GIF or a video is one ``skipped`` ``not_media``
problem (:func:`media_or_skip`), subtitles included: they attach to a video through a
manifest's ``subtitles`` field. Images and videos that X does not take (HEIC, AVIF, AVI…)
are media, so they stay items and fail preflight naming the types that X takes. A file
named on the command line or by a manifest is not judged here: if it is not media, it fails.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Final

from bulkup.core.items import Item, SourceProblem
from bulkup.media.probe import SNIFF_BYTES, sniff
from bulkup.sources.rejects import Ids, Reject, check_file, stat_entry

if TYPE_CHECKING:
    from bulkup.sources import SourceOptions

#: The kernel's views of processes, devices and drivers: folders that hold no media,
#: endless or special files, never scanned.
SYSTEM_FOLDERS: Final = ("/proc", "/sys", "/dev")
_SYSTEM_FIX: Final = "nothing under /proc, /sys or /dev is uploaded: remove the link, or exclude it"
_FOLLOW_FIX: Final = "give --follow-symlinks to scan the folders that symlinks lead to"
_LOOP_FIX: Final = "remove the link, or run without --follow-symlinks"
_NOT_MEDIA: Final = "not an image, GIF or video (by its first bytes)"
_OTHER_FILES: Final = "folders may hold other files: not uploaded"
_SUBTITLES_FIX: Final = (
    'folders may hold other files: subtitles attach to a video through the "subtitles" '
    "field of its manifest entry"
)
_SUBTITLES: Final = {"text/srt": "SRT", "text/vtt": "WebVTT"}
#: First bytes of images and videos that the sniffer does not name (X does not take
#: them): media all the same, so a scan keeps them and preflight fails them. ISO BMFF
#: (HEIC, AVIF, CR3…), AVI, FLV, MPEG program and video streams, ASF/WMV, JPEG 2000,
#: JPEG XL, Photoshop.
_OTHER_MEDIA: Final = re.compile(
    rb"....ftyp|RIFF....AVI |FLV\x01|\x00\x00\x01[\xb3\xba]|\x30\x26\xb2\x75\x8e\x66\xcf\x11"
    rb"|\x00\x00\x00\x0c(?:jP  |JXL )\r\n\x87\n|\xff\x4f\xff\x51|\xff\x0a|8BPS",
    re.DOTALL,
)


def scan(
    name: str, options: SourceOptions, ids: Ids
) -> Generator[Item | SourceProblem, None, Tally | None]:
    """The folder's entries; returns what the scan met (None: the folder itself failed)."""
    root = os.path.abspath(name)
    try:
        mode = stat_entry(root)
        if not stat.S_ISDIR(mode.st_mode):
            raise Reject("not_a_file", f"{root} is not a directory", "give a folder to scan")
        outside_system_folders(root)
    except Reject as reject:
        yield reject.problem(name, path=root)
        return None
    walker = _Walker(name, PurePath(name).as_posix(), options, ids)
    yield from walker.walk(root, "", frozenset({(mode.st_dev, mode.st_ino)}))
    return walker.tally


@dataclass(slots=True)
class Tally:
    """What one scan met: files taken (each an item or a problem), files and folders the
    include/exclude patterns left out, hidden entries skipped."""

    taken: int = 0
    files_left: int = 0
    folders_left: int = 0
    hidden: int = 0

    def why_empty(self, name: str, options: SourceOptions) -> str | None:
        """Why the scan of ``name`` gave no file, for a warning; None if it gave some."""
        if self.taken:
            return None
        if self.files_left or self.folders_left:
            patterns = [f"--include {p!r}" for p in options.include]
            patterns += [f"--exclude {p!r}" for p in options.exclude]
            left = [_count(self.files_left, "file"), _count(self.folders_left, "folder")]
            return (
                f"no file of {name} passes {' '.join(patterns)} "
                f"({' and '.join(n for n in left if n)} left out)"
            )
        hidden = _count(self.hidden, "hidden entry")
        note = f" ({hidden} skipped: --hidden takes them)" if hidden else ""
        return f"{name} holds no files{note}"


def _count(n: int, what: str) -> str:
    plural = what[:-1] + "ies" if what.endswith("y") else what + "s"
    return "" if n == 0 else f"{n} {what if n == 1 else plural}"


@dataclass(slots=True)
class _Walker:
    """One directory scan: ``prefix`` starts every id, ``ancestors`` catch symlink loops."""

    name: str
    prefix: str
    options: SourceOptions
    ids: Ids
    tally: Tally = field(default_factory=Tally)

    def walk(
        self, folder: str, rel: str, ancestors: frozenset[tuple[int, int]]
    ) -> Iterator[Item | SourceProblem]:
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            fix = "grant read and execute permission on it, or exclude it"
            what = f"cannot list folder {folder} ({exc.strerror})"
            yield Reject("unreadable", what, fix).problem(self._id(rel), path=folder)
            return
        for entry in entries:
            if self.options.hidden or not entry.name.startswith("."):
                yield from self._visit(
                    entry, f"{rel}/{entry.name}" if rel else entry.name, ancestors
                )
            else:
                self.tally.hidden += 1

    def _visit(
        self, entry: os.DirEntry[str], rel: str, ancestors: frozenset[tuple[int, int]]
    ) -> Iterator[Item | SourceProblem]:
        try:
            is_dir = entry.is_dir()  # follows a symlink
        except OSError:  # a loop of links: _check_file names it
            is_dir = False
        exclude = self.options.exclude
        if not is_dir and self._wanted(rel):
            self.tally.taken += 1
            yield self._file(entry.path, rel, linked=entry.is_symlink())
        elif not is_dir:
            self.tally.files_left += 1
        elif _matches(rel, exclude) or _matches(f"{rel}/", exclude):
            self.tally.folders_left += 1
        elif entry.is_symlink() and not self.options.follow_symlinks:
            what = f"a symlink to a folder ({entry.path} -> {_target(entry.path)}), not followed"
            problem = Reject("symlink_not_followed", what, _FOLLOW_FIX, skipped=True)
            yield problem.problem(self._id(rel), path=entry.path)
        else:
            yield from self._folder(entry.path, rel, ancestors)

    def _wanted(self, rel: str) -> bool:
        include, exclude = self.options.include, self.options.exclude
        return _matches(rel, include, empty=True) and not _matches(rel, exclude)

    def _folder(
        self, path: str, rel: str, ancestors: frozenset[tuple[int, int]]
    ) -> Iterator[Item | SourceProblem]:
        try:
            mode = stat_entry(path)
            if (mode.st_dev, mode.st_ino) in ancestors:
                what = f"{path} leads back to a folder above it"
                raise Reject("symlink_loop", what, _LOOP_FIX)
            outside_system_folders(path)
        except Reject as reject:
            yield reject.problem(self._id(rel), path=path)
            return
        yield from self.walk(path, rel, ancestors | {(mode.st_dev, mode.st_ino)})

    def _file(self, path: str, rel: str, *, linked: bool) -> Item | SourceProblem:
        item_id = self._id(rel)
        try:
            self.ids.claim(item_id, item_id, from_folder=True)
            if linked:
                outside_system_folders(path)
            check_file(path)
            if self.options.sniff:
                media_or_skip(path)
        except Reject as reject:
            # A duplicate's line must not take the id of the entry kept: its place does.
            where = item_id if reject.keeps_id else f"{item_id} (in folder {self.name})"
            return reject.problem(where, item_id=item_id, path=path)
        category = self.options.default_category
        return Item(id=item_id, path=Path(path), media_category=category, source=self.name)

    def _id(self, rel: str) -> str:
        return str(PurePath(self.prefix, rel).as_posix()) if rel else self.prefix


def outside_system_folders(path: str) -> None:
    """Reject (as skipped) a path that is, or leads, into /proc, /sys or /dev."""
    real = os.path.realpath(path)
    for system in SYSTEM_FOLDERS:
        if real == system or real.startswith(system + "/"):
            shown = path if real == path else f"{path} (-> {real})"
            what = f"{shown} is in {system}, which is never scanned"
            raise Reject("system_folder", what, _SYSTEM_FIX, skipped=True)


def media_or_skip(path: str) -> None:
    """Reject (as skipped, ``not_media``) a file whose first bytes are not an image, a GIF
    or a video; one read of :data:`SNIFF_BYTES` bytes, as cheap as the stat before it."""
    try:
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError as exc:
        what = f"cannot read {path} ({exc.strerror})"
        raise Reject("unreadable", what, "grant read permission (chmod u+r)") from None
    mime = sniff(head)
    if mime in _SUBTITLES:
        what = f"subtitles ({_SUBTITLES[mime]}), {_NOT_MEDIA}"
        raise Reject("not_media", what, _SUBTITLES_FIX, skipped=True)
    if mime is None and not _OTHER_MEDIA.match(head):
        raise Reject("not_media", _NOT_MEDIA, _OTHER_FILES, skipped=True)


def _target(link: str) -> str:
    try:
        return os.readlink(link)
    except OSError:  # replaced since it was listed
        return os.path.realpath(link)


def _matches(rel: str, patterns: tuple[str, ...], *, empty: bool = False) -> bool:
    """Whether ``rel`` matches any pattern (``empty`` when there are none)."""
    if not patterns:
        return empty
    name = rel.rstrip("/").rpartition("/")[2]
    return any(_glob(p).fullmatch(rel if "/" in p.strip("/") else name) for p in patterns)


@functools.lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    """Compile a glob: ``**/`` any folders (or none), ``**`` anything, ``*``/``?`` within one."""
    pattern, out, i = pattern.strip("/"), [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "[" and (end := _set_end(pattern, i)) > 0:
            out.append(_set(pattern[i + 1 : end]))
            i = end + 1
        else:
            out.append({"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i])))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def _set_end(pattern: str, start: int) -> int:
    """Index of the ``]`` closing the set opened at ``start``, or -1 (then ``[`` is literal)."""
    i = start + 1
    i += pattern.startswith("!", i)
    i += pattern.startswith("]", i)
    return pattern.find("]", i)


def _set(body: str) -> str:
    negate = body.startswith("!")
    body = "".join("\\" + c if c in "\\[]&~|^" else c for c in body[negate:])
    return f"[^/{body}]" if negate else f"[{body}]"
