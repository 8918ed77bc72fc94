"""Admission: the planner's queue between the sources and the uploads, the files
slots, and where one ``upload_many`` run's results go.

:class:`Feed` holds the entries read ahead (:class:`~bulkup.core.order.Queue`) for the
admissions to take, best first; a :class:`Slot` is one of the ``files_in_flight``;
:class:`Run` emits each result (report stream, observer, log, post groups, checkpoint).
"""

from __future__ import annotations

import os

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from bulkup import logs
from bulkup.client.driver import not_sent
from bulkup.client.ledger import FinishedFiles, record_unsent
from bulkup.client.progress import Observer
from bulkup.client.transport import Transport
from bulkup.core.items import ErrorInfo, Item, Result, SourceProblem, Status
from bulkup.core.order import Queue
from bulkup.run.checkpoint import Checkpoint
from bulkup.run.posts import PostPlan


class Feed:
    """The planner's queue between the task reading the sources and the admissions."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        self.done = False
        self._changed = anyio.Event()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def put(self, item: Item, deadline: float | None) -> None:
        while self.queue.full:
            await self._changed.wait()
        self.queue.push(item, deadline=deadline)
        self._notify()

    def close(self) -> None:
        self.done = True
        self._notify()

    async def wait_for_item(self) -> bool:
        """True once an item waits; False when none will."""
        while not self.queue and not self.done:
            await self._changed.wait()
        return bool(self.queue)

    def take(self) -> Item:
        item = self.queue.pop()
        self._notify()
        return item


class Slot:
    """A files-in-flight slot: taken at admission, given back when the item's upload
    leaves it (``with slot:``), once."""

    def __init__(self, limiter: anyio.CapacityLimiter) -> None:
        self._limiter = limiter
        self._held = False

    async def acquire(self) -> None:
        await self._limiter.acquire_on_behalf_of(self)
        self._held = True

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._held:
            self._held = False
            self._limiter.release_on_behalf_of(self)


def problem_result(problem: SourceProblem) -> Result:
    message = problem.message
    # A problem whose id is its place names it there, not again in the message.
    if problem.source not in ("", problem.id) and not message.startswith(problem.source):
        message = f"{problem.source}: {message}"
    return Result(
        id=problem.id,
        path=problem.path,
        status=problem.status,
        error=ErrorInfo(kind=problem.kind, message=message),
        account=problem.account,
    )


def unsent(item: Item, status: Status, error: ErrorInfo) -> Result:
    return Result(
        id=item.id,
        path=os.fspath(item.path),
        post=item.post,
        status=status,
        error=error,
        account=item.account,
    )


class Run:
    """One ``upload_many`` run: where results go, and what stops items being sent."""

    def __init__(
        self,
        send: MemoryObjectSendStream[Result],
        posts: PostPlan | None,
        observer: Observer,
        transport: Transport,
    ) -> None:
        self.send = send
        self.observer = observer
        self.posts = posts
        self.blocked = dict(posts.blocked) if posts is not None else {}
        self.transport = transport
        #: The checkpoint's succeeded uploads by file, once it is open.
        self.finished: FinishedFiles | None = None
        #: The run's checkpoint, once it is open: it records the items never sent too.
        self.checkpoint: Checkpoint | None = None
        #: The ids met so far, so an id given again is not uploaded twice; None when
        #: the caller vouched that ids are unique (``unique_ids``: bulkup's sources
        #: report a repeated id as a ``duplicate_id`` problem), saving a set of every id.
        self.seen: set[str] | None = set()

    def first_time(self, item_id: str) -> bool:
        """Whether ``item_id`` is met for the first time in this run."""
        if self.seen is None:
            return True
        if item_id in self.seen:
            return False
        self.seen.add(item_id)
        return True

    def refusal(self, item: Item) -> Result | None:
        """A result for ``item`` without sending it, if it must not be sent."""
        if item.id in self.blocked:
            error = ErrorInfo(kind="post_group", message=self.blocked[item.id])
            return unsent(item, "failed", error)
        return self.stopped(item)

    def stopped(self, item: Item) -> Result | None:
        """A result for ``item`` if the run stopped sending (the transport's one switch):
        it is skipped with the stop's error (credentials or a certificate refused, a
        server that cannot be reached or stopped answering), and a later run sends it."""
        refused = self.transport.refused
        if refused is None:
            return None
        return unsent(item, "skipped", not_sent(refused))

    async def emit_unsent(self, result: Result) -> None:
        """Emit the result of an item that was not sent, recorded in the checkpoint."""
        record_unsent(self.checkpoint, result)
        await self.emit(result)

    async def emit(self, result: Result) -> None:
        if self.posts is not None:
            self.posts.record(result)
        self.observer.item_finished(result)
        logs.event(
            "info",  # --log-level info lists every item
            "item_finished",
            item=result.id,
            status=result.status,
            media_id=result.media_id_string,
            error=result.error.message if result.error else None,
        )
        if result.status == "failed" and result.error is not None:
            self._failed(result, result.error)
        await self.send.send(result)

    def _failed(self, result: Result, error: ErrorInfo) -> None:
        """A failed item warns, once; one that failed because the run stopped (what
        the stop's one message names) is only logged at info, not once per item."""
        stop = self.transport.refused
        by_stop = stop is not None and error.message == stop.message
        extra: dict[str, object] = {"run_stopped": True} if by_stop else {}
        if error.http_status is not None:
            extra["http_status"] = error.http_status
        logs.event(
            "info" if by_stop else "warning",
            "item_failed",
            item=result.id,
            path=result.path,
            kind=error.kind,
            message=error.message,
            **extra,
        )
