"""Manifests: ``.jsonl`` / ``.ndjson``, ``.json`` arrays and ``.csv``, entry by entry.

Each entry becomes an :class:`~bulkup.core.items.Item` or a
:class:`~bulkup.core.items.SourceProblem` naming ``manifest:line``, the problem and the fix;
the fields an entry may set are :data:`MANIFEST_FIELDS` (others go to ``Item.extra``).
JSONL and CSV are streamed; a ``.json`` array is parsed whole, keeping each element's
line number. Bytes are decoded record by record: a byte that is not UTF-8 fails the
record holding it (a JSONL line, a CSV record, a JSON array element), naming the line
of the byte, and every other record is read.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, NamedTuple

from bulkup.core.items import ACCOUNT_NAME, ACCOUNT_NAME_RULE, Item, SourceProblem, SubtitleSpec
from bulkup.core.spec import (
    CATEGORIES,
    MAX_ADDITIONAL_OWNERS,
    MAX_ALT_TEXT_CHARS,
    SENSITIVE_MEDIA_WARNINGS,
    normalize_category,
)
from bulkup.sources.rejects import Ids, Reject, check_file

MANIFEST_SUFFIXES: Final = frozenset({".jsonl", ".ndjson", ".json", ".csv"})
#: Fields a manifest entry may set; any other field is kept in :attr:`Item.extra`.
MANIFEST_FIELDS: Final = frozenset(
    {
        "path",
        "id",
        "media_category",
        "media_type",
        "alt_text",
        "sensitive_media_warning",
        "allow_download",
        "additional_owners",
        "shared",
        "subtitles",
        "post",
        "priority",
        "account",
    }
)

_JSONL_FIX: Final = 'each line must be one JSON object like {"path": "a.jpg"}'
_OBJECT_FIX: Final = 'each entry must be a JSON object like {"path": "a.jpg"}'
_JSON_FIX: Final = 'the file must be one JSON array of objects like [{"path": "a.jpg"}]'
_CSV_FIX: Final = 'the first row must name the columns, one of them "path", like: path,alt_text'
_UTF8_FIX: Final = "save the manifest as UTF-8"
#: What ``errors="surrogateescape"`` makes of a byte that is not UTF-8: U+DC80..U+DCFF,
#: which strict UTF-8 never decodes to.
_ESCAPED: Final = re.compile("[\udc80-\udcff]")
_TRUE: Final = frozenset({"true", "1", "yes"})
_FALSE: Final = frozenset({"false", "0", "no"})
_USER_ID: Final = re.compile(r"[0-9]+")
_OWNER_SEPARATORS: Final = re.compile(r"[\s,]+")
_JSON_SPACE: Final = re.compile(r"[ \t\n\r]*")


def suffix(name: str) -> str:
    return os.path.splitext(name)[1].lower()


@dataclass(slots=True)
class _Manifest:
    """One manifest being read: its name for messages and the folder of relative paths."""

    name: str
    folder: str
    ids: Ids
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
            check_file(path, f"check the path; relative paths start at {self.folder}")
        except Reject as reject:
            return reject.problem(where, item_id=item_id, path=path)
        return Item(id=item_id, path=Path(path), source=where, **fields)


def read_entries(name: str, ids: Ids, category: str | None) -> Iterator[Item | SourceProblem]:
    try:
        check_file(name)
        f = open(name, "rb")  # noqa: SIM115 - closed below; decoded record by record
    except Reject as reject:
        yield reject.problem(name, path=os.path.abspath(name))
        return
    except OSError as exc:
        fix = "grant read permission (chmod u+r)"
        yield Reject("unreadable", f"cannot open manifest ({exc.strerror})", fix).problem(name)
        return
    manifest = _Manifest(name, os.path.dirname(os.path.abspath(name)), ids, category)
    readers = {".json": _read_json, ".csv": _read_csv}
    with f:
        yield from readers.get(suffix(name), _read_jsonl)(f, manifest)


def _read_jsonl(f: IO[bytes], manifest: _Manifest) -> Iterator[Item | SourceProblem]:
    for number, raw_line in enumerate(f, 1):
        where = f"{manifest.name}:{number}"
        try:
            line = raw_line.decode("utf-8").removeprefix("\ufeff").rstrip()
        except UnicodeDecodeError as exc:
            what = f"not valid UTF-8 (byte {exc.start + 1})"
            yield Reject("invalid_entry", what, _UTF8_FIX).problem(where)
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            what = f"invalid JSON ({exc.msg}: column {exc.colno})"
            yield Reject("invalid_entry", what, _JSONL_FIX).problem(where)
            continue
        yield manifest.entry(raw, where)


def _read_json(f: IO[bytes], manifest: _Manifest) -> Iterator[Item | SourceProblem]:
    text = f.read().decode("utf-8", "surrogateescape").removeprefix("\ufeff")
    bad = _BadBytes(text)
    try:  # a bad byte reads as a space here; the element holding it fails below
        elements = _json_array(_ESCAPED.sub(" ", text) if bad.positions else text)
    except json.JSONDecodeError as exc:
        what = f"invalid JSON ({exc.msg}: column {exc.colno})"
        yield Reject("invalid_entry", what, _JSON_FIX).problem(f"{manifest.name}:{exc.lineno}")
        return
    except Reject as reject:
        yield reject.problem(manifest.name)
        return
    for element in elements:
        yield from bad.strays(manifest.name, element.start)
        inside = bad.take(element.end)
        if inside:
            yield bad.reject(inside[0]).problem(f"{manifest.name}:{bad.line(inside[0])}")
        else:
            yield manifest.entry(element.value, f"{manifest.name}:{element.line}")
    yield from bad.strays(manifest.name, len(text))


class _Element(NamedTuple):
    """One element of a ``.json`` array: the line it starts on, its span, its value."""

    line: int
    start: int
    end: int
    value: object


def _json_array(text: str) -> list[_Element]:
    """The elements of a top-level JSON array, each with the line it starts on."""
    pos = _skip_space(text, 0)
    if not text.startswith("[", pos):
        found = _json_kind(json.loads(text))  # raises JSONDecodeError if not JSON at all
        raise Reject("invalid_entry", f"expected a top-level JSON array, found {found}", _JSON_FIX)
    decoder = json.JSONDecoder()
    elements: list[_Element] = []
    line, counted, pos = 1, 0, _skip_space(text, pos + 1)
    while elements or not text.startswith("]", pos):  # "[]" has no elements
        value, end = decoder.raw_decode(text, pos)  # raises on a trailing comma too
        line, counted = line + text.count("\n", counted, pos), pos
        elements.append(_Element(line, pos, end, value))
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


class _BadBytes:
    """The bytes of a decoded ``.json`` manifest that are not UTF-8, taken in order.

    ``text`` was decoded with ``surrogateescape``; each bad byte is one escaped character.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.positions = [found.start() for found in _ESCAPED.finditer(text)]
        self._taken = 0
        self._newlines: list[int] | None = None

    def take(self, end: int) -> list[int]:
        """The positions before ``end`` not taken yet."""
        first, self._taken = self._taken, bisect.bisect_left(self.positions, end, self._taken)
        return self.positions[first : self._taken]

    def strays(self, name: str, end: int) -> Iterator[SourceProblem]:
        """A problem for each line holding bad bytes before ``end`` outside any element."""
        named: set[int] = set()
        for pos in self.take(end):
            if (line := self.line(pos)) not in named:
                named.add(line)
                yield self.reject(pos).problem(f"{name}:{line}")

    def line(self, pos: int) -> int:
        if self._newlines is None:
            self._newlines = [found.start() for found in re.finditer("\n", self.text)]
        return bisect.bisect_left(self._newlines, pos) + 1

    def reject(self, pos: int) -> Reject:
        line_start = self.text.rfind("\n", 0, pos) + 1
        return Reject("invalid_entry", _not_utf8(self.text[line_start:pos]), _UTF8_FIX)


def _not_utf8(before: str) -> str:
    """What is wrong with a byte that is not UTF-8, after ``before`` on its line."""
    return f"not valid UTF-8 (byte {len(before.encode('utf-8', 'surrogateescape')) + 1})"


class _Lines:
    """A CSV manifest's lines as the csv module pulls them, decoded with bad bytes escaped.

    Remembers, by line number, what is wrong with each line holding a byte that is not
    UTF-8, until the record holding that line claims it (:meth:`bad`).
    """

    def __init__(self, text: IO[str]) -> None:
        self._text = text
        self._count = 0
        self._bad: dict[int, str] = {}

    def __iter__(self) -> Iterator[str]:
        for line in self._text:
            self._count += 1
            if found := _ESCAPED.search(line):
                self._bad[self._count] = _not_utf8(line[: found.start()])
            yield line

    def bad(self, upto: int) -> tuple[int, str] | None:
        """The first bad line up to line ``upto`` and what is wrong with it; forgets them."""
        numbers = sorted(number for number in self._bad if number <= upto)
        found = [(number, self._bad.pop(number)) for number in numbers]
        return found[0] if found else None


def _read_csv(f: IO[bytes], manifest: _Manifest) -> Iterator[Item | SourceProblem]:
    # utf-8-sig drops a BOM; newline="" as the csv module asks.
    with io.TextIOWrapper(f, "utf-8-sig", errors="surrogateescape", newline="") as text:
        yield from _csv_records(_Lines(text), manifest)


def _csv_records(lines: _Lines, manifest: _Manifest) -> Iterator[Item | SourceProblem]:
    reader = csv.DictReader(lines)
    try:
        header = [_column(name) for name in reader.fieldnames or ()]
    except csv.Error as exc:
        yield Reject("invalid_entry", f"unreadable header ({exc})", _CSV_FIX).problem(
            f"{manifest.name}:1"
        )
        return
    if bad := lines.bad(reader.line_num):
        what = f"{bad[1]} in the header; no row was read"
        yield Reject("invalid_entry", what, _UTF8_FIX).problem(f"{manifest.name}:{bad[0]}")
        return
    if "path" not in header or len(set(header)) < len(header):
        listed = ", ".join(header) if header else "no header row"
        what = f'the header ({listed}) needs exactly one "path" column and no repeated names'
        yield Reject("invalid_entry", what, _CSV_FIX).problem(f"{manifest.name}:1")
        return
    reader.fieldnames = header
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:  # the record fails; the next one starts on the next line
            lines.bad(reader.line_num)
            yield Reject("invalid_entry", f"unreadable CSV ({exc})", _UTF8_FIX + " CSV").problem(
                f"{manifest.name}:{reader.line_num}"
            )
            continue
        if bad := lines.bad(reader.line_num):
            yield Reject("invalid_entry", bad[1], _UTF8_FIX).problem(f"{manifest.name}:{bad[0]}")
            continue
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
        return Reject("invalid_entry", what, fix).problem(where)
    entry = {key: value for key, value in row.items() if value}  # empty cell = not given
    return manifest.entry(entry, where) if entry else None


# --- entry fields --------------------------------------------------------------------
def _json_kind(value: object) -> str:
    kinds = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    return "null" if value is None else kinds.get(type(value), "a number")


def _as_entry(raw: object) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise Reject(
            "invalid_entry", f"expected a JSON object, found {_json_kind(raw)}", _OBJECT_FIX
        )
    return raw


def _path_text(entry: Mapping[str, Any]) -> str:
    text = entry.get("path")
    if text is None:
        raise Reject(
            "invalid_entry", 'no "path"', 'every entry names its file, like {"path": "a.jpg"}'
        )
    if not isinstance(text, str) or not text:
        raise _invalid("path", text, 'give the file as a non-empty string, like "a.jpg"')
    return text


def _invalid(name: str, value: object, fix: str) -> Reject:
    return Reject("invalid_value", f"invalid {name} {value!r}", fix)


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
        "priority": _priority(entry.get("priority")),
        "account": _account(entry.get("account")),
        "media_category": default_category if category is None else _category(category),
        "media_type": _media_type(entry.get("media_type")),
        "alt_text": _alt_text(entry.get("alt_text")),
        "sensitive_media_warning": _warnings(entry.get("sensitive_media_warning")),
        "allow_download": _allow_download(entry.get("allow_download")),
        "additional_owners": _owners(entry.get("additional_owners")),
        "shared": _shared(entry.get("shared")),
        "extra": {key: value for key, value in entry.items() if key not in MANIFEST_FIELDS},
    }


_SUBTITLE_FIX: Final = (
    'give a list like [{"path": "en.srt", "language_code": "EN", "display_name": "English"}]'
)
#: X takes a two-letter language code (ISO 639-1), sent in upper case.
_LANGUAGE: Final = re.compile(r"[A-Za-z]{2}")


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
            raise Reject(
                "invalid_value",
                f"invalid subtitles language_code {language!r}",
                "X takes a two-letter ISO 639-1 code such as EN, FR or PT (no region: "
                "pt-BR is PT; english is EN)",
            )
        name = entry.get("display_name")
        full = os.path.abspath(os.path.join(folder, os.path.expanduser(path.strip())))
        check_file(full, f"check the subtitle path; relative paths start at {folder}")
        specs.append(
            SubtitleSpec(
                path=Path(full),
                language_code=language.strip().upper(),
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


def _account(value: object) -> str | None:
    """The account an item is uploaded for: a name of an ``[accounts.NAME]`` table."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and ACCOUNT_NAME.fullmatch(value.strip()):
        return value.strip()
    fix = (
        f"an account name is {ACCOUNT_NAME_RULE}, naming an [accounts.NAME] table of the "
        "config file; leave it out to use the run's own credentials"
    )
    raise _invalid("account", value, fix)


def _priority(value: object) -> int:
    """A whole number, higher first; a CSV cell's text is read as one."""
    if value is None or value == "":
        return 0
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        fix = "give a whole number such as 10 or -1: higher goes first (0 when unset)"
        raise _invalid("priority", value, fix)
    return value


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
        raise Reject("invalid_value", what, f"shorten it to at most {MAX_ALT_TEXT_CHARS}")
    return value


_WARNING_FIX: Final = (
    f'list any of {", ".join(SENSITIVE_MEDIA_WARNINGS)}, like ["adult_content"] '
    '(in CSV: "adult_content other")'
)


def _warnings(value: object) -> tuple[str, ...]:
    """``sensitive_media_warning``: a list of flags (or a string of them, or an object
    of booleans as X's v2 document writes it)."""
    if value is None or value == "" or value == []:
        return ()
    if isinstance(value, str):
        flags: list[object] = [f for f in _OWNER_SEPARATORS.split(value.strip()) if f]
    elif isinstance(value, dict):
        if not all(isinstance(v, bool) for v in value.values()):
            raise _invalid("sensitive_media_warning", value, _WARNING_FIX)
        flags = [name for name, on in value.items() if on]
    elif isinstance(value, list):
        flags = value
    else:
        raise _invalid("sensitive_media_warning", value, _WARNING_FIX)
    unknown = [f for f in flags if f not in SENSITIVE_MEDIA_WARNINGS]
    if unknown:
        raise _invalid("sensitive_media_warning", unknown[0], _WARNING_FIX)
    return tuple(dict.fromkeys(str(f) for f in flags))


def _allow_download(value: object) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower() if isinstance(value, str | int) else ""
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise _invalid("allow_download", value, "use true or false (also 1/0, yes/no)")


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
        raise Reject("invalid_value", what, f"give at most {MAX_ADDITIONAL_OWNERS}")
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
