"""One file's upload as a state machine with no I/O: the session decides, the driver performs.

The driver (:mod:`bulkup.client.driver`) asks :meth:`Session.next_action` what to do
(:class:`~bulkup.core.steps.Send` a step, :class:`~bulkup.core.steps.Sleep` until a
time, :class:`~bulkup.core.steps.Park` until another lane answers,
:class:`~bulkup.core.steps.Finish`), performs it, and hands back what happened:
:meth:`Session.on_answer` with the parsed answer, :meth:`Session.on_error` with the
error. Both return the notes the driver applies (checkpoint fields, acknowledged
segments, progress, retries, a refusal that stops the run). The session never awaits
and never reads a clock: every call takes ``now``. Several lanes may drive one session
at once: APPEND sends segments in parallel; every other phase has one step in flight.

Phases::

    INIT ──► UPLOADING ──► FINALIZING ──► PROCESSING ──► ATTACHING ──► DONE
      ▲          │              │
      └──────────┴──────────────┘  the server forgot the upload: INIT again
    a step that cannot be retried ends the session in FAILED (:attr:`Session.error`)

The rules it holds:

- **Retries**: every step has its own :class:`~bulkup.core.retry.RetryPolicy`, each
  segment its own; a success resets it, and any acknowledged segment resets every
  segment's. While a segment waits out its backoff, no new segment is started (an
  upload that is failing is not fed more bytes); those in flight go on. A rate limit
  whose reset lies beyond ``max_wait`` is a cap (:class:`~bulkup.errors.RateCapped`):
  the item ends, to be finished by a later run.
- **A gone upload** (expired, unknown id; :func:`is_gone`) before processing starts
  over with INIT, at most ``max_restarts`` times; answers to the old upload that
  arrive later are ignored. After FINALIZE it ends the item (``session_expired``).
- **A resumed upload reads its acknowledged segments again** (when their SHA-256 was
  recorded) before trusting them: bytes that no longer hash the same start the upload
  over with INIT.
- **The file is verified** unchanged (size, modification and status-change time,
  inode) before FINALIZE, and after a one-shot upload read it: a file rewritten
  meanwhile fails the item (``file_changed``) instead of being reported uploaded.
- **An unclear FINALIZE**: a 2xx without the media state, or a refusal after an
  earlier FINALIZE went unanswered (it may have taken effect), is settled by STATUS;
  if STATUS says "not finalized" (404), FINALIZE is retried.
- **Polling** waits ``check_after_secs`` (1 s doubling when absent, at least 1 s
  between polls, at most 60 s) and gives up after ``processing_timeout``.
- **Attachments** (metadata in one request, then each subtitle file: uploaded, then
  attached) follow a ready media id; their failure keeps the media id.
- **Refusals**: refused credentials and untrusted certificates stop the whole run; a
  connection refused until the attempts are spent does too, if nothing ever answered.
"""

from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass, field

from bulkup.core import spec
from bulkup.core.items import Item, Metadata, Result, SubtitleSpec, utc_from_timestamp
from bulkup.core.resume import ContinueAttach, ContinuePolling, ContinueUpload, Decision
from bulkup.core.retry import RetryPolicy
from bulkup.core.steps import (
    DEFAULT_CHUNK_BYTES,
    ENDPOINT_OF,
    Acked,
    Action,
    Append,
    AttachSubtitles,
    Finalize,
    Finish,
    Init,
    Initialized,
    MediaState,
    Note,
    Park,
    Plan,
    ProcessingInfo,
    Record,
    Refuse,
    Request,
    Retrying,
    Send,
    SetMetadata,
    SimpleUpload,
    Sleep,
    Stage,
    Status,
    Step,
    Stored,
    Strategy,
    UploadSubtitles,
    VerifyFile,
    VerifySegments,
)
from bulkup.errors import (
    ApiError,
    AuthError,
    ConnectError,
    FileProblem,
    ProcessingFailed,
    ProcessingTimeout,
    ProtocolError,
    RateCapped,
    TLSError,
    TransportError,
    UploadError,
)

#: When an answer omits ``check_after_secs``: wait this long before the first STATUS,
#: doubling while the server keeps omitting it (never spin).
DEFAULT_CHECK_AFTER_SECS = 1.0
#: Largest wait between STATUS polls, whatever the server says.
MAX_CHECK_AFTER_SECS = 60.0
#: Smallest wait between two STATUS polls: a server that keeps answering
#: ``check_after_secs: 0`` must not make us spin through the STATUS rate budget.
MIN_REPOLL_SECS = 1.0
#: How long processing may take before the item fails.
DEFAULT_PROCESSING_TIMEOUT = 900.0
#: How often one item may start over with INIT after the server forgot its upload.
DEFAULT_MAX_RESTARTS = 2
#: v1.1 codes (and v2 wording) that mean the server no longer knows the upload.
GONE_CODES = (324, 325)


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


def is_gone(error: UploadError) -> bool:
    """True when ``error`` says the server no longer knows the upload."""
    if not isinstance(error, ApiError) or error.http_status not in (400, 404):
        return False
    if error.api_code in GONE_CODES:
        return True
    text = error.message.lower()
    return "expired" in text or "was not found" in text


class SessionGone(UploadError):
    """The server forgot the upload (expired or unknown id)."""

    kind = "session_expired"


class AttachmentFailed(UploadError):
    """Alt text, metadata or subtitles could not be attached; the media is uploaded."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Phase(enum.Enum):
    INIT = "init"
    UPLOADING = "uploading"
    FINALIZING = "finalizing"
    PROCESSING = "processing"
    ATTACHING = "attaching"
    DONE = "done"
    FAILED = "failed"


#: The phases that send the file's bytes, and so hold a files-in-flight slot.
SENDING_PHASES = frozenset({Phase.INIT, Phase.UPLOADING, Phase.FINALIZING})
_ATTACHMENTS = (SetMetadata, UploadSubtitles, AttachSubtitles)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rules:
    """The limits one session keeps to."""

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    max_restarts: int = DEFAULT_MAX_RESTARTS
    processing_timeout: float = DEFAULT_PROCESSING_TIMEOUT


@dataclass(slots=True, eq=False)
class Session:
    """The upload of one file, from INIT to its attachments."""

    plan: Plan
    rules: Rules = field(default_factory=Rules)
    metadata: Metadata | None = None
    subtitles: tuple[SubtitleSpec, ...] = ()
    rng: random.Random = field(default_factory=random.Random)
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
    #: Why the session ended in FAILED.
    error: UploadError | None = None
    #: Requests tried (1 + retries + restarts), as the report counts them.
    attempts: int = 1
    restarts: int = 0
    #: None: no metadata to set (or not tried yet); then whether it was applied.
    metadata_applied: bool | None = None
    #: ``{"language_code", "media_id_string"}`` of each subtitle file attached.
    attached: list[dict[str, str]] = field(default_factory=list)
    _cursor: int = 0
    _retry_at: dict[int, float] = field(default_factory=dict)
    _policies: dict[object, RetryPolicy] = field(default_factory=dict)
    _sending: Step | None = None
    _resume_at: float = 0.0
    _verified: bool = False
    _ambiguous: bool = False
    _unsettled: UploadError | None = None
    _unhinted_polls: int = 0
    _todo: list[Metadata | SubtitleSpec] = field(default_factory=list)
    _subtitle_id: str | None = None
    #: A one-shot upload's answer, accepted once the file is verified unchanged.
    _uploaded: MediaState | None = None
    #: A resumed upload's acknowledged segments to read again: (index, offset, length, hash).
    _unverified: list[tuple[int, int, int, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._todo = [self.metadata] if self.metadata else []
        self._todo.extend(self.subtitles)

    # --- construction --------------------------------------------------------------
    def resume(self, decision: Decision, now: float) -> Session:
        """Carry on from what the checkpoint remembers (a fresh session: from INIT)."""
        match decision:
            case ContinueUpload(media_id=media_id, media_key=key, deadline=deadline):
                self.phase = Phase.UPLOADING
                self.media_id, self.media_key, self.upload_deadline = media_id, key, deadline
                self.acked = {i for i in decision.acked if 0 <= i < self.plan.segments}
                self._unverified = [
                    (i, *self.plan.byte_range(i), h) for i, h in decision.sha256 if i in self.acked
                ]
                if len(self.acked) == self.plan.segments and not self._unverified:
                    self.phase = Phase.FINALIZING
            case ContinuePolling(media_id=media_id, media_key=key):
                self.phase, self.processing_started = Phase.PROCESSING, now
                self.media_id, self.media_key = media_id, key
            case ContinueAttach(media_id=media_id, media_key=key, media_expires_at=until):
                self.media_id, self.media_key, self.media_expires_at = media_id, key, until
                self._ready()
        return self

    # --- what it says ----------------------------------------------------------------
    @property
    def sending(self) -> bool:
        """True while the file's bytes are being sent (a files-in-flight slot is held)."""
        return self.phase in SENDING_PHASES

    @property
    def finished(self) -> bool:
        return self.phase in (Phase.DONE, Phase.FAILED)

    @property
    def acked_bytes(self) -> int:
        """Bytes the server holds: all of them once the upload was finalized."""
        if self.phase not in (Phase.INIT, Phase.UPLOADING) and self.media_id is not None:
            return self.plan.size
        return sum(self.plan.byte_range(i)[1] for i in self.acked)

    @property
    def alt_text_applied(self) -> bool | None:
        if self.metadata is None or self.metadata.alt_text is None:
            return None
        return self.metadata_applied

    # --- what to do next -------------------------------------------------------------
    def next_action(self, now: float) -> Action:
        if self.finished:
            return Finish()
        if self.phase is Phase.UPLOADING:
            return self._next_segment(now)
        if self._sending is not None:
            return Park()
        wait = self._resume_at
        if self.phase is Phase.PROCESSING:
            wait = max(wait, self.next_poll_at)
        if wait > now:
            return Sleep(wait)
        step = self._next_step(now)
        if step is None:
            return self.next_action(now)  # the phase changed (a timeout, nothing to attach)
        self._sending = step
        return Send(step)

    def _next_step(self, now: float) -> Step | None:
        match self.phase:
            case Phase.INIT:
                return (
                    SimpleUpload(self.plan) if self.plan.strategy == "simple" else Init(self.plan)
                )
            case Phase.FINALIZING:
                if not self._verified:
                    return VerifyFile()
                media_id = self._media_id()
                return Status(media_id) if self._unsettled else Finalize(media_id)
            case Phase.PROCESSING:
                return self._poll(now)
            case Phase.ATTACHING:
                return self._attachment()
        return None

    def _next_segment(self, now: float) -> Action:
        if self.upload_deadline is not None and now >= self.upload_deadline:
            self._gone(SessionGone("the upload session expired before all segments were sent"))
            return self.next_action(now)
        if self._unverified:  # a resumed upload: its acknowledged bytes read again first
            if self._sending is not None:
                return Park()
            self._sending = VerifySegments(tuple(self._unverified))
            return Send(self._sending)
        index: int | None
        if self._retry_at:  # failing: no new segment until the failed ones went again
            index, at = min(self._retry_at.items(), key=lambda pair: pair[1])
            if at > now:
                return Sleep(at)
            del self._retry_at[index]
        else:
            index = self._advance()
        if index is None:
            return Park()  # the last segments are in flight
        self.in_flight.add(index)
        offset, length = self.plan.byte_range(index)
        return Send(Append(self._media_id(), index, offset, length))

    def _advance(self) -> int | None:
        """The lowest segment not sent yet in this upload (failed ones wait in
        ``_retry_at``; a resumed upload's acknowledged ones are skipped)."""
        while self._cursor < self.plan.segments and (
            self._cursor in self.acked or self._cursor in self.in_flight
        ):
            self._cursor += 1
        if self._cursor >= self.plan.segments:
            return None
        self._cursor += 1
        return self._cursor - 1

    def _poll(self, now: float) -> Status | None:
        started = self.processing_started if self.processing_started is not None else now
        timeout = self.rules.processing_timeout
        if now - started > timeout:
            last = self.processing.state if self.processing else "unknown"
            self._end(
                ProcessingTimeout(
                    f"processing did not finish within {timeout:g} s (last state {last})"
                )
            )
            return None
        return Status(self._media_id())

    def _attachment(self) -> Step:
        media_id, head = self._media_id(), self._todo[0]
        if isinstance(head, Metadata):
            self.metadata_applied = False
            return SetMetadata(media_id, head)
        if self._subtitle_id is None:
            return UploadSubtitles(head)
        category = self.plan.media_category or "tweet_video"
        name = head.display_name or head.language_code
        return AttachSubtitles(media_id, category, self._subtitle_id, head.language_code, name)

    # --- what an answer means --------------------------------------------------------
    def on_answer(
        self, step: Step, answer: Initialized | MediaState | Stored | Result | None, now: float
    ) -> list[Note]:
        """``step`` succeeded with ``answer`` (as the dialect parsed it)."""
        if self._stale(step):
            return []
        self._done_with(step)
        self._policies.pop(self._key(step), None)
        match step, answer:
            case Init(), Initialized():
                return self._initialized(answer, now)
            case VerifySegments(), _:
                self._unverified = []
                if len(self.acked) == self.plan.segments:
                    self.phase = Phase.FINALIZING
                return []
            case Append(index=index, length=length), Stored(sha256=sha256):
                return self._appended(index, length, sha256)
            case Append(index=index, length=length), None:
                return self._appended(index, length, None)
            case VerifyFile(), _:
                return self._verified_file(now)
            case SimpleUpload(), MediaState():
                self._uploaded, self.phase = answer, Phase.FINALIZING  # once the file is checked
                return []
            case Finalize() | Status(), MediaState():
                return self._media_state(answer, now)
            case UploadSubtitles(), Result():
                return self._subtitle_uploaded(step, answer, now)
            case SetMetadata() | AttachSubtitles(), _:
                return self._attached(step)
        raise TypeError(f"{type(answer).__name__} is not an answer to {step!r}")

    def _verified_file(self, now: float) -> list[Note]:
        """The file is as planned: FINALIZE may go, or a one-shot upload's answer holds."""
        self._verified = True
        uploaded, self._uploaded = self._uploaded, None
        if uploaded is not None:
            return self._media_state(uploaded, now)
        return [Stage("finalizing")]

    def _initialized(self, answer: Initialized, now: float) -> list[Note]:
        self.media_id, self.media_key = answer.media_id, answer.media_key
        expires = answer.expires_after_secs
        self.upload_deadline = now + (
            expires if expires is not None else spec.ASSUMED_UPLOAD_EXPIRY_SECS
        )
        self.phase = Phase.UPLOADING
        return [
            Record(
                {
                    "media_id": self.media_id,
                    "media_key": self.media_key,
                    "upload_deadline": self.upload_deadline,
                    "acked": set(),
                    "segment_sha256": {},
                    "finalized": False,
                }
            )
        ]

    def _appended(self, index: int, length: int, sha256: str | None) -> list[Note]:
        self.in_flight.discard(index)
        self.acked.add(index)
        # Progress: every segment's failures start counting again (a flaky connection
        # that fails one request in two must not end an upload that moves on).
        if self._policies:  # on the per-segment path: nothing to do while nothing failed
            self._policies = {k: p for k, p in self._policies.items() if not isinstance(k, int)}
        if self.phase is Phase.UPLOADING and len(self.acked) >= self.plan.segments:
            self.phase = Phase.FINALIZING
        return [Acked(index, length, sha256)]

    def _media_state(self, answer: MediaState, now: float) -> list[Note]:
        """FINALIZE's, STATUS's or a one-shot upload's answer."""
        self.media_id = self.media_id or answer.media_id
        self.media_key = answer.media_key or self.media_key
        if answer.expires_after_secs is not None:
            self.media_expires_at = now + answer.expires_after_secs
        elif self.media_expires_at is None:
            self.media_expires_at = now + spec.ASSUMED_MEDIA_EXPIRY_SECS
        info = self.processing = answer.processing
        self._unsettled = None
        record = Record(
            {
                "media_id": self.media_id,
                "media_key": self.media_key,
                "media_expires_at": self.media_expires_at,
                "processing": info.state if info else "succeeded",
                "finalized": True,
            }
        )
        if info is None or info.state == "succeeded":
            self._ready()
            if self._todo:  # alt text or subtitles: each waits for its own budget
                return [record, Stage(_attaching(self._todo[0]))]
        elif info.state == "failed" or info.error_message is not None:
            message = info.error_message or "processing failed"
            self._end(ProcessingFailed(message, api_code=info.error_code, name=info.error_name))
        elif info.state not in ("pending", "in_progress"):
            self._end(ProtocolError(f"unknown processing state {info.state!r}"))
        else:
            self._schedule_poll(info, now)
            return [record, Stage("processing", info.progress_percent)]
        return [record]

    def _schedule_poll(self, info: ProcessingInfo, now: float) -> None:
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

    def _subtitle_uploaded(self, step: UploadSubtitles, result: Result, now: float) -> list[Note]:
        error = result.error
        if result.status == "skipped" and error is not None:
            retry_at = result.retry_after.timestamp() if result.retry_after else now
            return self._fail(step, RateCapped(error.message, endpoint="upload", retry_at=retry_at))
        if not result.ok or result.media_id_string is None:
            message = error.message if error else "upload failed"
            return self._fail(step, UploadError(message))
        self._subtitle_id = result.media_id_string
        return []

    def _attached(self, step: SetMetadata | AttachSubtitles) -> list[Note]:
        if isinstance(step, SetMetadata):
            self.metadata_applied = True
        else:
            self.attached.append(
                {"language_code": step.language, "media_id_string": step.subtitle_id}
            )
            self._subtitle_id = None
        self._todo.pop(0)
        if not self._todo:
            self.phase = Phase.DONE
            return []
        return [Stage(_attaching(self._todo[0]))]

    # --- what an error means ---------------------------------------------------------
    def on_error(self, step: Step, error: UploadError, now: float) -> list[Note]:
        """``step`` failed with ``error``: retry it later, start over, or end the session."""
        if self._stale(step):
            return []
        self._done_with(step)
        notes: list[Note] = [Refuse(error)] if isinstance(error, AuthError | TLSError) else []
        if self.phase is Phase.FAILED:
            return notes  # another lane ended the session already
        if isinstance(step, VerifySegments):
            self._restart()  # the bytes the server holds are not the file's now: INIT again
            return notes
        if is_gone(error):
            return notes + self._gone(error, step)
        if isinstance(step, Finalize):
            return notes + self._finalize_failed(error, now)
        if isinstance(step, Status) and self._unsettled is not None:
            return notes + self._settle_failed(error, now)
        return notes + self._retry(step, error, now)

    def on_stop(self, error: UploadError) -> None:
        """The run stopped sending (``error``): a session waiting to retry or to poll
        ends with it now, instead of waiting to send what would be refused."""
        if not self.finished:
            self._end(error)

    def _finalize_failed(self, error: UploadError, now: float) -> list[Note]:
        refused = isinstance(error, ApiError) and not error.retryable
        accepted = isinstance(error, ProtocolError) and error.accepted
        if accepted or (self._ambiguous and refused):
            # A 2xx without the media state, or a refusal of a FINALIZE that may have
            # taken effect already: STATUS says how things stand.
            self._unsettled = error
            return []
        # No usable answer: the server may have finalized all the same.
        self._ambiguous = self._ambiguous or isinstance(error, TransportError | ProtocolError)
        return self._retry(Finalize(self._media_id()), error, now)

    def _settle_failed(self, error: UploadError, now: float) -> list[Note]:
        """STATUS after an unclear FINALIZE failed: 404 says "not finalized"."""
        unsettled = self._unsettled
        if unsettled is None or not isinstance(error, ApiError) or error.http_status != 404:
            return self._retry(Status(self._media_id()), error, now)
        self._unsettled = None
        self._ambiguous = self._ambiguous or isinstance(unsettled, TransportError | ProtocolError)
        return self._retry(Finalize(self._media_id()), unsettled, now)

    def _retry(self, step: Step, error: UploadError, now: float) -> list[Note]:
        key = self._key(step)
        try:
            policy, delay = self._policies.get(key, self.rules.policy).next(error, self.rng, now)
        except UploadError as final:
            # Never reached in this run (wrong endpoint, server down): every other item
            # would spend all its attempts the same way; they fail at once.
            never = [Refuse(error, unless_answered=True)] if isinstance(error, ConnectError) else []
            return never + self._fail(step, final)
        self._policies[key] = policy
        self.attempts += 1
        if isinstance(step, Append):
            self._retry_at[step.index] = now + delay
        else:
            self._resume_at = now + delay
        limited = error.endpoint if isinstance(error, ApiError) else None
        until = error.wait_until(now) if isinstance(error, ApiError) and limited else None
        # The endpoint retried (whose limit ``until`` is, if any): the progress line's
        # "HTTP 503 on append".
        return [Retrying(error, delay, until, limited or ENDPOINT_OF.get(type(step)))]

    def _gone(self, error: UploadError, step: Step | None = None) -> list[Note]:
        if self.phase in SENDING_PHASES and self.restarts < self.rules.max_restarts:
            self._restart()
            return []
        if not isinstance(error, SessionGone):
            error = SessionGone(
                error.message, http_status=error.http_status, api_code=error.api_code
            )
        return self._fail(step, error)

    def _fail(self, step: Step | None, error: UploadError) -> list[Note]:
        """End the session with ``error``; an attachment's keeps the media id."""
        if isinstance(step, _ATTACHMENTS) and not isinstance(error, RateCapped):
            error = _attachment_error(step, error)
        self._end(error)
        return []

    # --- bookkeeping -----------------------------------------------------------------
    def _restart(self) -> None:
        """Forget the server-side upload: INIT again."""
        self.phase = Phase.INIT
        self.media_id = self.media_key = self.upload_deadline = None
        self.acked, self.in_flight, self._retry_at, self._policies = set(), set(), {}, {}
        self._cursor, self._resume_at = 0, 0.0
        self._verified = self._ambiguous = False
        self._unsettled = self._uploaded = None
        self._unverified = []
        self.restarts += 1
        self.attempts += 1

    def _ready(self) -> None:
        self.phase = Phase.ATTACHING if self._todo else Phase.DONE

    def _end(self, error: UploadError) -> None:
        self.phase, self.error = Phase.FAILED, error

    def _done_with(self, step: Step) -> None:
        if isinstance(step, Append):
            self.in_flight.discard(step.index)
        else:
            self._sending = None

    def _stale(self, step: Step) -> bool:
        """True for an answer about an upload the session has since given up."""
        if isinstance(step, Append | Finalize | Status):
            return step.media_id != self.media_id
        return False

    def _key(self, step: Step) -> object:
        """Whose retry policy ``step`` counts against."""
        if isinstance(step, Append):
            return step.index
        if isinstance(step, Status) and self.phase is Phase.FINALIZING:
            return "settle"
        return type(step).__name__

    def _media_id(self) -> str:
        if self.media_id is None:
            raise RuntimeError(f"no media id in phase {self.phase.value}")
        return self.media_id


def _attachment_error(step: Step, error: UploadError) -> UploadError:
    if isinstance(error, AttachmentFailed):
        return error
    match step:
        case SetMetadata(metadata=metadata) if metadata.alt_text is not None:
            return AttachmentFailed("alt_text_failed", f"alt text not applied: {error.message}")
        case SetMetadata():
            return AttachmentFailed("metadata_failed", f"metadata not applied: {error.message}")
        case UploadSubtitles(subtitles=sub):
            return AttachmentFailed(
                "subtitles_failed", f"subtitles {sub.path.name}: {error.message}"
            )
        case AttachSubtitles(language=language):
            return AttachmentFailed("subtitles_failed", f"subtitles {language}: {error.message}")
    return error


def result_of(
    item: Item,
    *,
    plan: Plan | None,
    session: Session | None,
    error: UploadError | None,
    elapsed: float,
    warnings: tuple[str, ...] = (),
) -> Result:
    """The item's report line; at a rate cap it is skipped, left for a later run."""
    finalized = session if session and session.media_expires_at else None  # its media id counts
    expires = finalized.media_expires_at if finalized else None
    retry_at = error.retry_at if isinstance(error, RateCapped) else None
    return Result(
        id=item.id,
        path=str(item.path),
        status="succeeded" if error is None else "failed" if retry_at is None else "skipped",
        media_id_string=finalized.media_id if finalized else None,
        media_key=finalized.media_key if finalized else None,
        media_type=plan.media_type if plan else item.media_type,
        media_category=plan.media_category if plan else item.media_category,
        size=plan.size if plan else None,
        expires_at=utc_from_timestamp(expires) if expires else None,
        attempts=session.attempts if session else 1,
        elapsed_s=elapsed,
        error=error.info() if error else None,
        retry_after=utc_from_timestamp(retry_at) if retry_at is not None else None,
        alt_text_applied=session.alt_text_applied if session else None,
        metadata_applied=session.metadata_applied if session else None,
        subtitles=tuple(session.attached) if session else (),
        post=item.post,
        warnings=warnings,
        account=item.account,
    )


__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "AttachmentFailed",
    "Initialized",
    "MediaState",
    "Phase",
    "Plan",
    "ProcessingInfo",
    "Request",
    "Rules",
    "Session",
    "SessionGone",
    "Strategy",
    "chunk_size_for",
    "is_gone",
    "result_of",
]


def _attaching(head: Metadata | SubtitleSpec) -> str:
    """The stage shown while an attachment is set: ``alt text``, ``subtitles``."""
    if isinstance(head, SubtitleSpec):
        return "subtitles"
    return "alt text" if head.alt_text is not None else "metadata"
