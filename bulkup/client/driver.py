"""Uploading one item: the async loop that performs what its :class:`Session` asks.

:class:`ItemUpload` prepares the plan (type, category, strategy, chunk size),
decides from the checkpoint whether to reuse a result, resume an upload or start
over, and then drives the session: INIT, parallel APPEND workers, FINALIZE, STATUS
polling, alt text. Every acknowledged step goes to the checkpoint at once. The
files-in-flight slot is released at FINALIZE: waiting for processing is free.
"""

from __future__ import annotations

import dataclasses
import functools
import mimetypes
import os
import random
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiofiles
import anyio

from bulkup import logs
from bulkup.client.config import SIMPLE_UPLOAD_MAX_BYTES, UploadConfig
from bulkup.client.progress import NullObserver, Observer, wait_listener
from bulkup.client.transport import Transport
from bulkup.core import resume, spec
from bulkup.core.dialects import Dialect, HttpRequest, raise_for_answer
from bulkup.core.items import Item, Result, SubtitleSpec, UploadParams, utc_from_timestamp
from bulkup.core.retry import RetryPolicy
from bulkup.core.session import (
    Initialized,
    MediaState,
    Phase,
    Plan,
    Request,
    Session,
    SimpleUpload,
    Status,
    chunk_size_for,
)
from bulkup.errors import (
    ApiError,
    AuthError,
    ConnectError,
    FileChanged,
    FileProblem,
    ProtocolError,
    RateCapped,
    TLSError,
    TransportError,
    UploadError,
    single_error,
)
from bulkup.media import probe as mediacheck
from bulkup.media.preflight import preflight
from bulkup.run.checkpoint import Checkpoint, ItemRecord

#: v1.1 codes (and v2 wording) that mean the server no longer knows the upload.
_GONE_CODES = (324, 325)


@dataclass(slots=True)
class Runtime:
    """What every item of one uploader shares."""

    config: UploadConfig
    dialect: Dialect
    transport: Transport
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.time
    observer: Observer = field(default_factory=NullObserver)


class _Attachment(UploadError):
    """Alt text or subtitles could not be attached; the media itself is uploaded."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class SessionGone(UploadError):
    """The server forgot the upload (expired or unknown id): start over with INIT."""

    kind = "session_expired"


@dataclass(slots=True)
class FileIdentity:
    size: int
    mtime_ns: int


def identify(path: str) -> FileIdentity:
    """Size and mtime of a regular, non-empty, readable file, or a clear FileProblem."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileProblem(f"{path}: file not found", kind="missing_file") from None
    except OSError as exc:
        raise FileProblem(f"{path}: cannot stat ({exc.strerror})", kind="unreadable") from None
    if not stat.S_ISREG(st.st_mode):
        raise FileProblem(f"{path}: not a regular file", kind="not_a_file")
    if st.st_size == 0:
        raise FileProblem(f"{path}: the file is empty", kind="empty_file")
    return FileIdentity(st.st_size, st.st_mtime_ns)


async def sniff_type(path: str) -> str | None:
    try:
        async with aiofiles.open(path, "rb") as fh:
            head = await fh.read(mediacheck.SNIFF_BYTES)
    except PermissionError:
        raise FileProblem(f"{path}: permission denied", kind="unreadable") from None
    except OSError as exc:
        raise FileProblem(f"{path}: cannot read ({exc.strerror})", kind="unreadable") from None
    return mediacheck.sniff(head)


def default_category(media_type: str) -> str | None:
    if media_type == "image/gif":
        return "tweet_gif"
    if media_type.startswith("image/"):
        return "tweet_image"
    if media_type.startswith("video/"):
        return "tweet_video"
    if media_type in ("text/srt", "text/vtt", "application/x-subrip"):
        return "subtitles"
    return None


class ItemUpload:
    """The upload of one item, from file checks to its :class:`Result`."""

    def __init__(
        self,
        rt: Runtime,
        item: Item,
        checkpoint: Checkpoint | None,
        release: Callable[[], None] = lambda: None,
    ) -> None:
        """``release`` gives back the files-in-flight slot the item was admitted with."""
        self.rt = rt
        self._release_slot = release
        self.item = item
        self.path = str(item.path)
        self.checkpoint = checkpoint
        self.attempts = 1
        self.restarts = 0
        self.started = rt.clock()
        self.session: Session | None = None
        self.plan: Plan | None = None
        self.warnings: tuple[str, ...] = ()
        self.alt_text_applied: bool | None = None
        self.metadata_applied: bool | None = None
        self.subtitles: list[dict[str, str]] = []
        #: A new item's file identity, until its record is written (see :meth:`_save`).
        self._unrecorded: FileIdentity | None = None

    # --- the whole item ------------------------------------------------------------
    async def run(self) -> Result:
        try:
            identity = identify(self.path)
            self.plan = await self._plan(identity)
            reused = self._reuse(identity)
            if reused is not None:
                return reused
            await self._drive(identity)
            return self._result()
        except UploadError as exc:
            return self._failure(exc)
        finally:
            self._release_slot()

    async def _plan(self, identity: FileIdentity) -> Plan:
        config = self.rt.config
        item = self.item
        if config.preflight:
            media_type, category = await self._preflight()
        else:
            media_type = await self._sniff()
            category = item.media_category or config.category or default_category(media_type)
        self._check_request_fields(media_type)
        if item.subtitles and category not in spec.SUBTITLE_VIDEO_CATEGORIES:
            raise FileProblem(
                f"subtitles attach to tweet_video or amplify_video media, not {category}",
                kind="preflight",
            )
        strategy = config.strategy
        if strategy == "auto":
            simple_ok = category in (None, "tweet_image", "dm_image")
            image = media_type.startswith("image/") and media_type != "image/gif"
            small = identity.size <= SIMPLE_UPLOAD_MAX_BYTES
            strategy = "simple" if simple_ok and image and small else "chunked"
        if strategy == "simple" and item.shared:
            # One-shot has no "shared" field: an upload to be shared goes by initialize.
            strategy = "chunked"
        chunk = chunk_size_for(identity.size, config.chunk_size)
        return Plan(
            size=identity.size,
            media_type=media_type,
            media_category=category,
            chunk_size=chunk,
            strategy="simple" if strategy == "simple" else "chunked",
            additional_owners=item.additional_owners,
            shared=item.shared,
        )

    def _check_request_fields(self, media_type: str) -> None:
        """Refuse, before any request, what the dialect's endpoint would refuse."""
        if self.rt.dialect.name == "v2" and media_type not in spec.V2_MEDIA_TYPES:
            alias = spec.MEDIA_TYPE_ALIASES.get(media_type)
            fix = (
                f"declare media_type {alias}"
                if alias
                else "declare one of X's media types (image/jpeg, image/png, video/mp4, …) "
                "or leave media_type out to detect it"
            )
            raise FileProblem(
                f"{self.path}: media_type {media_type} is not one X accepts; {fix}",
                kind="unsupported_type",
            )
        if self.rt.dialect.name == "v1.1" and self.item.allow_download is not None:
            raise FileProblem(
                f"{self.path}: allow_download is a v2 metadata field; the v1.1 metadata "
                "endpoint has none: use --api v2, or drop allow_download",
                kind="unsupported_metadata",
            )

    async def _sniff(self) -> str:
        """The type without preflight: declared, else the bytes, else the extension."""
        if self.item.media_type:
            return self.item.media_type  # as declared: checked, never rewritten
        media_type = await sniff_type(self.path) or mimetypes.guess_type(self.path)[0]
        media_type = spec.MEDIA_TYPE_ALIASES.get(media_type or "", media_type)
        if not media_type:
            raise FileProblem(
                f"{self.path}: unknown media type: neither the bytes nor the extension say "
                "what it is; set media_type in the manifest",
                kind="unknown_type",
            )
        return media_type

    async def _preflight(self) -> tuple[str, str | None]:
        """The type and category the bytes call for, or FileProblem listing every violation."""
        pre = await anyio.to_thread.run_sync(
            functools.partial(preflight, self.item, default_category=self.rt.config.category)
        )
        self.warnings = pre.warnings
        if not pre.ok or pre.media_type is None:
            raise FileProblem("; ".join(pre.lines) or "media type unrecognized", kind="preflight")
        return pre.media_type, pre.category

    # --- checkpoint decisions --------------------------------------------------------
    def _reuse(self, identity: FileIdentity) -> Result | None:
        """A result from the checkpoint, or set up ``self.session`` (fresh or resumed)."""
        assert self.plan is not None
        plan, now = self.plan, self.rt.clock()
        record = self.checkpoint.get(self.item.id) if self.checkpoint else None
        params = _params(plan, self.item)
        decision = resume.decide(
            record,
            size=identity.size,
            mtime_ns=identity.mtime_ns,
            params=params,
            now=now,
            margin=self.rt.config.resume_margin,
        )
        partial = record is not None and record.partial_params
        if partial and self.checkpoint is not None and not isinstance(decision, resume.StartOver):
            # A version 1 record kept no subtitles or post: the source's entry completes it.
            self.checkpoint.update(self.item.id, params=params, partial_params=False)
        if isinstance(decision, resume.Reuse):
            return self._from_record(decision.result)
        self.session = _session_for(decision, plan, now)
        if isinstance(decision, resume.StartOver):
            self._unrecorded = identity  # recorded with INIT's answer
        return None

    def _save(self, **changes: Any) -> None:
        """Record ``changes``; a new item's record is first written with its first save
        (INIT's answer): before it, the checkpoint could only say "start over"."""
        if self.checkpoint is None:
            return
        identity, self._unrecorded = self._unrecorded, None
        if identity is None:
            self.checkpoint.update(self.item.id, **changes)
            return
        assert self.plan is not None
        record = ItemRecord(
            id=self.item.id,
            path=self.path,
            size=identity.size,
            mtime_ns=identity.mtime_ns,
            params=_params(self.plan, self.item),
            **changes,
        )
        self.checkpoint.put(record)

    # --- driving the session ---------------------------------------------------------
    async def _drive(self, identity: FileIdentity) -> None:
        session = self.session
        assert session is not None
        observer = self.rt.observer
        observer.item_started(self.item.id, identity.size, session.acked_bytes)
        if session.phase in (Phase.INIT, Phase.UPLOADING):
            await self._upload(identity)
        self._release_slot()  # waiting for processing holds no slot
        while session.phase is Phase.PROCESSING:
            info = session.processing
            observer.item_state(self.item.id, "processing", info.progress_percent if info else None)
            await self._poll()
        if session.phase is Phase.DONE:
            assert session.media_id is not None
            await self._attach(session.media_id)

    async def _attach(self, media_id: str) -> None:
        """Metadata and subtitles, once the media is ready; a failure keeps the media id.

        Alt text and the other metadata go in one request (each is billed).
        """
        item = self.item
        metadata = item.metadata
        if metadata:
            applied = self.metadata_applied = False
            if metadata.alt_text is not None:
                self.alt_text_applied = False
            try:
                await self._call_http(self.rt.dialect.metadata(media_id, metadata))
                applied = True
            except RateCapped:
                raise
            except UploadError as exc:
                kind = "alt_text_failed" if metadata.alt_text is not None else "metadata_failed"
                what = "alt text" if metadata.alt_text is not None else "metadata"
                raise _Attachment(kind, f"{what} not applied: {exc.message}") from exc
            finally:
                self.metadata_applied = applied
                if metadata.alt_text is not None:
                    self.alt_text_applied = applied
        for spec_ in item.subtitles:
            await self._attach_subtitles(media_id, spec_)

    async def _attach_subtitles(self, video_id: str, sub: SubtitleSpec) -> None:
        language, name = sub.language_code, sub.display_name or sub.language_code
        upload = ItemUpload(
            dataclasses.replace(self.rt, observer=NullObserver()),  # part of this item
            Item(
                id=f"{self.item.id}#subtitles-{language}", path=sub.path, media_category="subtitles"
            ),
            None,
        )
        result = await upload.run()
        if result.status == "skipped" and result.error is not None:
            retry_at = result.retry_after.timestamp() if result.retry_after else self.rt.clock()
            raise RateCapped(result.error.message, endpoint="upload", retry_at=retry_at)
        if not result.ok or result.media_id_string is None:
            message = result.error.message if result.error else "upload failed"
            raise _Attachment("subtitles_failed", f"subtitles {sub.path.name}: {message}")
        assert self.plan is not None and self.plan.media_category is not None
        request = self.rt.dialect.subtitles(
            video_id, self.plan.media_category, result.media_id_string, language, name
        )
        try:
            await self._call_http(request)
        except RateCapped:
            raise
        except UploadError as exc:
            raise _Attachment("subtitles_failed", f"subtitles {language}: {exc.message}") from exc
        self.subtitles.append(
            {"language_code": language, "media_id_string": result.media_id_string}
        )

    async def _upload(self, identity: FileIdentity) -> None:
        session = self.session
        assert session is not None
        while True:
            try:
                if session.phase is Phase.INIT:
                    await self._init()
                if session.phase is Phase.UPLOADING:
                    await self._append_all()
                    self._check_unchanged(identity)
                    await self._finalize()
                return
            except SessionGone:
                if self.restarts >= self.rt.config.max_restarts:
                    raise
                self.restarts += 1
                self.attempts += 1
                session.restart()

    async def _init(self) -> None:
        session = self.session
        assert session is not None
        request = session.init_request()
        answer = await self._call(request)
        now = self.rt.clock()
        if isinstance(request, SimpleUpload):
            assert isinstance(answer, MediaState)
            try:
                session.on_media_state(answer, now)
            finally:
                self._save_state(finalized=True)
            return
        assert isinstance(answer, Initialized)
        session.on_initialized(answer, now)
        self._save(
            media_id=session.media_id,
            media_key=session.media_key,
            upload_deadline=session.upload_deadline,
            acked=set(),
            finalized=False,
        )

    async def _append_all(self) -> None:
        assert self.plan is not None
        workers = min(self.rt.config.segments_per_file, self.plan.segments)
        try:
            async with anyio.create_task_group() as tg:
                for _ in range(workers):
                    tg.start_soon(self._append_worker)
        except BaseExceptionGroup as group:
            raise _single_error(group) from None

    async def _append_worker(self) -> None:
        session = self.session
        assert session is not None
        policy = self._policy()
        while session.phase is Phase.UPLOADING:
            if session.upload_expired(self.rt.clock(), 0.0):
                raise SessionGone("the upload session expired before all segments were sent")
            append = session.next_append()
            if append is None:
                return
            try:
                await self._send_once(append)
            except UploadError as exc:
                session.on_append_failed(append.index)
                policy = await self._backoff(policy, exc)
                continue
            session.on_appended(append.index)
            self.rt.observer.bytes_acked(self.item.id, append.length)
            policy = policy.reset()
            if self.checkpoint is not None:
                self.checkpoint.ack(self.item.id, append.index)

    async def _finalize(self) -> None:
        session = self.session
        assert session is not None
        request = session.finalize_request()
        self.rt.observer.item_state(self.item.id, "finalizing")
        policy = self._policy()
        ambiguous = False  # an earlier FINALIZE may have taken effect without an answer
        while True:
            try:
                answer = await self._send_once(request)
                break
            except UploadError as exc:
                refused = isinstance(exc, ApiError) and not exc.retryable and not _is_gone(exc)
                accepted = isinstance(exc, ProtocolError) and exc.accepted
                if accepted or (ambiguous and refused):
                    # A 2xx without the media state, or a refusal of a FINALIZE that may
                    # have taken effect already: STATUS says how things stand.
                    settled = await self._settle(request.media_id)
                    if settled is not None:
                        answer = settled
                        break
                # No usable answer: the server may have finalized all the same.
                ambiguous = ambiguous or isinstance(exc, (TransportError, ProtocolError))
                policy = await self._backoff(policy, exc)
        assert isinstance(answer, MediaState)
        try:
            session.on_media_state(answer, self.rt.clock())
        finally:
            self._save_state(finalized=True)

    async def _settle(self, media_id: str) -> MediaState | None:
        """STATUS after an unclear FINALIZE: the media's state, or None if the server
        says it is not finalized (FINALIZE must be sent again)."""
        try:
            answer = await self._call(Status(media_id))
        except ApiError as exc:
            if exc.http_status == 404 and not _is_gone(exc):
                return None
            raise
        assert isinstance(answer, MediaState)
        return answer

    async def _poll(self) -> None:
        session = self.session
        assert session is not None
        delay = session.next_poll_at - self.rt.clock()
        if delay > 0:
            await anyio.sleep(delay)
        request = session.status_request(self.rt.clock(), self.rt.config.processing_timeout)
        answer = await self._call(request)
        assert isinstance(answer, MediaState)
        try:
            session.on_media_state(answer, self.rt.clock())
        finally:
            self._save_state()

    def _save_state(self, **changes: Any) -> None:
        session = self.session
        assert session is not None
        info = session.processing
        self._save(
            media_id=session.media_id,
            media_key=session.media_key,
            media_expires_at=session.media_expires_at,
            processing=info.state if info else "succeeded",
            **changes,
        )

    def _check_unchanged(self, identity: FileIdentity) -> None:
        now = identify(self.path)
        if (now.size, now.mtime_ns) != (identity.size, identity.mtime_ns):
            raise FileChanged(
                f"{self.path} changed during the upload (size or modification time differs); "
                "it was not finalized. Run again once the file is stable."
            )

    # --- requests with retries ---------------------------------------------------------
    def _policy(self) -> RetryPolicy:
        c = self.rt.config
        return RetryPolicy(
            max_attempts=c.max_attempts, base=c.backoff_base, cap=c.backoff_cap, max_wait=c.max_wait
        )

    async def _backoff(self, policy: RetryPolicy, error: UploadError) -> RetryPolicy:
        if _is_gone(error):
            raise SessionGone(error.message, http_status=error.http_status, api_code=error.api_code)
        if isinstance(error, TLSError):  # retrying cannot make the certificate trusted
            self.rt.transport.refuse(error)  # the other items fail at once, sending nothing
        now = self.rt.clock()
        until = error.wait_until(now) if isinstance(error, ApiError) else None
        try:
            policy, delay = policy.next(error, self.rt.rng, now)
        except UploadError:
            if isinstance(error, ConnectError) and not self.rt.transport.counters.answered:
                # Never reached in this run (wrong endpoint, server down): every other
                # item would spend all its attempts the same way; they fail at once.
                self.rt.transport.refuse(error)
            raise
        if until is not None and isinstance(error, ApiError) and error.endpoint:
            wait_listener(self.rt.observer)(error.endpoint, until)
        self.attempts += 1
        self.rt.transport.counters.retries += 1
        self.rt.observer.retried(self.item.id)
        logs.event("debug", "retry", item=self.item.id, error=error.message, delay_s=delay)
        await anyio.sleep(delay)
        return policy

    async def _call(self, request: Request) -> Initialized | MediaState | None:
        policy = self._policy()
        while True:
            try:
                return await self._send_once(request)
            except UploadError as exc:
                policy = await self._backoff(policy, exc)

    async def _send_once(self, request: Request) -> Initialized | MediaState | None:
        http = self.rt.dialect.build(request)
        answer = await self.rt.transport.send(http, self.path)
        try:
            return self.rt.dialect.parse(request, answer)
        except AuthError as exc:
            self.rt.transport.refuse(exc)
            raise

    async def _call_http(self, http: HttpRequest) -> None:
        """A request whose 2xx is all we need (metadata, subtitles): success is the status."""
        policy = self._policy()
        while True:
            try:
                raise_for_answer(await self.rt.transport.send(http, None), http.endpoint)
                return
            except AuthError as exc:
                self.rt.transport.refuse(exc)
                raise
            except UploadError as exc:
                policy = await self._backoff(policy, exc)

    # --- results -----------------------------------------------------------------------
    def _base(self) -> dict[str, Any]:
        plan = self.plan
        return {
            "id": self.item.id,
            "path": self.path,
            "media_type": plan.media_type if plan else self.item.media_type,
            "media_category": plan.media_category if plan else self.item.media_category,
            "size": plan.size if plan else None,
            "attempts": self.attempts,
            "elapsed_s": self.rt.clock() - self.started,
            "post": self.item.post,
            "warnings": self.warnings,
            "alt_text_applied": self.alt_text_applied,
            "metadata_applied": self.metadata_applied,
            "subtitles": tuple(self.subtitles),
        }

    def _result(self) -> Result:
        session = self.session
        assert session is not None and session.phase is Phase.DONE
        expires = session.media_expires_at
        result = Result(
            status="succeeded",
            media_id_string=session.media_id,
            media_key=session.media_key,
            expires_at=utc_from_timestamp(expires) if expires else None,
            **self._base(),
        )
        self._save(result=result, attempts=self.attempts)
        return result

    def _failure(self, error: UploadError) -> Result:
        """The item's failed result; at a rate cap it is skipped, left for a later run."""
        session = self.session
        expires = session.media_expires_at if session else None
        retry_at = error.retry_at if isinstance(error, RateCapped) else None
        capped = retry_at is not None
        result = Result(
            status="skipped" if capped else "failed",
            media_id_string=session.media_id if session else None,
            media_key=session.media_key if session else None,
            expires_at=utc_from_timestamp(expires) if expires else None,
            error=error.info(),
            retry_after=utc_from_timestamp(retry_at) if retry_at is not None else None,
            **self._base(),
        )
        if not capped and self.checkpoint is not None and self.item.id in self.checkpoint:
            self._save(result=result, attempts=self.attempts)
        return result

    def _from_record(self, finished: Result) -> Result:
        """The line the item finished with, marked resumed: nothing is sent again.

        Only the path is this run's (the same file, by size and modification time).
        """
        return dataclasses.replace(finished, path=self.path, resumed=True)


def _single_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one error to report for a failed group of APPEND workers.

    An upload error (a gone session first) wins; anything else (cancellation,
    a bug) re-raises the group untouched.
    """

    return single_error(group, UploadError, prefer=SessionGone)


def _session_for(decision: resume.Decision, plan: Plan, now: float) -> Session:
    """The session that carries out a resume decision (other than a reuse)."""
    match decision:
        case resume.ContinueUpload(media_id=media_id, media_key=key, deadline=deadline):
            return Session.resume_upload(
                plan, media_id=media_id, media_key=key, deadline=deadline, acked=set(decision.acked)
            )
        case resume.ContinuePolling(media_id=media_id, media_key=key):
            return Session.resume_processing(plan, media_id=media_id, media_key=key, now=now)
        case resume.ContinueAttach(media_id=media_id, media_key=key, media_expires_at=until):
            return Session.resume_attach(
                plan, media_id=media_id, media_key=key, media_expires_at=until
            )
    return Session(plan)


def _params(plan: Plan, item: Item) -> UploadParams:
    """Everything the item is uploaded with, as the checkpoint keeps it."""
    return UploadParams(
        media_type=plan.media_type,
        media_category=plan.media_category,
        chunk_size=plan.chunk_size,
        strategy=plan.strategy,
        metadata=item.metadata,
        subtitles=item.subtitles,
        post=item.post,
        additional_owners=plan.additional_owners,
        shared=plan.shared,
    )


def _is_gone(error: UploadError) -> bool:
    if not isinstance(error, ApiError) or error.http_status not in (400, 404):
        return False
    if error.api_code in _GONE_CODES:
        return True
    text = error.message.lower()
    return "expired" in text or "was not found" in text


__all__ = ["ItemUpload", "Runtime", "default_category", "identify"]
