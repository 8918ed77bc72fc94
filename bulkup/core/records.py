"""What a checkpoint holds, typed, and its JSON form in every format version it reads.

An :class:`ItemRecord` is one item's memory: its file's identity, its
:class:`~bulkup.core.items.UploadParams` (whole), its upload session and, once finished, its
:class:`~bulkup.core.items.Result` (whole: a reused item reports the very line it finished
with). :class:`RunIdentity` is what a checkpoint was written for.

Format versions:

5 (written)
    As version 4, and an item that finished with nothing left to continue (it
    succeeded, or it ended before any upload session was opened) is written compact:
    its report line (``result``), the file it was (``file``: ``[size, mtime_ns,
    ctime_ns, inode]``), a digest of its ``params`` (:class:`ParamsDigest`: what resume
    compares them with) and ``media_expires_at``; ``path``, ``media_id``,
    ``media_key`` and ``attempts`` only when they differ from the line's, and
    ``finalized``/``processing`` only when they are not ``true``/``null``. Such a record
    has no upload session to continue, so its ``acked`` ranges, segment hashes and
    upload deadline are dropped. ``params`` may also be a digest (a string) in a whole
    record: one written compact, then changed. The snapshot lists one item per line.
    A bulkup that reads only version 4 would call these records damaged, so the new
    number makes it ask for an upgrade instead.
4 (read)
    As version 3, and a record's ``params`` may be ``null``: an item that ended before
    its upload was planned (a source entry that names no usable file, a file that
    vanished or failed preflight, an item a refused run never sent) is recorded with
    only the line it was reported with, so that ``bulkup status`` counts every item the
    run reported. Its ``size`` and ``mtime_ns`` are 0 (no file was planned), and a
    rerun uploads it like a new item. A bulkup that reads only version 3 would call
    such a record damaged, so the new number makes it ask for an upgrade instead.
3 (read)
    The records as in version 2. What changed is around them: while a compaction writes
    its snapshot in the background, events go to a second journal, ``<path>.journal.next``
    (see :mod:`bulkup.run.checkpoint`). A bulkup that reads only version 2 would not know
    that file and lose its events, so the new number makes it refuse instead.
2 (read)
    ``params`` is :meth:`UploadParams.as_json() <bulkup.core.items.UploadParams.as_json>`
    (metadata, subtitles and post included); ``result`` is ``Result.as_json()``.
1 (read)
    ``params`` was a flat dict without subtitles or post (``alt_text`` and the other
    metadata fields at its top level). It is converted, missing fields defaulted, and
    the record marked ``partial_params``: such an item is not resumed ahead of the
    sources, but when its source names it again, with the subtitles and post the record
    lacks (see :func:`bulkup.core.resume.decide`).

A checkpoint of a newer version than :data:`CHECKPOINT_VERSION` is refused: the
message names the file, its version and the fix (a newer bulkup). So is a record holding
a number out of its range (:mod:`bulkup.core.numbers`: an ``upload_deadline`` of ``NaN``
or ``1e300``, a negative size): :func:`decode_fields` names the item, the field and the
value, and the reader the file (and the journal's line).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

from bulkup.core import spec
from bulkup.core.items import FileIdentity, Result, UploadParams
from bulkup.errors import BulkupError

#: The format version written.
CHECKPOINT_VERSION = 5
#: Every format version read (older ones are converted).
READABLE_VERSIONS = (1, 2, 3, 4, 5)
#: The first version whose records may hold no ``params`` (see :func:`outcome_record`).
OUTCOME_VERSION = 4
#: The first version whose records may be compact (see :func:`compact_json`).
COMPACT_VERSION = 5
#: Sanity bound on a segment index read from a file (the API allows 0..999).
MAX_INDEX = 1_000_000


class CheckpointError(BulkupError):
    """A checkpoint cannot be used; the message names the file and the fix."""


class CheckpointLocked(CheckpointError):
    """Another process is using the checkpoint."""

    def __init__(self, message: str, *, pid: int | None) -> None:
        super().__init__(message)
        self.pid = pid


class CheckpointMismatch(CheckpointError):
    """The checkpoint was written for another endpoint, dialect or account."""

    def __init__(self, message: str, *, differences: tuple[str, ...]) -> None:
        super().__init__(message)
        self.differences = differences


@dataclass(frozen=True, slots=True, kw_only=True)
class RunIdentity:
    """What a checkpoint was written for; resuming with anything else is refused."""

    #: Base URL of the API.
    endpoint: str
    #: ``"v1.1"`` or ``"v2"``.
    dialect: str
    #: Opaque fingerprint of the credentials (never a secret).
    account: str

    def __post_init__(self) -> None:
        if self.dialect not in spec.DIALECTS:
            raise ValueError(f"unknown API dialect {self.dialect!r}; use v1.1 or v2")
        if not self.endpoint or not self.account:
            raise ValueError("a run identity needs an endpoint and an account fingerprint")


@dataclass(frozen=True, slots=True)
class ParamsDigest:
    """What a compact record keeps of its :class:`~bulkup.core.items.UploadParams`: the
    first 16 hex digits of the SHA-256 of their JSON (keys sorted). It equals the
    parameters it was made from, so the resume rules compare it as they compare
    parameters kept whole."""

    hex: str

    @classmethod
    def of(cls, params: UploadParams) -> ParamsDigest:
        """The digest of what the parameters make (a compact record is a finished one:
        how its bytes were sent no longer matters, see :func:`made_with`)."""
        made = made_with(params).as_json()
        text = json.dumps(made, sort_keys=True, separators=(",", ":"))
        return cls(hashlib.sha256(text.encode()).hexdigest()[:16])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, UploadParams):
            return self == ParamsDigest.of(other)
        return isinstance(other, ParamsDigest) and other.hex == self.hex

    def __hash__(self) -> int:
        return hash(self.hex)

    def as_json(self) -> Any:
        return self.hex


def made_with(params: UploadParams) -> UploadParams:
    """``params`` without how the bytes are sent (strategy, chunk size): what decides the
    media a finished upload made. ``--strategy auto`` chooses one-shot or chunked per run,
    from the budgets left, so a rerun may choose otherwise for the same media."""
    return replace(params, strategy="chunked", chunk_size=spec.MAX_CHUNK_BYTES)


@dataclass(slots=True, kw_only=True)
class ItemRecord:
    """What the checkpoint knows about one item."""

    id: str
    path: str
    size: int
    mtime_ns: int
    #: The file's status-change time and inode when it was planned (None: not kept by
    #: the bulkup that wrote the record).
    ctime_ns: int | None = None
    inode: int | None = None
    #: Everything the item is uploaded with (compared whole on resume); None for an
    #: item that ended before its upload was planned (:func:`outcome_record`); their
    #: digest once the record was kept compact (format version 5).
    params: UploadParams | ParamsDigest | None
    media_id: str | None = None
    media_key: str | None = None
    #: Absolute Unix time the upload session expires (INIT time + expires_after_secs).
    upload_deadline: float | None = None
    #: Acknowledged segment indices.
    acked: set[int] = field(default_factory=set)
    #: SHA-256 (hex) of the bytes sent for each acknowledged segment, as they were read:
    #: a resume reads them again before trusting them.
    segment_sha256: dict[int, str] = field(default_factory=dict)
    finalized: bool = False
    #: Last ``processing_info.state``.
    processing: str | None = None
    #: Absolute Unix time the media id stops being usable.
    media_expires_at: float | None = None
    #: The item's report line once it finished.
    result: Result | None = None
    attempts: int = 0
    #: ``params`` came from a version 1 checkpoint, which kept no subtitles and no post.
    partial_params: bool = False


def outcome_record(result: Result) -> ItemRecord:
    """The record of an item that ended before its upload was planned: only its line.

    No file was planned, so ``size`` and ``mtime_ns`` are 0 and ``params`` None; the
    resume rules start such an item over (:func:`bulkup.core.resume.decide`).
    """
    return ItemRecord(
        id=result.id, path=result.path or "", size=0, mtime_ns=0, params=None, result=result
    )


def identity_of(record: ItemRecord) -> FileIdentity:
    """The file as the record saw it."""
    return FileIdentity(record.size, record.mtime_ns, record.ctime_ns, record.inode)


__all__ = [
    "CHECKPOINT_VERSION",
    "READABLE_VERSIONS",
    "CheckpointError",
    "CheckpointLocked",
    "CheckpointMismatch",
    "ItemRecord",
    "ParamsDigest",
    "RunIdentity",
]
