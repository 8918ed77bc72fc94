"""What flows through a run: items to upload, problems found in the sources, results.

An :class:`Item` is one file to upload with its parameters, produced by
:mod:`bulkup.sources` from directories and manifests (or built by library users).
A :class:`SourceProblem` stands for an entry that could not become an item (a
malformed manifest line, a missing file): it still ends in the report, as failed.
A :class:`Result` is what the report says about one item when it finishes.
:class:`UploadParams` is what one item is uploaded with, as the checkpoint keeps it.

Both convert to JSON and back (``as_json`` / ``from_json``): the report writes a
result's JSON, and the checkpoint stores an item's parameters and its finished result
whole, so that a resumed or reused item loses nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

Status = Literal["succeeded", "failed", "skipped"]
#: An account's name: letters, digits, ``_``, ``-`` and ``.`` (it names a config table
#: ``[accounts.NAME]`` and Redis keys).
ACCOUNT_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
ACCOUNT_NAME_RULE = "1 to 64 letters, digits, '_', '-' or '.', like brand-eu or team_2"


def check_account(name: str) -> str:
    """``name`` if it is a valid account name (see :data:`ACCOUNT_NAME`), else ValueError."""
    if not ACCOUNT_NAME.fullmatch(name):
        raise ValueError(f"invalid account name {name!r}: an account name is {ACCOUNT_NAME_RULE}")
    return name


#: How a file is sent: INIT/APPEND/FINALIZE, or one request.
Strategy = Literal["chunked", "simple"]


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """How a file is recognised as the same file with the same bytes: its size and
    modification time, its status-change time (which no user can set back: a rewrite
    followed by ``touch -r`` still changes it) and its inode. Not the device number:
    it changes across hosts and reboots. ``None``: not known (a version 1 or 2
    checkpoint record kept no ctime or inode)."""

    size: int
    mtime_ns: int
    ctime_ns: int | None = None
    inode: int | None = None

    def same_file(self, other: FileIdentity) -> bool:
        """True unless a field both know differs."""
        if (self.size, self.mtime_ns) != (other.size, other.mtime_ns):
            return False
        pairs = ((self.ctime_ns, other.ctime_ns), (self.inode, other.inode))
        return all(a is None or b is None or a == b for a, b in pairs)


@dataclass(frozen=True, slots=True, kw_only=True)
class SubtitleSpec:
    """A subtitle file (SRT or VTT) to attach to a video item."""

    path: Path
    #: Two letters (ISO 639-1), as X takes them; ``en`` is kept as ``EN``.
    language_code: str
    display_name: str | None = None

    def __post_init__(self) -> None:
        code = self.language_code.strip()
        if len(code) != 2 or not code.isascii() or not code.isalpha():
            raise ValueError(
                f"subtitles language_code {self.language_code!r}: X takes a two-letter "
                "ISO 639-1 code such as EN, FR or PT (no region: pt-BR is PT)"
            )
        object.__setattr__(self, "language_code", code.upper())

    def as_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "language_code": self.language_code,
            "display_name": self.display_name,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Metadata:
    """What one metadata request sets on a media id (alt text and other fields)."""

    alt_text: str | None = None
    #: Flags of ``sensitive_media_warning``: adult_content, graphic_violence, other.
    sensitive_media_warning: tuple[str, ...] = ()
    #: ``allow_download_status.allow_download`` (v2 only); None leaves it unset.
    allow_download: bool | None = None

    def __bool__(self) -> bool:
        return (
            self.alt_text is not None
            or bool(self.sensitive_media_warning)
            or self.allow_download is not None
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadParams:
    """Everything one item is uploaded with, as resolved when its upload was planned.

    The checkpoint stores it whole, reads it back whole and compares it whole: an
    upload whose parameters changed since it started starts over. The subtitles and the
    post are part of it, so that an upload resumed from the checkpoint alone still
    attaches its subtitles and reports its post.
    """

    #: The MIME type sent (declared, or detected from the bytes).
    media_type: str
    #: The category sent; None sends none.
    media_category: str | None
    chunk_size: int
    strategy: Strategy
    #: Alt text and the other fields of the metadata request.
    metadata: Metadata = Metadata()
    subtitles: tuple[SubtitleSpec, ...] = ()
    post: str | None = None
    additional_owners: tuple[str, ...] = ()
    shared: bool = False

    def as_json(self) -> dict[str, Any]:
        metadata = self.metadata
        return {
            "media_type": self.media_type,
            "media_category": self.media_category,
            "chunk_size": self.chunk_size,
            "strategy": self.strategy,
            "metadata": {
                "alt_text": metadata.alt_text,
                "sensitive_media_warning": list(metadata.sensitive_media_warning),
                "allow_download": metadata.allow_download,
            },
            "subtitles": [sub.as_json() for sub in self.subtitles],
            "post": self.post,
            "additional_owners": list(self.additional_owners),
            "shared": self.shared,
        }

    @classmethod
    def from_json(cls, data: object) -> UploadParams:
        """The value :meth:`as_json` wrote; ValueError naming the first invalid field."""
        params = _mapping(data, "params")
        metadata = _mapping(_take(params, "metadata", dict), "metadata")
        return cls(
            media_type=_take(params, "media_type", str),
            media_category=_take(params, "media_category", _STR_OR_NONE),
            chunk_size=_take(params, "chunk_size", int),
            strategy=_choice(params, "strategy", _STRATEGIES),
            metadata=Metadata(
                alt_text=_take(metadata, "alt_text", _STR_OR_NONE),
                sensitive_media_warning=tuple(_list(metadata, "sensitive_media_warning", str)),
                allow_download=_take(metadata, "allow_download", _BOOL_OR_NONE),
            ),
            subtitles=tuple(_subtitle(s) for s in _list(params, "subtitles", dict)),
            post=_take(params, "post", _STR_OR_NONE),
            additional_owners=tuple(_list(params, "additional_owners", str)),
            shared=_take(params, "shared", bool),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Item:
    """One file to upload."""

    #: Unique within a run; defaults to the path as written in the manifest.
    id: str
    #: Absolute path of the file.
    path: Path
    #: Declared MIME type; None means sniff it from the bytes.
    media_type: str | None = None
    #: Canonical category (see :func:`bulkup.core.spec.normalize_category`); None = automatic.
    media_category: str | None = None
    alt_text: str | None = None
    #: ``sensitive_media_warning`` flags (see :class:`Metadata`).
    sensitive_media_warning: tuple[str, ...] = ()
    #: Whether viewers may download the media (v2 metadata); None leaves it unset.
    allow_download: bool | None = None
    additional_owners: tuple[str, ...] = ()
    shared: bool = False
    #: Subtitle files to upload and attach (video items only).
    subtitles: tuple[SubtitleSpec, ...] = ()
    #: Name of the post this item belongs to (at most 4 images, or 1 GIF, or 1 video).
    post: str | None = None
    #: Higher goes first (a manifest's ``priority``); see :mod:`bulkup.core.order`.
    priority: int = 0
    #: The account it is uploaded for (manifest field ``account``: a name of the config
    #: file's ``[accounts.NAME]`` tables); None: the run's own credentials.
    account: str | None = None
    #: Where the item came from, for messages: ``"photos.jsonl:12"`` or a directory.
    source: str = ""
    #: Manifest fields this version does not interpret, kept for later stages.
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def metadata(self) -> Metadata:
        """The fields set with one metadata request once the media is ready."""
        return Metadata(
            alt_text=self.alt_text,
            sensitive_media_warning=self.sensitive_media_warning,
            allow_download=self.allow_download,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceProblem:
    """An entry of a source that cannot be uploaded, with the reason and the fix.

    Most are ``failed``; an entry left out on purpose (a symlink to a folder that is not
    followed, a system folder, a scanned file that is not media) is ``skipped``.
    """

    #: The entry's id if it could be read, else ``"<source>:<line>"``.
    id: str
    path: str | None
    #: ``"photos.jsonl:12"``: the file and line (or directory) of the entry.
    source: str
    #: One of: invalid_entry, missing_file, not_a_file, unreadable, empty_file,
    #: duplicate_id, symlink_loop, invalid_value; skipped: symlink_not_followed, system_folder,
    #: not_media (see :mod:`bulkup.errors`).
    kind: str
    message: str
    status: Literal["failed", "skipped"] = "failed"
    #: The entry's account, when it named one (shown in its report line).
    account: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorInfo:
    """Why an item failed, as the report's ``error`` object."""

    kind: str
    message: str
    http_status: int | None = None
    api_code: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "http_status": self.http_status,
            "api_code": self.api_code,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    """The outcome of one item, one line of the JSON Lines report."""

    id: str
    path: str | None
    status: Status
    media_id_string: str | None = None
    media_key: str | None = None
    media_type: str | None = None
    media_category: str | None = None
    size: int | None = None
    #: When the media id stops being usable (UTC).
    expires_at: dt.datetime | None = None
    attempts: int = 0
    elapsed_s: float = 0.0
    error: ErrorInfo | None = None
    #: True when the result was taken from the checkpoint without uploading again (an
    #: earlier run's item: the report line says so twice, as ``resumed`` and, since
    #: issue [4/6], ``from_checkpoint``).
    resumed: bool = False
    #: Whether the item's alt text was set (None: the item has none).
    alt_text_applied: bool | None = None
    #: Whether the item's metadata request (alt text, sensitive-media warning,
    #: allow_download) was applied (None: the item has no metadata).
    metadata_applied: bool | None = None
    #: For an item skipped at a rate cap: when a later run can finish it (UTC).
    retry_after: dt.datetime | None = None
    #: Subtitles attached: ``{"language_code", "media_id_string"}`` each.
    subtitles: tuple[Mapping[str, str], ...] = ()
    post: str | None = None
    #: Preflight notes, e.g. an extension that disagrees with the bytes.
    warnings: tuple[str, ...] = ()
    #: The item's account (manifest field ``account``); in the report line only when set.
    account: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @classmethod
    def from_json(cls, data: object) -> Result:
        """The result :meth:`as_json` wrote; fields it lacks take their defaults.

        ValueError names the first field that is not valid.
        """
        line = _mapping(data, "result")
        error = _take(line, "error", (dict, NoneType), None)
        return cls(
            id=_take(line, "id", str),
            path=_take(line, "path", _STR_OR_NONE, None),
            status=_choice(line, "status", _STATUSES),
            media_id_string=_take(line, "media_id_string", _STR_OR_NONE, None),
            media_key=_take(line, "media_key", _STR_OR_NONE, None),
            media_type=_take(line, "media_type", _STR_OR_NONE, None),
            media_category=_take(line, "media_category", _STR_OR_NONE, None),
            size=_take(line, "size", (int, NoneType), None),
            expires_at=_moment(_take(line, "expires_at", _STR_OR_NONE, None)),
            attempts=_take(line, "attempts", int, 0),
            elapsed_s=float(_take(line, "elapsed_s", (int, float), 0.0)),
            error=_error(error) if error is not None else None,
            resumed=_take(line, "resumed", bool, False)
            or _take(line, "from_checkpoint", bool, False),
            alt_text_applied=_take(line, "alt_text_applied", _BOOL_OR_NONE, None),
            metadata_applied=_take(line, "metadata_applied", _BOOL_OR_NONE, None),
            retry_after=_moment(_take(line, "retry_after", _STR_OR_NONE, None)),
            subtitles=tuple(_string_map(s) for s in _list(line, "subtitles", dict, [])),
            post=_take(line, "post", _STR_OR_NONE, None),
            warnings=tuple(_list(line, "warnings", str, [])),
            account=_take(line, "account", _STR_OR_NONE, None),
        )

    def as_json(self) -> dict[str, Any]:
        line = self._line()
        if self.account is not None:
            line["account"] = self.account
        return line

    def _line(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "status": self.status,
            "media_id_string": self.media_id_string,
            "media_key": self.media_key,
            "media_type": self.media_type,
            "media_category": self.media_category,
            "size": self.size,
            "expires_at": iso_utc(self.expires_at),
            "attempts": self.attempts,
            "elapsed_s": round(self.elapsed_s, 3),
            "error": self.error.as_json() if self.error else None,
            "resumed": self.resumed,
            "from_checkpoint": self.resumed,
            "alt_text_applied": self.alt_text_applied,
            "metadata_applied": self.metadata_applied,
            "retry_after": iso_utc(self.retry_after),
            "subtitles": [dict(s) for s in self.subtitles],
            "post": self.post,
            "warnings": list(self.warnings),
        }


def utc_from_timestamp(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(round(seconds), tz=dt.UTC)


def iso_utc(moment: dt.datetime | None) -> str | None:
    """``2026-12-05T17:00:00Z``, as the report writes times."""
    return moment.isoformat().replace("+00:00", "Z") if moment else None


# --- reading JSON back -----------------------------------------------------------------
NoneType = type(None)
_STR_OR_NONE = (str, NoneType)
_BOOL_OR_NONE = (bool, NoneType)
_STATUSES: tuple[str, ...] = get_args(Status)
_STRATEGIES: tuple[str, ...] = get_args(Strategy)
_Types = type | tuple[type, ...]


def _mapping(data: object, what: str) -> Mapping[str, Any]:
    if not isinstance(data, dict):
        raise ValueError(f"{what} is not a JSON object: {data!r:.80}")
    return data


def _take(data: Mapping[str, Any], name: str, types: _Types, *default: Any) -> Any:
    """``data[name]`` if it has one of ``types`` (a bool is no int); ``default`` (when
    given) if it is absent; else ValueError naming the field."""
    try:
        value = data[name]
    except KeyError:
        if default:
            return default[0]
        raise ValueError(f"no field {name!r}") from None
    if not isinstance(value, types) or (isinstance(value, bool) and not _allows_bool(types)):
        raise ValueError(f"invalid field {name!r}: {value!r:.80}")
    return value


def _allows_bool(types: _Types) -> bool:
    return bool in types if isinstance(types, tuple) else types is bool


def _list(data: Mapping[str, Any], name: str, item_type: type, *default: Any) -> list[Any]:
    values: list[Any] = _take(data, name, list, *default)
    if not all(isinstance(v, item_type) for v in values):
        raise ValueError(f"invalid field {name!r}: {values!r:.80}")
    return values


def _choice(data: Mapping[str, Any], name: str, choices: tuple[str, ...]) -> Any:
    value = _take(data, name, str)
    if value not in choices:
        raise ValueError(f"invalid field {name!r}: {value!r:.80}")
    return value


def _string_map(data: Mapping[str, Any]) -> dict[str, str]:
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ValueError(f"invalid subtitles entry: {data!r:.80}")
    return dict(data)


def _subtitle(data: Mapping[str, Any]) -> SubtitleSpec:
    return SubtitleSpec(
        path=Path(_take(data, "path", str)),
        language_code=_take(data, "language_code", str),
        display_name=_take(data, "display_name", _STR_OR_NONE),
    )


def _error(data: Mapping[str, Any]) -> ErrorInfo:
    return ErrorInfo(
        kind=_take(data, "kind", str),
        message=_take(data, "message", str),
        http_status=_take(data, "http_status", (int, NoneType), None),
        api_code=_take(data, "api_code", (int, NoneType), None),
    )


def _moment(text: str | None) -> dt.datetime | None:
    """A time as :func:`iso_utc` writes it."""
    if text is None:
        return None
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"time without a zone: {text!r:.40}")
    return moment
