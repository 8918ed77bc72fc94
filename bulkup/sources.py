"""Sources: turning what the user names (manifests, directories, files) into items.

:func:`iter_sources` is the front of a run. Each source is one of:

* a **manifest**, chosen by suffix: ``.jsonl`` / ``.ndjson`` (one JSON object per line;
  blank lines and ``#`` comments skipped), ``.json`` (one top-level array of objects) or
  ``.csv`` (header row naming the columns, one of them ``path``);
* a **directory**, scanned recursively in name order (:func:`scan_directory`);
* **any other file**, which becomes one item whose id is the path as given.

Every entry becomes an :class:`~bulkup.items.Item` or a
:class:`~bulkup.items.SourceProblem` whose message names the place (``photos.jsonl:12``),
the problem and the fix; one bad entry never stops the others. Files are only stat'ed,
never opened: the uploader sniffs the bytes when it admits an item.

Memory: JSONL and CSV manifests are streamed, so a run holds one line plus the ids seen
so far (needed to report duplicate ids): about ``longest line + 100 bytes × items``.
A ``.json`` manifest is parsed whole (``~ 10 × file size``); a directory scan holds one
listing per level of the current path (``depth × widest folder``).
"""

from __future__ import annotations

import csv
import errno
import functools
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import IO, Any, Final

from bulkup.items import Item, SourceProblem, SubtitleSpec
from bulkup.spec import CATEGORIES, MAX_ADDITIONAL_OWNERS, MAX_ALT_TEXT_CHARS, normalize_category

__all__ = [
    "MANIFEST_FIELDS",
    "MANIFEST_SUFFIXES",
    "SourceOptions",
    "iter_sources",
    "read_manifest",
    "scan_directory",
]

MANIFEST_SUFFIXES: Final = frozenset({".jsonl", ".ndjson", ".json", ".csv"})
#: Fields a manifest entry may set; any other field is kept in :attr:`Item.extra`.
MANIFEST_FIELDS: Final = frozenset(
    {
        "path",
        "id",
        "media_category",
        "media_type",
        "alt_text",
        "additional_owners",
        "shared",
        "subtitles",
        "post",
    }
)

_JSONL_FIX: Final = 'each line must be one JSON object like {"path": "a.jpg"}'
_OBJECT_FIX: Final = 'each entry must be a JSON object like {"path": "a.jpg"}'
_JSON_FIX: Final = 'the file must be one JSON array of objects like [{"path": "a.jpg"}]'
_CSV_FIX: Final = 'the first row must name the columns, one of them "path", like: path,alt_text'
_DUPLICATE_FIX: Final = 'ids must be unique in a run: list each file once, or set distinct "id"s'
_TRUE: Final = frozenset({"true", "1", "yes"})
_FALSE: Final = frozenset({"false", "0", "no"})
_USER_ID: Final = re.compile(r"[0-9]+")
_OWNER_SEPARATORS: Final = re.compile(r"[\s,]+")
_JSON_SPACE: Final = re.compile(r"[ \t\n\r]*")
_FILE_TYPES: Final = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceOptions:
    """How directories are scanned, and the category for entries that name none.

    ``include`` / ``exclude`` are glob patterns matched against the path relative to the
    scanned directory, with POSIX separators: ``*`` and ``?`` stay within one folder,
    ``**`` crosses folders (``**/`` also matches no folder), ``[...]`` is a set. A
    pattern without ``/`` matches the file name at any depth (``*.jpg``, ``.git``); a
    leading or trailing ``/`` is ignored. Matching is case-sensitive. Empty ``include``
    takes every file; ``exclude`` wins, and an excluded folder is not entered.
    ``follow_symlinks=False`` skips symlinks (to files and to folders) instead of
    following them. ``default_category`` accepts any case style and is stored canonical.
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    follow_symlinks: bool = True
    hidden: bool = False
    default_category: str | None = None

    def __post_init__(self) -> None:
        for name in ("include", "exclude"):
            patterns = getattr(self, name)
            if isinstance(patterns, str):
                raise TypeError(f"{name} must be a tuple of glob patterns, not {patterns!r}")
            object.__setattr__(self, name, tuple(patterns))
        if self.default_category is not None:
            object.__setattr__(self, "default_category", normalize_category(self.default_category))


def iter_sources(
    sources: Sequence[str | os.PathLike[str]], options: SourceOptions = SourceOptions()
) -> Iterator[Item | SourceProblem]:
    """Items and problems from every source in order; ids are unique across all of them.

    A source that does not exist gives one ``missing_file`` problem and the others go on.
    The second and later entries with an id already seen give ``duplicate_id`` problems.
    Lazy: nothing is read before the first ``next()``.
    """
    if isinstance(sources, str | os.PathLike):
        raise TypeError("sources must be a sequence of paths, not a single path")
    return _sources([os.fspath(source) for source in sources], options)


def _sources(names: list[str], options: SourceOptions) -> Iterator[Item | SourceProblem]:
    ids = _Ids()
    for name in names:
        yield from _source(name, options, ids)


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
    if _suffix(name) not in MANIFEST_SUFFIXES:
        known = ", ".join(sorted(MANIFEST_SUFFIXES))
        raise ValueError(f"{name}: not a manifest; the suffix must be one of {known}")
    return _read_manifest(name, _Ids(), default_category)


def scan_directory(
    path: str | os.PathLike[str], options: SourceOptions = SourceOptions()
) -> Iterator[Item | SourceProblem]:
    """Items for the files under ``path``, recursively, in name order.

    Ids are ``path`` as given joined with the relative path (``photos/2024/a.jpg``);
    ``Item.path`` is absolute, symlinks not resolved. ``media_type`` is left to sniffing
    and ``media_category`` is ``options.default_category``. A symlink leading back to a
    folder above it gives one ``symlink_loop`` problem and the scan goes on.
    """
    return _scan(os.fspath(path), options, _Ids())


# --- problems ------------------------------------------------------------------------
class _Reject(Exception):
    """Why an entry cannot be an item; becomes a SourceProblem where the place is known."""

    def __init__(self, kind: str, what: str, fix: str, *, keeps_id: bool = True) -> None:
        super().__init__(what)
        self.kind, self.what, self.fix = kind, what, fix
        #: False when the id belongs to another entry (a duplicate): the report line of
        #: this one then takes its place (``file:line``) as id, so that a consumer keying
        #: the report by id never sees the good entry as failed.
        self.keeps_id = keeps_id

    def problem(
        self, where: str, *, item_id: str | None = None, path: str | None = None
    ) -> SourceProblem:
        message = f"{where}: {self.what} — {self.fix}"
        problem_id = (item_id if self.keeps_id else None) or where
        return SourceProblem(
            id=problem_id, path=path, source=where, kind=self.kind, message=message
        )


class _Ids:
    """The ids claimed so far in one run, each with the place it came from."""

    def __init__(self) -> None:
        self._first: dict[str, str] = {}

    def claim(self, item_id: str, where: str) -> None:
        first = self._first.get(item_id)
        if first is not None:
            what = f"duplicate id {item_id!r} (first at {first})"
            raise _Reject("duplicate_id", what, _DUPLICATE_FIX, keeps_id=False)
        self._first[item_id] = where


def _stat(path: str, missing_fix: str = "check the path") -> os.stat_result:
    """``os.stat`` (following symlinks), with failures as rejections."""
    try:
        return os.stat(path)
    except ValueError:  # embedded NUL
        raise _Reject("invalid_value", f"path {path!r} contains a NUL", "fix the path") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _Reject("symlink_loop", f"symlink loop at {path}", "fix the link") from None
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
            what = f"cannot reach {path} ({exc.strerror})"
            raise _Reject("unreadable", what, "grant access to it and its folders") from None
        if os.path.islink(path):
            what = f"broken symlink {path} -> {os.readlink(path)}"
            raise _Reject("missing_file", what, "fix or remove the link") from None
        raise _Reject("missing_file", f"no such file or directory: {path}", missing_fix) from None


def _check_file(path: str, missing_fix: str = "check the path") -> None:
    """Reject unless ``path`` is a non-empty regular file we may read; stat only, no open."""
    mode = _stat(path, missing_fix)
    if stat.S_ISDIR(mode.st_mode):
        fix = "list the files inside it, or give the folder as a source to scan it"
        raise _Reject("not_a_file", f"{path} is a directory, not a file", fix)
    if not stat.S_ISREG(mode.st_mode):
        kind = next((name for test, name in _FILE_TYPES if test(mode.st_mode)), "special")
        raise _Reject("not_a_file", f"{path} is {kind}, not a regular file", "give a regular file")
    if not os.access(path, os.R_OK):
        fix = "grant read permission (chmod u+r)"
        raise _Reject("unreadable", f"cannot read {path} (permission denied)", fix)
    if mode.st_size == 0:
        raise _Reject("empty_file", f"{path} is empty (0 bytes)", "remove it or replace the file")


# --- sources -------------------------------------------------------------------------
def _suffix(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def _source(name: str, options: SourceOptions, ids: _Ids) -> Iterator[Item | SourceProblem]:
    try:
        mode = _stat(os.path.abspath(name)).st_mode
    except _Reject as reject:
        yield reject.problem(name, path=os.path.abspath(name))
        return
    if stat.S_ISDIR(mode):
        yield from _scan(name, options, ids)
    elif _suffix(name) in MANIFEST_SUFFIXES:
        yield from _read_manifest(name, ids, options.default_category)
    else:
        yield _single_file(name, ids, options.default_category)


def _single_file(name: str, ids: _Ids, category: str | None) -> Item | SourceProblem:
    path = os.path.abspath(name)
    try:
        ids.claim(name, name)
        _check_file(path)
    except _Reject as reject:
        return reject.problem(name, item_id=name, path=path)
    return Item(id=name, path=Path(path), media_category=category, source=name)


# --- manifests -----------------------------------------------------------------------
@dataclass(slots=True)
class _Manifest:
    """One manifest being read: its name for messages and the folder of relative paths."""

    name: str
    folder: str
    ids: _Ids
    default_category: str | None

    def entry(self, raw: object, where: str) -> Item | SourceProblem:
        item_id = path = None
        try:
            entry = _as_entry(raw)
            text = _path_text(entry)
            path = os.path.abspath(os.path.join(self.folder, os.path.expanduser(text)))
            item_id = _entry_id(entry, text)
            self.ids.claim(item_id, where)
            fields = _fields(entry, self.default_category, self.folder)
            _check_file(path, f"check the path; relative paths start at {self.folder}")
        except _Reject as reject:
            return reject.problem(where, item_id=item_id, path=path)
        return Item(id=item_id, path=Path(path), source=where, **fields)


def _read_manifest(name: str, ids: _Ids, category: str | None) -> Iterator[Item | SourceProblem]:
    try:
        _check_file(name)
        # Text modes: utf-8-sig drops a BOM; newline="" as the csv module asks.
        f: IO[Any] = (
            open(name, "rb")  # noqa: SIM115 - closed below
            if _suffix(name) in {".jsonl", ".ndjson"}
            else open(name, encoding="utf-8-sig", newline="")  # noqa: SIM115
        )
    except _Reject as reject:
        yield reject.problem(name, path=os.path.abspath(name))
        return
    except OSError as exc:
        fix = "grant read permission (chmod u+r)"
        yield _Reject("unreadable", f"cannot open manifest ({exc.strerror})", fix).problem(name)
        return
    manifest = _Manifest(name, os.path.dirname(os.path.abspath(name)), ids, category)
    readers = {".json": _read_json, ".csv": _read_csv}
    with f:
        yield from readers.get(_suffix(name), _read_jsonl)(f, manifest)


def _read_jsonl(f: IO[bytes], manifest: _Manifest) -> Iterator[Item | SourceProblem]:
    for number, raw_line in enumerate(f, 1):
        where = f"{manifest.name}:{number}"
        try:
            line = raw_line.decode("utf-8").removeprefix("\ufeff").rstrip()
        except UnicodeDecodeError as exc:
            what = f"not valid UTF-8 (byte {exc.start + 1})"
            yield _Reject("invalid_entry", what, "save the manifest as UTF-8").problem(where)
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            what = f"invalid JSON ({exc.msg}: column {exc.colno})"
            yield _Reject("invalid_entry", what, _JSONL_FIX).problem(where)
            continue
        yield manifest.entry(raw, where)


def _read_json(f: IO[str], manifest: _Manifest) -> Iterator[Item | SourceProblem]:
    try:
        entries = _json_array(f.read())
    except UnicodeDecodeError as exc:
        what = f"not valid UTF-8 (byte {exc.start + 1})"
        yield _Reject("invalid_entry", what, "save the manifest as UTF-8").problem(manifest.name)
        return
    except json.JSONDecodeError as exc:
        what = f"invalid JSON ({exc.msg}: column {exc.colno})"
        yield _Reject("invalid_entry", what, _JSON_FIX).problem(f"{manifest.name}:{exc.lineno}")
        return
    except _Reject as reject:
        yield reject.problem(manifest.name)
        return
    for number, raw in entries:
        yield manifest.entry(raw, f"{manifest.name}:{number}")


def _json_array(text: str) -> list[tuple[int, object]]:
    """The elements of a top-level JSON array, each with the line it starts on."""
    pos = _skip_space(text, 0)
    if not text.startswith("[", pos):
        found = _json_kind(json.loads(text))  # raises JSONDecodeError if not JSON at all
        raise _Reject("invalid_entry", f"expected a top-level JSON array, found {found}", _JSON_FIX)
    decoder = json.JSONDecoder()
    elements: list[tuple[int, object]] = []
    line, counted, pos = 1, 0, _skip_space(text, pos + 1)
    while elements or not text.startswith("]", pos):  # "[]" has no elements
        value, end = decoder.raw_decode(text, pos)  # raises on a trailing comma too
        line, counted = line + text.count("\n", counted, pos), pos
        elements.append((line, value))
        pos = _skip_space(text, end)
        if text.startswith("]", pos):
            break
        if not text.startswith(",", pos):
            raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
        pos = _skip_space(text, pos + 1)
    if _skip_space(text, pos + 1) != len(text):
        raise json.JSONDecodeError("Extra data", text, _skip_space(text, pos + 1))
    return elements


def _skip_space(text: str, pos: int) -> int:
    match = _JSON_SPACE.match(text, pos)
    return match.end() if match else pos


def _read_csv(f: IO[str], manifest: _Manifest) -> Iterator[Item | SourceProblem]:
    reader = csv.DictReader(f)
    try:
        header = [_column(name) for name in reader.fieldnames or ()]
    except (csv.Error, UnicodeDecodeError) as exc:
        yield _Reject("invalid_entry", f"unreadable header ({exc})", _CSV_FIX).problem(
            f"{manifest.name}:1"
        )
        return
    if "path" not in header or len(set(header)) < len(header):
        listed = ", ".join(header) if header else "no header row"
        what = f'the header ({listed}) needs exactly one "path" column and no repeated names'
        yield _Reject("invalid_entry", what, _CSV_FIX).problem(f"{manifest.name}:1")
        return
    reader.fieldnames = header
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            fix = "save the manifest as UTF-8 CSV"
            yield _Reject("invalid_entry", f"unreadable CSV ({exc})", fix).problem(
                f"{manifest.name}:{reader.line_num}"
            )
            return
        result = _csv_row(row, len(header), f"{manifest.name}:{reader.line_num}", manifest)
        if result is not None:
            yield result


def _column(name: str) -> str:
    name = name.strip()
    return name.lower() if name.lower() in MANIFEST_FIELDS else name


def _csv_row(
    row: dict[Any, Any], columns: int, where: str, manifest: _Manifest
) -> Item | SourceProblem | None:
    if None in row:  # more values than columns
        what = f"{columns + len(row[None])} values but the header names {columns} columns"
        fix = 'quote values that contain commas, like "a, b"'
        return _Reject("invalid_entry", what, fix).problem(where)
    entry = {key: value for key, value in row.items() if value}  # empty cell = not given
    return manifest.entry(entry, where) if entry else None


# --- entry fields --------------------------------------------------------------------
def _json_kind(value: object) -> str:
    kinds = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    return "null" if value is None else kinds.get(type(value), "a number")


def _as_entry(raw: object) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise _Reject(
            "invalid_entry", f"expected a JSON object, found {_json_kind(raw)}", _OBJECT_FIX
        )
    return raw


def _path_text(entry: Mapping[str, Any]) -> str:
    text = entry.get("path")
    if text is None:
        raise _Reject(
            "invalid_entry", 'no "path"', 'every entry names its file, like {"path": "a.jpg"}'
        )
    if not isinstance(text, str) or not text:
        raise _invalid("path", text, 'give the file as a non-empty string, like "a.jpg"')
    return text


def _invalid(name: str, value: object, fix: str) -> _Reject:
    return _Reject("invalid_value", f"invalid {name} {value!r}", fix)


def _entry_id(entry: Mapping[str, Any], path_text: str) -> str:
    value = entry.get("id")
    if value is None:
        return path_text
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise _invalid("id", value, "give a non-empty string, or leave it out to use the path")
    return value


def _fields(entry: Mapping[str, Any], default_category: str | None, folder: str) -> dict[str, Any]:
    category = entry.get("media_category")
    return {
        "subtitles": _subtitles(entry.get("subtitles"), folder),
        "post": _post(entry.get("post")),
        "media_category": default_category if category is None else _category(category),
        "media_type": _media_type(entry.get("media_type")),
        "alt_text": _alt_text(entry.get("alt_text")),
        "additional_owners": _owners(entry.get("additional_owners")),
        "shared": _shared(entry.get("shared")),
        "extra": {key: value for key, value in entry.items() if key not in MANIFEST_FIELDS},
    }


_SUBTITLE_FIX: Final = (
    'give a list like [{"path": "en.srt", "language_code": "en", "display_name": "English"}]'
)
_LANGUAGE: Final = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")


def _subtitles(value: object, folder: str) -> tuple[SubtitleSpec, ...]:
    if value is None:
        return ()
    if isinstance(value, str):  # CSV: "en.srt:en:English;fr.srt:fr"
        value = [
            dict(zip(("path", "language_code", "display_name"), part.split(":"), strict=False))
            for part in value.split(";")
            if part.strip()
        ]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _invalid("subtitles", value, _SUBTITLE_FIX)
    specs = []
    for entry in value:
        path, language = entry.get("path"), entry.get("language_code")
        if not isinstance(path, str) or not path.strip():
            raise _invalid("subtitles", value, "each subtitle needs a path; " + _SUBTITLE_FIX)
        if not isinstance(language, str) or not _LANGUAGE.fullmatch(language.strip()):
            raise _invalid(
                "subtitles", value, "each subtitle needs a BCP 47 language_code (en, pt-BR)"
            )
        name = entry.get("display_name")
        full = os.path.abspath(os.path.join(folder, os.path.expanduser(path.strip())))
        _check_file(full, f"check the subtitle path; relative paths start at {folder}")
        specs.append(
            SubtitleSpec(
                path=Path(full),
                language_code=language.strip(),
                display_name=str(name) if name else None,
            )
        )
    return tuple(specs)


def _post(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _invalid("post", value, "name the post with a string or a number")
    return str(value)


def _category(value: object) -> str:
    try:
        if isinstance(value, str):
            return normalize_category(value)
    except ValueError:
        pass
    fix = f"use one of {', '.join(CATEGORIES)} (any case style), or leave it out"
    raise _invalid("media_category", value, fix)


def _media_type(value: object) -> str | None:
    if value is None:
        return None
    kind, slash, subtype = value.strip().partition("/") if isinstance(value, str) else ("", "", "")
    if not (kind and slash and subtype):
        fix = 'give a MIME type like "image/jpeg", or leave it out to detect it from the bytes'
        raise _invalid("media_type", value, fix)
    return f"{kind}/{subtype}"


def _alt_text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _invalid("alt_text", value, "give the description as a string")
    if len(value) > MAX_ALT_TEXT_CHARS:
        what = f"alt_text has {len(value)} characters"
        raise _Reject("invalid_value", what, f"shorten it to at most {MAX_ALT_TEXT_CHARS}")
    return value


def _owners(value: object) -> tuple[str, ...]:
    fix = 'list numeric user ids, like ["1234", "5678"] (in CSV: "1234 5678")'
    if value is None:
        return ()
    if isinstance(value, str):
        items: Iterable[object] = _OWNER_SEPARATORS.split(value.strip())
    elif isinstance(value, list):
        items = value
    else:
        raise _invalid("additional_owners", value, fix)
    owners = tuple(_owner(item, fix) for item in items if item != "")
    if len(owners) > MAX_ADDITIONAL_OWNERS:
        what = f"additional_owners has {len(owners)} ids"
        raise _Reject("invalid_value", what, f"give at most {MAX_ADDITIONAL_OWNERS}")
    return owners


def _owner(item: object, fix: str) -> str:
    if isinstance(item, int) and not isinstance(item, bool) and item >= 0:
        return str(item)
    if isinstance(item, str) and _USER_ID.fullmatch(item.strip()):
        return item.strip()
    raise _invalid("additional_owners entry", item, fix)


def _shared(value: object) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    word = str(value).strip().lower() if isinstance(value, str | int) else ""
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise _invalid("shared", value, "use true or false (also 1/0, yes/no)")


# --- directories ---------------------------------------------------------------------
def _scan(name: str, options: SourceOptions, ids: _Ids) -> Iterator[Item | SourceProblem]:
    root = os.path.abspath(name)
    try:
        mode = _stat(root)
        if not stat.S_ISDIR(mode.st_mode):
            raise _Reject("not_a_file", f"{root} is not a directory", "give a folder to scan")
    except _Reject as reject:
        yield reject.problem(name, path=root)
        return
    walker = _Walker(name, PurePath(name).as_posix(), options, ids)
    yield from walker.walk(root, "", frozenset({(mode.st_dev, mode.st_ino)}))


@dataclass(slots=True)
class _Walker:
    """One directory scan: ``prefix`` starts every id, ``ancestors`` catch symlink loops."""

    name: str
    prefix: str
    options: SourceOptions
    ids: _Ids

    def walk(
        self, folder: str, rel: str, ancestors: frozenset[tuple[int, int]]
    ) -> Iterator[Item | SourceProblem]:
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            fix = "grant read and execute permission on it, or exclude it"
            what = f"cannot list folder {folder} ({exc.strerror})"
            yield _Reject("unreadable", what, fix).problem(self._id(rel), path=folder)
            return
        for entry in entries:
            if self.options.hidden or not entry.name.startswith("."):
                yield from self._visit(
                    entry, f"{rel}/{entry.name}" if rel else entry.name, ancestors
                )

    def _visit(
        self, entry: os.DirEntry[str], rel: str, ancestors: frozenset[tuple[int, int]]
    ) -> Iterator[Item | SourceProblem]:
        if not self.options.follow_symlinks and entry.is_symlink():
            return
        try:
            is_dir = entry.is_dir()
        except OSError:  # a loop of links: _check_file names it
            is_dir = False
        exclude = self.options.exclude
        if is_dir and not (_matches(rel, exclude) or _matches(f"{rel}/", exclude)):
            yield from self._folder(entry.path, rel, ancestors)
        elif not is_dir and self._wanted(rel):
            yield self._file(entry.path, rel)

    def _wanted(self, rel: str) -> bool:
        include, exclude = self.options.include, self.options.exclude
        return _matches(rel, include, empty=True) and not _matches(rel, exclude)

    def _folder(
        self, path: str, rel: str, ancestors: frozenset[tuple[int, int]]
    ) -> Iterator[Item | SourceProblem]:
        try:
            mode = _stat(path)
            if (mode.st_dev, mode.st_ino) in ancestors:
                what = f"{path} leads back to a folder above it"
                raise _Reject("symlink_loop", what, "remove the link, or stop following symlinks")
        except _Reject as reject:
            yield reject.problem(self._id(rel), path=path)
            return
        yield from self.walk(path, rel, ancestors | {(mode.st_dev, mode.st_ino)})

    def _file(self, path: str, rel: str) -> Item | SourceProblem:
        item_id = self._id(rel)
        try:
            self.ids.claim(item_id, item_id)
            _check_file(path)
        except _Reject as reject:
            return reject.problem(item_id, item_id=item_id, path=path)
        category = self.options.default_category
        return Item(id=item_id, path=Path(path), media_category=category, source=self.name)

    def _id(self, rel: str) -> str:
        return str(PurePath(self.prefix, rel).as_posix()) if rel else self.prefix


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
