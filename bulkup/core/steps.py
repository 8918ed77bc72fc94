"""What an upload session asks for, what it hears back, and what it tells its driver.

The vocabulary between :class:`~bulkup.core.session.Session` (which decides) and the
driver in :mod:`bulkup.client.driver` (which performs):

- **steps**: the HTTP requests a dialect builds (:class:`Init`, :class:`Append`,
  :class:`Finalize`, :class:`Status`, :class:`SimpleUpload`, :class:`SetMetadata`,
  :class:`AttachSubtitles`) and the two local steps the driver performs itself
  (:class:`VerifyFile`, :class:`VerifySegments`, :class:`UploadSubtitles`);
- **answers**: :class:`Initialized` and :class:`MediaState`, as the dialects parse them,
  and :class:`Stored` for an APPEND (with the hash of the bytes sent);
- **actions**: :class:`Send` a step, :class:`Sleep` until a time, :class:`Park` until
  another lane of the same upload changes something, :class:`Finish`;
- **notes**: what the driver applies after each answer or error: :class:`Record`
  (checkpoint fields), :class:`Acked`, :class:`Stage` (progress), :class:`Retrying`
  (counters, log), :class:`Refuse` (stop the whole run from sending).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bulkup.core.items import Metadata, SubtitleSpec
from bulkup.errors import UploadError

#: Default chunk size: 4 MiB (within the 5 MiB the API accepts).
DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024

Strategy = Literal["chunked", "simple"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What will be uploaded and how: fixed for the life of a session."""

    size: int
    media_type: str
    media_category: str | None
    chunk_size: int = DEFAULT_CHUNK_BYTES
    strategy: Strategy = "chunked"
    additional_owners: tuple[str, ...] = ()
    shared: bool = False

    @property
    def segments(self) -> int:
        return max(1, math.ceil(self.size / self.chunk_size))

    def byte_range(self, index: int) -> tuple[int, int]:
        """(offset, length) of segment ``index``."""
        offset = index * self.chunk_size
        return offset, min(self.chunk_size, self.size - offset)


# --- steps ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Init:
    plan: Plan


@dataclass(frozen=True, slots=True)
class Append:
    media_id: str
    index: int
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class Finalize:
    media_id: str


@dataclass(frozen=True, slots=True)
class Status:
    media_id: str


@dataclass(frozen=True, slots=True)
class SimpleUpload:
    plan: Plan


@dataclass(frozen=True, slots=True)
class SetMetadata:
    """Alt text and the other metadata, in one (billed) request."""

    media_id: str
    metadata: Metadata


@dataclass(frozen=True, slots=True)
class AttachSubtitles:
    video_id: str
    category: str
    subtitle_id: str
    language: str
    name: str


#: The HTTP requests a dialect builds and parses.
Request = Init | Append | Finalize | Status | SimpleUpload | SetMetadata | AttachSubtitles


@dataclass(frozen=True, slots=True)
class VerifyFile:
    """Before FINALIZE: the file must be as it was planned (size and mtime)."""


@dataclass(frozen=True, slots=True)
class VerifySegments:
    """Before a resumed upload trusts its acknowledged segments: their bytes must still
    hash as they did when sent. Each: (index, offset, length, SHA-256 hex)."""

    segments: tuple[tuple[int, int, int, str], ...]


@dataclass(frozen=True, slots=True)
class UploadSubtitles:
    """Upload a subtitle file as media of its own; the answer is its report line."""

    subtitles: SubtitleSpec


Step = Request | VerifyFile | VerifySegments | UploadSubtitles


# --- answers ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class Initialized:
    media_id: str
    media_key: str | None
    #: Optional in the answer; None assumes :data:`~bulkup.core.spec.ASSUMED_UPLOAD_EXPIRY_SECS`.
    expires_after_secs: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessingInfo:
    state: str
    check_after_secs: float | None = None
    progress_percent: int | None = None
    error_code: int | None = None
    error_name: str | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaState:
    """FINALIZE, STATUS and simple upload all answer with this."""

    media_id: str
    media_key: str | None = None
    size: int | None = None
    expires_after_secs: float | None = None
    processing: ProcessingInfo | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class Stored:
    """APPEND's answer: the segment is stored; ``sha256``: of the bytes that were sent."""

    sha256: str | None = None


# --- actions ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Send:
    step: Step


@dataclass(frozen=True, slots=True)
class Sleep:
    """Nothing to send before ``until`` (a retry's backoff, the next STATUS poll)."""

    until: float


@dataclass(frozen=True, slots=True)
class Park:
    """Nothing for this lane now: other lanes are sending; ask again when one answers."""


@dataclass(frozen=True, slots=True)
class Finish:
    """The session has ended (see :attr:`Session.error`)."""


Action = Send | Sleep | Park | Finish


# --- notes --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Record:
    """Checkpoint fields (of :class:`~bulkup.core.records.ItemRecord`) to write now."""

    changes: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Acked:
    """Segment ``index`` (``length`` bytes) is stored by the server."""

    index: int
    length: int
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class Stage:
    """The upload entered ``name`` ("finalizing", "processing")."""

    name: str
    percent: int | None = None


@dataclass(frozen=True, slots=True)
class Retrying:
    """``error`` is retried after ``delay`` seconds; ``until``: when a rate limit resets."""

    error: UploadError
    delay: float
    until: float | None = None
    #: The endpoint of the step retried (whose limit ``until`` is, if any).
    endpoint: str | None = None


@dataclass(frozen=True, slots=True)
class Refuse:
    """``error`` stops the whole run from sending (refused credentials, an untrusted
    certificate); with ``unless_answered``, only if the server never answered in this
    run (a wrong endpoint, a server that is down)."""

    error: UploadError
    unless_answered: bool = False


Note = Record | Acked | Stage | Retrying | Refuse

#: The rate-limit bucket (see :data:`bulkup.core.spec.RATE_LIMITS`) of each request.
ENDPOINT_OF: Mapping[type, str] = {
    Init: "initialize",
    Append: "append",
    Finalize: "finalize",
    Status: "status",
    SimpleUpload: "upload",
    SetMetadata: "metadata",
    AttachSubtitles: "subtitles_create",
}
