"""The files a command writes, checked against each other and against what it reads.

Before any output is opened, every output path (``--report``, ``--posts``, and
``--checkpoint`` with its ``.journal`` and ``.lock``) must be a file of its own: not
another output, and not an input: the config file, the token file, a source named on
the command line (a manifest, a file), a file a scanned folder would read (even one
not yet written: the scan would find it), or a file a manifest names (an item or its
subtitles). A clash is a :class:`~bulkup.errors.ConfigError` naming both and the fix,
so the command exits 2 before it has changed a byte.

Two paths are one file when they resolve to the same path (symlinks followed), or
when both exist with the same device and inode (hard links). An output that exists
and is not a regular file (``/dev/null``, a pipe) clashes with nothing: writing to it
destroys nothing.

:func:`check_paths` needs no more than a ``stat`` per output and source;
:func:`checked` wraps the entries of a first reading of the sources (the one that plans
the post groups), a ``stat`` per file, and only while some output already exists.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from bulkup.core.items import Item, SourceProblem
from bulkup.errors import ConfigError
from bulkup.sources import SourceOptions
from bulkup.sources.manifests import MANIFEST_SUFFIXES, suffix
from bulkup.sources.scan import _matches as matches

__all__ = ["Output", "check_paths", "checked", "outputs_of"]

Inode = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Output:
    """One file a command writes: ``what`` names it for messages (``--report r.jsonl``)."""

    what: str
    path: Path

    @property
    def resolved(self) -> str:
        return os.path.realpath(self.path)

    @property
    def inode(self) -> Inode | None:
        """Device and inode of a regular file that exists, else None."""
        return _inode(self.path)

    @property
    def exempt(self) -> bool:
        """It exists and is no regular file: a device or a pipe destroys nothing."""
        try:
            return not stat.S_ISREG(os.stat(self.path).st_mode)
        except OSError:
            return False


def outputs_of(
    *, report: Path | None = None, posts: Path | None = None, checkpoint: Path | None = None
) -> list[Output]:
    """The files a run with these options writes."""
    found = []
    if report is not None:
        found.append(Output(f"--report {report}", report))
    if posts is not None:
        found.append(Output(f"--posts {posts}", posts))
    if checkpoint is not None:
        found.append(Output(f"--checkpoint {checkpoint}", checkpoint))
        for tail in ("journal", "lock"):
            sibling = checkpoint.with_name(f"{checkpoint.name}.{tail}")
            found.append(Output(f"{sibling} (the {tail} of --checkpoint {checkpoint})", sibling))
    return [output for output in found if not output.exempt]


def _inode(path: str | os.PathLike[str]) -> Inode | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISREG(info.st_mode) else None


def _same(output: Output, path: str | os.PathLike[str]) -> bool:
    inode = output.inode
    if inode is not None and inode == _inode(path):
        return True
    return output.resolved == os.path.realpath(path)


def check_paths(
    outputs: Sequence[Output],
    sources: Sequence[str],
    options: SourceOptions,
    *,
    inputs: Iterable[tuple[str, Path]] = (),
) -> None:
    """Refuse (ConfigError) two outputs that are one file, or an output that is a source,
    the config or token file (``inputs``: what to call it, its path), or a file a scanned
    folder would read."""
    for i, first in enumerate(outputs):
        for second in outputs[i + 1 :]:
            if _same(first, second.path):
                raise ConfigError(
                    f"{first.what} and {second.what} are the same file: each would destroy "
                    "the other; give each its own file"
                )
    named = [(f"the {name} {path}", path) for name, path in inputs]
    for name, path in [*named, *((f"the source {s}", Path(s)) for s in sources)]:
        for output in outputs:
            if os.path.isdir(path):
                _check_folder(output, str(path), options)
            elif _same(output, path):
                raise ConfigError(
                    f"{output.what} is {name}: writing it would destroy it; give another file"
                )


def _check_folder(output: Output, folder: str, options: SourceOptions) -> None:
    rel = os.path.relpath(output.resolved, os.path.realpath(folder))
    if rel == os.curdir or rel.startswith(os.pardir + os.sep) or rel == os.pardir:
        return
    posix = PurePath(rel).as_posix()
    if _scan_reads(posix, options):
        raise ConfigError(
            f"{output.what} is inside {folder}, a folder scanned for files to upload: the "
            f"scan would read it as one. Put it outside {folder}, or exclude it "
            f"(--exclude '{posix}')"
        )


def _scan_reads(rel: str, options: SourceOptions) -> bool:
    """Whether a folder's scan would read the file at ``rel`` (relative, POSIX), as
    :mod:`bulkup.sources.scan` decides: no hidden part, no excluded folder, included."""
    parts = rel.split("/")
    if not options.hidden and any(part.startswith(".") for part in parts):
        return False
    for depth in range(1, len(parts)):
        folder = "/".join(parts[:depth])
        if matches(folder, options.exclude) or matches(folder + "/", options.exclude):
            return False
    return matches(rel, options.include, empty=True) and not matches(rel, options.exclude)


def checked(
    outputs: Sequence[Output], entries: Iterable[Item | SourceProblem]
) -> Iterator[Item | SourceProblem]:
    """``entries``, refusing (ConfigError) any item (or its subtitles) that is an output
    file already there; outputs yet to be written cannot be a file that exists."""
    existing = {inode: output for output in outputs if (inode := output.inode) is not None}
    for entry in entries:
        if existing and isinstance(entry, Item):
            for path in (entry.path, *(s.path for s in entry.subtitles)):
                inode = _inode(path)
                output = existing.get(inode) if inode is not None else None
                if output is not None:
                    raise ConfigError(
                        f"{output.what} is {path}, a file to upload (from {entry.source}): "
                        "writing it would destroy it; give another file"
                    )
        yield entry


def is_manifest(source: str) -> bool:
    """Whether ``source`` is read as a manifest (by its suffix), not a file or folder."""
    return suffix(source) in MANIFEST_SUFFIXES and not os.path.isdir(source)
