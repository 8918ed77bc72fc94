"""What flows through a run: items to upload, problems found in the sources, results.

An :class:`Item` is one file to upload with its parameters, produced by
:mod:`bulkup.sources` from directories and manifests (or built by library users).
A :class:`SourceProblem` stands for an entry that could not become an item (a
malformed manifest line, a missing file): it still ends in the report, as failed.
A :class:`Result` is what the report says about one item when it finishes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Status = Literal["succeeded", "failed", "skipped"]


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
class Item:
    """One file to upload."""

    #: Unique within a run; defaults to the path as written in the manifest.
    id: str
    #: Absolute path of the file.
    path: Path
    #: Declared MIME type; None means sniff it from the bytes.
    media_type: str | None = None
    #: Canonical category (see :func:`bulkup.spec.normalize_category`); None = automatic.
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
    """An entry of a source that cannot be uploaded, with the reason and the fix."""

    #: The entry's id if it could be read, else ``"<source>:<line>"``.
    id: str
    path: str | None
    #: ``"photos.jsonl:12"``: the file and line (or directory) of the entry.
    source: str
    #: One of: invalid_entry, missing_file, not_a_file, unreadable, empty_file,
    #: duplicate_id, symlink_loop, invalid_value.
    kind: str
    message: str


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
    #: True when the result was taken from the checkpoint without uploading again.
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

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def as_json(self) -> dict[str, Any]:
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
