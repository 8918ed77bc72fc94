"""Uploading one item: performing what its :class:`~bulkup.core.session.Session` decides.

:class:`ItemUpload` prepares the item (:mod:`bulkup.client.prepare`), asks the resume
rules what the checkpoint allows (reuse a result, continue an upload, start over), and
then runs lanes that each loop: ask the session for its next action, perform it (an
HTTP request through the transport, a file check, a subtitle file's own upload), hand
back the answer or the error, apply the notes (checkpoint, progress, log). Parallel
segments are parallel lanes. The files-in-flight slot is held while the file's bytes
are sent and given back in one place: waiting for processing and attaching are free.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from bulkup import logs
from bulkup.client.config import UploadConfig
from bulkup.client.prepare import Prepared, prepare, verify
from bulkup.client.progress import NullObserver, Observer, wait_listener
from bulkup.client.transport import Transport
from bulkup.core import resume
from bulkup.core.dialects import Dialect
from bulkup.core.items import Item, Result, SubtitleSpec
from bulkup.core.retry import RetryPolicy
from bulkup.core.session import Rules, Session, result_of
from bulkup.core.steps import (
    Acked,
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
    UploadSubtitles,
    VerifyFile,
)
from bulkup.errors import BulkupError, UploadError, single_error
from bulkup.run.checkpoint import Checkpoint, ItemRecord


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
        checkpoint: Checkpoint | None,
        slot: contextlib.AbstractContextManager[object, None] | None = None,
    ) -> None:
        """``slot`` is the files-in-flight slot the item was admitted with."""
        self.rt = rt
        self.item = item
        self.path = str(item.path)
        self.checkpoint = checkpoint
        self._slot = slot if slot is not None else contextlib.nullcontext()
        self._started = rt.clock()
        self._changed = anyio.Event()
        #: A new item (or one started over): its record is written whole at its first save.
        self._unrecorded = True

    async def run(self) -> Result:
        prepared: Prepared | None = None
        session: Session | None = None
        try:
            with self._slot:  # given back when the bytes are sent, or the item ends
                prepared = await prepare(self.item, self.rt.config, self.rt.dialect.name)
                decided = self._decide(prepared)
                if isinstance(decided, Result):
                    return decided
                session = decided
                self.rt.observer.item_started(self.item.id, prepared.plan.size, session.acked_bytes)
                await self._drive(session, prepared, sending=True)
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
        if (
            prepared
            and self.checkpoint
            and self.item.id in self.checkpoint
            and result.status != "skipped"
        ):
            self._save(prepared, result=result, attempts=result.attempts)
        return result

    # --- the checkpoint's decision -----------------------------------------------------
    def _decide(self, prepared: Prepared) -> Session | Result:
        """The line the item finished with (nothing is sent again), or its session."""
        identity, now = prepared.identity, self.rt.clock()
        record = self.checkpoint.get(self.item.id) if self.checkpoint else None
        decision = resume.decide(
            record,
            size=identity.size,
            mtime_ns=identity.mtime_ns,
            params=prepared.params,
            now=now,
            margin=self.rt.config.resume_margin,
        )
        if isinstance(decision, resume.Reuse):
            return dataclasses.replace(decision.result, path=self.path, resumed=True)
        self._unrecorded = isinstance(decision, resume.StartOver)
        if record is not None and record.partial_params and not self._unrecorded:
            # A version 1 record kept no subtitles or post: the source's entry completes it.
            self._save(prepared, params=prepared.params, partial_params=False)
        session = Session(
            prepared.plan,
            self.rt.rules(),
            metadata=self.item.metadata,
            subtitles=self.item.subtitles,
            rng=self.rt.rng,
        )
        return session.resume(decision, now)

    def _save(self, prepared: Prepared, **changes: Any) -> None:
        """Record ``changes``; a new item's record is written whole with its first save
        (INIT's answer): before it, the checkpoint could only say "start over"."""
        if self.checkpoint is None:
            return
        if not self._unrecorded:
            self.checkpoint.update(self.item.id, **changes)
            return
        self._unrecorded = False
        identity = prepared.identity
        self.checkpoint.put(
            ItemRecord(
                id=self.item.id,
                path=self.path,
                size=identity.size,
                mtime_ns=identity.mtime_ns,
                params=prepared.params,
                **changes,
            )
        )

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
                        self._apply(note, prepared)
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
    ) -> Initialized | MediaState | Result | None:
        if isinstance(step, VerifyFile):
            verify(self.path, prepared.identity)
            return None
        if isinstance(step, UploadSubtitles):
            return await self._upload_subtitles(step.subtitles)
        http = self.rt.dialect.build(step)
        return self.rt.dialect.parse(step, await self.rt.transport.send(http, self.path))

    async def _upload_subtitles(self, sub: SubtitleSpec) -> Result:
        """A subtitle file, uploaded as media of its own (part of this item)."""
        item = Item(
            id=f"{self.item.id}#subtitles-{sub.language_code}",
            path=sub.path,
            media_category="subtitles",
        )
        quiet = dataclasses.replace(self.rt, observer=NullObserver())
        return await ItemUpload(quiet, item, None).run()

    def _apply(self, note: Note, prepared: Prepared) -> None:
        rt, item_id = self.rt, self.item.id
        match note:
            case Record(changes=changes):
                self._save(prepared, **changes)
            case Acked(index=index, length=length):
                rt.observer.bytes_acked(item_id, length)
                if self.checkpoint is not None:
                    self.checkpoint.ack(item_id, index)
            case Stage(name=name, percent=percent):
                rt.observer.item_state(item_id, name, percent)
            case Retrying(error=error, delay=delay, until=until, endpoint=endpoint):
                if until is not None and endpoint:
                    wait_listener(rt.observer)(endpoint, until)
                rt.transport.counters.retries += 1
                rt.observer.retried(item_id)
                logs.event("debug", "retry", item=item_id, error=error.message, delay_s=delay)
            case Refuse(error=error, unless_answered=unless_answered):
                if not (unless_answered and rt.transport.counters.answered):
                    rt.transport.refuse(error)


__all__ = ["ItemUpload", "Runtime"]
