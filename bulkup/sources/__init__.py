"""Sources: turning what the user names (manifests, directories, files) into items.

:func:`iter_sources` is the front of a run. Each source is one of:

* a **manifest**, chosen by suffix: ``.jsonl`` / ``.ndjson`` (one JSON object per line;
  blank lines and ``#`` comments skipped), ``.json`` (one top-level array of objects) or
  ``.csv`` (header row naming the columns, one of them ``path``);
* a **directory**, scanned recursively in name order (:func:`scan_directory`), not
  following symlinks to folders unless asked to, never entering /proc, /sys or /dev;
* **any other file**, which becomes one item whose id is the path as given.

Every entry becomes an :class:`~bulkup.core.items.Item` or a
:class:`~bulkup.core.items.SourceProblem` naming its place (``photos.jsonl:12``, in the id
when the entry has no id of its own, else in the message), the problem and the fix; one
bad entry never stops the others. A folder that gives no
file (empty, or nothing passes ``--include``/``--exclude``) and a manifest without
entries are each a warning (the ``empty_source`` log event) naming the source and why.
A file named alone or by a manifest is only stat'ed: the uploader sniffs its bytes when
it admits the item. A file met by a directory scan is stat'ed and its first bytes read
(4 KiB, what the uploader sniffs): folders hold other files, and one that is not an
image, a GIF or a video (``notes.txt``, ``Thumbs.db``, subtitles) is a ``skipped``
``not_media`` problem, not an item that would fail. The formats are read by
:mod:`bulkup.sources.manifests`, folders by :mod:`bulkup.sources.scan`, and the checks
every file passes are :mod:`bulkup.sources.rejects`.

Memory: JSONL and CSV manifests are streamed, so a run holds one line plus the ids seen
so far (needed to report duplicate ids): about ``longest line + 100 bytes × items``.
Manifests named after a folder are read once ahead, for the ids whose entries say more
than a path (so that the folder's entry for the same file yields to them).
A ``.json`` manifest is parsed whole (``~ 10 × file size``); a directory scan holds one
listing per level of the current path (``depth × widest folder``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bulkup import logs
from bulkup.core.items import Item, SourceProblem
from bulkup.core.spec import normalize_category
from bulkup.sources.manifests import MANIFEST_FIELDS, MANIFEST_SUFFIXES, read_entries, suffix
from bulkup.sources.rejects import Ids, Reject, check_file, stat_entry
from bulkup.sources.scan import scan

__all__ = [
    "MANIFEST_FIELDS",
    "MANIFEST_SUFFIXES",
    "SourceOptions",
    "iter_sources",
    "read_manifest",
    "scan_directory",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceOptions:
    """How directories are scanned, and the category for entries that name none.

    ``include`` / ``exclude`` are glob patterns matched against the path relative to the
    scanned directory, with POSIX separators: ``*`` and ``?`` stay within one folder,
    ``**`` crosses folders (``**/`` also matches no folder), ``[...]`` is a set. A
    pattern without ``/`` matches the file name at any depth (``*.jpg``, ``.git``); a
    leading or trailing ``/`` is ignored. Matching is case-sensitive. Empty ``include``
    takes every file; ``exclude`` wins, and an excluded folder is not entered.
    Symlinks to files are followed (they are files); a symlink to a folder is entered only
    with ``follow_symlinks`` (``--follow-symlinks``), else it is one ``skipped`` problem
    saying so. ``/proc``, ``/sys`` and ``/dev`` are never entered.
    ``default_category`` accepts any case style and is stored canonical.
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    follow_symlinks: bool = False
    hidden: bool = False
    default_category: str | None = None
    #: Read each scanned file's first bytes to report one that is not media
    #: ``skipped`` (``not_media``); a count of the entries does without.
    sniff: bool = True

    def __post_init__(self) -> None:
        for name in ("include", "exclude"):
            patterns = getattr(self, name)
            if isinstance(patterns, str):
                raise TypeError(f"{name} must be a tuple of glob patterns, not {patterns!r}")
            object.__setattr__(self, name, tuple(patterns))
        if self.default_category is not None:
            object.__setattr__(self, "default_category", normalize_category(self.default_category))


def iter_sources(
    sources: Sequence[str | os.PathLike[str]],
    options: SourceOptions = SourceOptions(),
    *,
    warn: bool = True,
) -> Iterator[Item | SourceProblem]:
    """Items and problems from every source in order; ids are unique across all of them.

    A source that does not exist gives one ``missing_file`` problem and the others go on.
    The second and later entries with an id already seen give ``duplicate_id`` problems,
    with one exception: when a folder and a later manifest both give an id, and the
    manifest's entry says more than the path (alt text, category, subtitles, post…), the
    manifest's entry is kept and the folder's is the duplicate. Either way every entry
    gives one item or one problem, and a duplicate's problem carries its own place as id.
    A source that gives nothing is logged (``empty_source``, a warning) unless ``warn``
    is false (a second reading of the same sources). Lazy: nothing is read before the
    first ``next()``.
    """
    if isinstance(sources, str | os.PathLike):
        raise TypeError("sources must be a sequence of paths, not a single path")
    return _sources([os.fspath(source) for source in sources], options, warn)


def _sources(
    names: list[str], options: SourceOptions, warn: bool
) -> Iterator[Item | SourceProblem]:
    ids = Ids(_kept(names, options))
    for name in names:
        why_empty = yield from _source(name, options, ids)
        if why_empty is not None and warn:
            logs.event("warning", "empty_source", source=name, reason=why_empty)


def _kept(names: list[str], options: SourceOptions) -> dict[str, str]:
    """The ids that an entry saying more than its path claims in a manifest read after a
    folder, each with that entry's place: the folder's entry for the same id yields to it.

    Those manifests are read ahead once, because the folder's entries come out first.
    """
    folders = [i for i, name in enumerate(names) if os.path.isdir(name)]
    if not folders:
        return {}
    later = [n for n in names[folders[0] + 1 :] if suffix(n) in MANIFEST_SUFFIXES]
    ids, kept = Ids(), dict[str, str]()
    for name in later:
        if os.path.isdir(name):
            continue
        for entry in read_entries(name, ids, options.default_category):
            if isinstance(entry, Item) and _says_more(entry, options.default_category):
                kept.setdefault(entry.id, entry.source)
    return kept


def _says_more(item: Item, default_category: str | None) -> bool:
    """Whether a manifest's entry sets anything a folder's entry for its file would not."""
    bare = Item(id=item.id, path=item.path, media_category=default_category, source=item.source)
    return item != bare


def read_manifest(
    path: str | os.PathLike[str], *, default_category: str | None = None
) -> Iterator[Item | SourceProblem]:
    """Items and problems from one manifest, its format chosen by suffix.

    JSONL and CSV are streamed line by line; a ``.json`` array is loaded whole.
    Relative entry paths are read from the manifest's folder, ``~`` is expanded.
    ``default_category`` (canonical) applies to entries without ``media_category``.
    Raises :class:`ValueError` at once if the suffix is not a manifest suffix.
    """
    name = os.fspath(path)
    if suffix(name) not in MANIFEST_SUFFIXES:
        known = ", ".join(sorted(MANIFEST_SUFFIXES))
        raise ValueError(f"{name}: not a manifest; the suffix must be one of {known}")
    return read_entries(name, Ids(), default_category)


def scan_directory(
    path: str | os.PathLike[str], options: SourceOptions = SourceOptions()
) -> Iterator[Item | SourceProblem]:
    """Items for the files under ``path``, recursively, in name order.

    Ids are ``path`` as given joined with the relative path (``photos/2024/a.jpg``);
    ``Item.path`` is absolute, symlinks not resolved. ``media_type`` is left to sniffing
    and ``media_category`` is ``options.default_category``. A file whose first bytes are not
    an image, a GIF or a video gives one ``skipped`` ``not_media`` problem. A symlink to a
    folder gives
    one ``skipped`` problem unless ``options.follow_symlinks``; a followed one leading
    back to a folder above it gives one ``symlink_loop`` problem; the scan goes on.
    """
    return scan(os.fspath(path), options, Ids())


def _source(
    name: str, options: SourceOptions, ids: Ids
) -> Generator[Item | SourceProblem, None, str | None]:
    """The source's entries; returns why it gave none, or None."""
    try:
        mode = stat_entry(os.path.abspath(name)).st_mode
    except Reject as reject:
        yield reject.problem(name, path=os.path.abspath(name))
        return None
    if stat.S_ISDIR(mode):
        tally = yield from scan(name, options, ids)
        return None if tally is None else tally.why_empty(name, options)
    if suffix(name) in MANIFEST_SUFFIXES:
        entries = 0
        for entry in read_entries(name, ids, options.default_category):
            entries += 1
            yield entry
        return None if entries else f"{name} has no entries"
    yield _single_file(name, ids, options.default_category)
    return None


def _single_file(name: str, ids: Ids, category: str | None) -> Item | SourceProblem:
    path = os.path.abspath(name)
    try:
        ids.claim(name, name)
        check_file(path)
    except Reject as reject:
        return reject.problem(name, item_id=name, path=path)
    return Item(id=name, path=Path(path), media_category=category, source=name)
