"""One file's upload as a state machine with no I/O.

A :class:`Session` says what request to make next (:class:`Init`, :class:`Append`,
:class:`Finalize`, :class:`Status`, :class:`SimpleUpload`) and takes the parsed
answer back (``on_*`` methods). It never awaits and never reads the clock: callers
pass ``now``. Segment bookkeeping lives here (pending, in flight, acknowledged), so
out-of-order acknowledgements, retries and resume are testable without a server.

Phases::

    INIT ──► UPLOADING ──► FINALIZING ──► PROCESSING ──► DONE
      │                                       │
      └──────────── any step may end in FAILED ┘

A resumed session starts in UPLOADING (missing segments only) or PROCESSING.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Literal

from bulkup.core import spec
from bulkup.errors import FileProblem, ProcessingFailed, ProcessingTimeout, ProtocolError

#: Default chunk size: 4 MiB (within the 5 MiB the API accepts).
DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024
#: When an answer omits ``check_after_secs``: wait this long before the first STATUS,
#: doubling while the server keeps omitting it (never spin).
DEFAULT_CHECK_AFTER_SECS = 1.0
#: Largest wait between STATUS polls, whatever the server says.
MAX_CHECK_AFTER_SECS = 60.0
#: Smallest wait between two STATUS polls: a server that keeps answering
#: ``check_after_secs: 0`` must not make us spin through the STATUS rate budget.
MIN_REPOLL_SECS = 1.0

Strategy = Literal["chunked", "simple"]


def chunk_size_for(size: int, requested: int = DEFAULT_CHUNK_BYTES) -> int:
    """The chunk size to use: ``requested``, grown so the file fits in 1000 segments.

    Raises :class:`FileProblem` when even the largest chunk cannot fit the file.
    """
    if requested <= 0 or requested > spec.MAX_CHUNK_BYTES:
        raise ValueError(f"chunk size must be between 1 and {spec.MAX_CHUNK_BYTES} bytes")
    needed = math.ceil(size / spec.MAX_SEGMENTS)
    if needed > spec.MAX_CHUNK_BYTES:
        limit = spec.MAX_SEGMENTS * spec.MAX_CHUNK_BYTES
        raise FileProblem(
            f"file of {size} bytes is too large: at most {spec.MAX_SEGMENTS} segments of "
            f"{spec.MAX_CHUNK_BYTES} bytes ({limit} bytes) can be uploaded",
            kind="file_too_large",
        )
    return max(requested, needed)


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


# --- requests the session asks for ------------------------------------------------
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


Request = Init | Append | Finalize | Status | SimpleUpload


# --- answers the dialects parse -----------------------------------------------------
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


class Phase(enum.Enum):
    INIT = "init"
    UPLOADING = "uploading"
    FINALIZING = "finalizing"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


@dataclass(slots=True)
class Session:
    """The upload of one file."""

    plan: Plan
    phase: Phase = Phase.INIT
    media_id: str | None = None
    media_key: str | None = None
    #: Absolute time the server forgets the unfinished upload.
    upload_deadline: float | None = None
    #: Absolute time the finished media id stops being usable.
    media_expires_at: float | None = None
    acked: set[int] = field(default_factory=set)
    in_flight: set[int] = field(default_factory=set)
    processing: ProcessingInfo | None = None
    processing_started: float | None = None
    next_poll_at: float = 0.0
    _cursor: int = 0
    _unhinted_polls: int = 0

    # --- construction --------------------------------------------------------------
    @classmethod
    def resume_upload(
        cls, plan: Plan, *, media_id: str, media_key: str | None, deadline: float, acked: set[int]
    ) -> Session:
        """Continue an unfinished upload: only the segments not in ``acked`` are sent."""
        return cls(
            plan,
            phase=Phase.UPLOADING,
            media_id=media_id,
            media_key=media_key,
            upload_deadline=deadline,
            acked={i for i in acked if 0 <= i < plan.segments},
        )

    @classmethod
    def resume_processing(
        cls, plan: Plan, *, media_id: str, media_key: str | None, now: float
    ) -> Session:
        """Continue polling STATUS for a finalized media id."""
        session = cls(plan, phase=Phase.PROCESSING, media_id=media_id, media_key=media_key)
        session.processing_started = now
        return session

    @classmethod
    def resume_attach(
        cls, plan: Plan, *, media_id: str, media_key: str | None, media_expires_at: float
    ) -> Session:
        """A finished, ready upload whose attachments (metadata, subtitles) are left."""
        return cls(
            plan,
            phase=Phase.DONE,
            media_id=media_id,
            media_key=media_key,
            media_expires_at=media_expires_at,
        )

    # --- INIT / simple upload ----------------------------------------------------
    def init_request(self) -> Init | SimpleUpload:
        self._expect(Phase.INIT)
        if self.plan.strategy == "simple":
            return SimpleUpload(self.plan)
        return Init(self.plan)

    def on_initialized(self, answer: Initialized, now: float) -> None:
        self._expect(Phase.INIT)
        self.media_id = answer.media_id
        self.media_key = answer.media_key
        expires = answer.expires_after_secs
        self.upload_deadline = now + (
            expires if expires is not None else spec.ASSUMED_UPLOAD_EXPIRY_SECS
        )
        self.acked.clear()
        self.in_flight.clear()
        self._cursor = 0
        self.phase = Phase.UPLOADING

    def restart(self) -> None:
        """Forget the server-side session (expired, or the file changed): INIT again."""
        self.phase = Phase.INIT
        self.media_id = self.media_key = None
        self.upload_deadline = None
        self.acked.clear()
        self.in_flight.clear()
        self._cursor = 0

    # --- APPEND ------------------------------------------------------------------
    def next_append(self) -> Append | None:
        """The lowest segment neither acknowledged nor in flight, marked in flight."""
        self._expect(Phase.UPLOADING)
        assert self.media_id is not None
        total = self.plan.segments
        while self._cursor < total and (
            self._cursor in self.acked or self._cursor in self.in_flight
        ):
            self._cursor += 1
        if self._cursor >= total:
            return None
        index = self._cursor
        self.in_flight.add(index)
        self._cursor += 1
        offset, length = self.plan.byte_range(index)
        return Append(self.media_id, index, offset, length)

    def on_appended(self, index: int) -> None:
        self.in_flight.discard(index)
        self.acked.add(index)

    def on_append_failed(self, index: int) -> None:
        """The segment must be sent again (by this or another worker)."""
        self.in_flight.discard(index)
        self._cursor = min(self._cursor, index)

    @property
    def all_acked(self) -> bool:
        return len(self.acked) >= self.plan.segments

    @property
    def acked_bytes(self) -> int:
        return sum(self.plan.byte_range(i)[1] for i in self.acked)

    # --- FINALIZE / STATUS ---------------------------------------------------------
    def finalize_request(self) -> Finalize:
        if self.phase is Phase.UPLOADING and self.all_acked:
            self.phase = Phase.FINALIZING
        self._expect(Phase.FINALIZING)
        assert self.media_id is not None
        return Finalize(self.media_id)

    def on_media_state(self, answer: MediaState, now: float) -> None:
        """Apply the answer of FINALIZE, STATUS or simple upload."""
        if self.media_id is None:
            self.media_id = answer.media_id
        self.media_key = answer.media_key or self.media_key
        if answer.expires_after_secs is not None:
            self.media_expires_at = now + answer.expires_after_secs
        elif self.media_expires_at is None:
            self.media_expires_at = now + spec.ASSUMED_MEDIA_EXPIRY_SECS
        info = answer.processing
        self.processing = info
        if info is None or info.state == "succeeded":
            self.phase = Phase.DONE
            return
        if info.state == "failed" or info.error_message is not None:
            self.phase = Phase.FAILED
            raise ProcessingFailed(
                info.error_message or "processing failed",
                api_code=info.error_code,
                name=info.error_name,
            )
        if info.state not in ("pending", "in_progress"):
            raise ProtocolError(f"unknown processing state {info.state!r}")
        polled_before = self.processing_started is not None
        if self.processing_started is None:
            self.processing_started = now
        self.phase = Phase.PROCESSING
        wait = info.check_after_secs
        if wait is None or wait < 0:
            # No hint (optional in the contract): 1 s, then twice as long each time.
            wait = DEFAULT_CHECK_AFTER_SECS * 2**self._unhinted_polls
            self._unhinted_polls += 1
        else:
            self._unhinted_polls = 0
        if polled_before:
            wait = max(wait, MIN_REPOLL_SECS)
        self.next_poll_at = now + min(wait, MAX_CHECK_AFTER_SECS)

    def status_request(self, now: float, timeout: float) -> Status:
        self._expect(Phase.PROCESSING)
        assert self.media_id is not None
        started = self.processing_started if self.processing_started is not None else now
        if now - started > timeout:
            self.phase = Phase.FAILED
            raise ProcessingTimeout(
                f"processing did not finish within {timeout:g} s "
                f"(last state {self.processing.state if self.processing else 'unknown'})"
            )
        return Status(self.media_id)

    # --- deadlines -----------------------------------------------------------------
    def upload_expired(self, now: float, margin: float) -> bool:
        """True if the server-side upload session may be gone by ``now + margin``."""
        return self.upload_deadline is not None and now + margin >= self.upload_deadline

    def _expect(self, *phases: Phase) -> None:
        if self.phase not in phases:
            wanted = " or ".join(p.value for p in phases)
            raise RuntimeError(f"session is {self.phase.value}, expected {wanted}")
