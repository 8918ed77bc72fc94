"""Uploading one item: performing what its :class:`~bulkup.core.session.Session` decides.

:class:`ItemUpload` prepares the item (:mod:`bulkup.client.prepare`), asks its
:class:`~bulkup.client.ledger.Ledger` what the checkpoint allows (reuse a result,
continue an upload, start over), and then runs lanes that each loop: ask the session
for its next action, perform it (an HTTP request through the transport, a file check,
a subtitle file's own upload), hand back the answer or the error, apply the notes
(checkpoint, progress, log). Parallel segments are parallel lanes. The files-in-flight
slot is held while the file's bytes are sent and given back in one place: waiting for
processing and attaching are free.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio

from bulkup import logs
from bulkup.client.config import UploadConfig
from bulkup.client.ledger import CheckpointLike, FinishedFiles, Ledger
from bulkup.client.prepare import Prepared, prepare, verify, verify_segments
from bulkup.client.progress import NullObserver, Observer, wait_listener
from bulkup.client.transport import Transport
from bulkup.core.dialects import Dialect
from bulkup.core.items import ErrorInfo, Item, Result, SubtitleSpec
from bulkup.core.retry import RetryPolicy
from bulkup.core.session import Rules, Session, result_of
from bulkup.core.steps import (
    Acked,
    Append,
    Finish,
    Initialized,
    MediaState,
    Note,
    Park,
    Record,
    Refuse,
    Retrying,
    Send,
    Sleep,
    Stage,
    Step,
    Stored,
    UploadSubtitles,
    VerifyFile,
    VerifySegments,
)
from bulkup.errors import (
    ApiError,
    AuthError,
    BulkupError,
    ConnectError,
    ConnectionRefused,
    ConnectTimeout,
    Disconnected,
    NameNotResolved,
    ProtocolError,
    RateCapped,
    ReadTimeout,
    TransportError,
    UploadError,
    UploadTimeout,
    WriteTimeout,
    single_error,
)


@dataclass(slots=True)
class Runtime:
    """What every item of one uploader shares."""

    config: UploadConfig
    dialect: Dialect
    transport: Transport
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.time
    observer: Observer = field(default_factory=NullObserver)

    def rules(self) -> Rules:
        c = self.config
        policy = RetryPolicy(
            max_attempts=c.max_attempts, base=c.backoff_base, cap=c.backoff_cap, max_wait=c.max_wait
        )
        return Rules(
            policy=policy, max_restarts=c.max_restarts, processing_timeout=c.processing_timeout
        )


class ItemUpload:
    """The upload of one item, from file checks to its :class:`Result`."""

    def __init__(
        self,
        rt: Runtime,
        item: Item,
        checkpoint: CheckpointLike | None,
        slot: contextlib.AbstractContextManager[object, None] | None = None,
        finished: FinishedFiles | None = None,
    ) -> None:
        """``slot`` is the files-in-flight slot the item was admitted with; ``finished``
        the run's uploads by file, to reuse one named under another spelling."""
        self.rt = rt
        self.item = item
        self.path = str(item.path)
        self._ledger = Ledger(checkpoint, item, margin=rt.config.resume_margin, finished=finished)
        self._slot = slot if slot is not None else contextlib.nullcontext()
        self._started = rt.clock()
        self._changed = anyio.Event()
        #: A request of this item went out (the server may have seen the item).
        self._sent = False
        #: ``--strategy auto`` chose one-shot for this still image.
        self._chose_one_shot = False
        #: The observer heard that the item started.
        self._shown = False

    async def run(self) -> Result:
        prepared: Prepared | None = None
        session: Session | None = None
        try:
            with self._slot:  # given back when the bytes are sent, or the item ends
                prepared, decided = await self._send(self._one_shot)
                if self._one_shot_capped(decided):  # the day's one-shot cap: go chunked
                    prepared, decided = await self._send(lambda: False)
                if isinstance(decided, Result):
                    return decided
                session = decided
            await self._drive(session, prepared, sending=False)
            error = session.error
        except UploadError as exc:
            error = exc
        result = result_of(
            self.item,
            plan=prepared.plan if prepared else None,
            session=session,
            error=error,
            elapsed=self.rt.clock() - self._started,
            warnings=prepared.warnings if prepared else (),
        )
        refused = self.rt.transport.refused
        if refused is not None and error is refused and not self._sent:
            result = dataclasses.replace(result, status="skipped", error=not_sent(refused))
        self._ledger.finish(result)
        return result

    async def _send(self, one_shot: Callable[[], bool]) -> tuple[Prepared, Session | Result]:
        """Prepare the item and send its bytes: its session (or the result the
        checkpoint already holds)."""
        prepared = await prepare(self.item, self.rt.config, self.rt.dialect.name, one_shot=one_shot)
        decided = self._decide(prepared)
        if isinstance(decided, Session):
            if not self._shown:  # once, though a capped one-shot goes again chunked
                self._shown = True
                self.rt.observer.item_started(self.item.id, prepared.plan.size, decided.acked_bytes)
            await self._drive(decided, prepared, sending=True)
        if self._chose_one_shot and not self._sent:  # its one-shot place was not used
            self.rt.transport.pacer.unpromise()
        return prepared, decided

    def _one_shot(self) -> bool:
        """``--strategy auto``'s choice for a still image (see the pacer's)."""
        self._chose_one_shot = self.rt.transport.pacer.one_shot_or_chunked()
        return self._chose_one_shot

    def _one_shot_capped(self, decided: Session | Result) -> bool:
        """Whether auto sent the image one-shot and met a cap of that endpoint (a spent
        24-hour one-shot limit): chunked has budgets of its own, so it goes that way."""
        if not self._chose_one_shot or not isinstance(decided, Session):
            return False
        error = decided.error
        capped = isinstance(error, RateCapped) and error.endpoint == "upload"
        self._chose_one_shot = False
        return capped

    def _decide(self, prepared: Prepared) -> Session | Result:
        """The line the item finished with (nothing is sent again), or its session."""
        now = self.rt.clock()
        decision = self._ledger.decide(prepared, now)
        if isinstance(decision, Result):
            return decision
        session = Session(
            prepared.plan,
            self.rt.rules(),
            metadata=self.item.metadata,
            subtitles=self.item.subtitles,
            rng=self.rt.rng,
        )
        return session.resume(decision, now)

    # --- performing ----------------------------------------------------------------------
    async def _drive(self, session: Session, prepared: Prepared, *, sending: bool) -> None:
        """Lanes until the bytes are sent (``sending``: one per parallel segment), or
        one lane until the session ends."""
        lanes = min(self.rt.config.segments_per_file, prepared.plan.segments) if sending else 1
        stop = (lambda: not session.sending) if sending else (lambda: session.finished)
        try:
            async with anyio.create_task_group() as tg:
                for _ in range(lanes):
                    tg.start_soon(self._lane, session, prepared, stop)
        except BaseExceptionGroup as group:  # a full disk under the checkpoint, say
            raise single_error(group, BulkupError) from None

    async def _lane(self, session: Session, prepared: Prepared, stop: Callable[[], bool]) -> None:
        """The one loop: ask, perform, answer; until ``stop`` or the session ends."""
        while not stop():
            match session.next_action(self.rt.clock()):
                case Send(step=step):
                    try:
                        answer = await self._perform(step, prepared)
                    except UploadError as exc:
                        notes = session.on_error(step, exc, self.rt.clock())
                    else:
                        notes = session.on_answer(step, answer, self.rt.clock())
                    for note in notes:
                        self._apply(note)
                    self._changed.set()
                    self._changed = anyio.Event()
                case Sleep(until=until):
                    with self.rt.transport.until_stopped():
                        with anyio.move_on_after(until - self.rt.clock()):
                            await self._changed.wait()
                    if self.rt.transport.refused is not None:  # what it waits to send would
                        session.on_stop(self.rt.transport.refused)  # be refused: no wait
                case Park():
                    await self._changed.wait()
                case Finish():
                    return

    async def _perform(
        self, step: Step, prepared: Prepared
    ) -> Initialized | MediaState | Stored | Result | None:
        if isinstance(step, VerifyFile):
            verify(self.path, prepared.identity)
            return None
        if isinstance(step, VerifySegments):
            await anyio.to_thread.run_sync(verify_segments, self.path, step.segments)
            return None
        if isinstance(step, UploadSubtitles):
            return await self._upload_subtitles(step.subtitles)
        http = self.rt.dialect.build(step)
        answer = await self.rt.transport.send(http, self.path, sending=self._sending)
        parsed = self.rt.dialect.parse(step, answer)
        return Stored(answer.sent_sha256) if isinstance(step, Append) else parsed

    def _sending(self) -> None:
        self._sent = True

    async def _upload_subtitles(self, sub: SubtitleSpec) -> Result:
        """A subtitle file, uploaded as media of its own (part of this item)."""
        item = Item(
            id=f"{self.item.id}#subtitles-{sub.language_code}",
            path=sub.path,
            media_category="subtitles",
        )
        quiet = dataclasses.replace(self.rt, observer=NullObserver())
        return await ItemUpload(quiet, item, None).run()

    def _apply(self, note: Note) -> None:
        rt, item_id = self.rt, self.item.id
        match note:
            case Record(changes=changes):
                self._ledger.save(**changes)
            case Acked(index=index, length=length, sha256=sha256):
                rt.observer.bytes_acked(item_id, length)
                self._ledger.ack(index, sha256)
            case Stage(name=name, percent=percent):
                rt.observer.item_state(item_id, name, percent)
            case Retrying(error=error, delay=delay, until=until, endpoint=endpoint):
                if until is not None and endpoint:
                    wait_listener(rt.observer)(endpoint, until)
                rt.transport.counters.retries += 1
                reason = retry_reason(error, endpoint)
                retry_listener(rt.observer)(item_id, reason)
                logs.event(
                    "info",
                    "retry",
                    item=item_id,
                    reason=reason,
                    error=error.message,
                    delay_s=round(delay, 3),
                )
            case Refuse(error=error, unless_answered=unless_answered):
                if not (unless_answered and rt.transport.counters.answered):
                    rt.transport.refuse(error)


#: How a retry's reason names its error (the most specific class that is here wins).
_SHORT: dict[type[UploadError], str] = {
    ConnectionRefused: "connection refused",
    NameNotResolved: "name not resolved",
    ConnectError: "cannot connect",
    ConnectTimeout: "connect timeout",
    ReadTimeout: "read timeout",
    WriteTimeout: "write timeout",
    UploadTimeout: "timeout",
    Disconnected: "connection closed",
    TransportError: "network error",
    ProtocolError: "unreadable answer",
}


def retry_reason(error: UploadError, endpoint: str | None) -> str:
    """A few words for the progress line: ``HTTP 503 on append``, ``read timeout on
    finalize``."""
    if isinstance(error, ApiError):
        what = f"HTTP {error.http_status}"
    else:
        found = (_SHORT.get(cls) for cls in type(error).__mro__)
        what = next((text for text in found if text), error.kind.replace("_", " "))
    return f"{what} on {endpoint}" if endpoint else what


def retry_listener(observer: Observer) -> Callable[[str, str], None]:
    """``observer.retried`` with the reason, or without it for an observer written
    before retries had one (``retried(item_id)``)."""
    retried = observer.retried
    try:
        params = inspect.signature(retried).parameters.values()
    except (TypeError, ValueError):  # no signature to read (a builtin): give the reason
        return retried
    if any(p.kind is p.VAR_POSITIONAL for p in params) or len(list(params)) >= 2:
        return retried
    return lambda item_id, reason: retried(item_id)  # type: ignore[call-arg]


def not_sent(refused: UploadError) -> ErrorInfo:
    """The error of an item skipped, not sent, because the run stopped with ``refused``:
    the same words for every such item, so that the cause is said once."""
    info = refused.info()
    if isinstance(refused, AuthError):
        message = f"not sent: the API refused the credentials ({info.message})"
        return dataclasses.replace(info, message=message)
    return info


__all__ = ["ItemUpload", "Runtime", "not_sent", "retry_listener", "retry_reason"]
