"""``bulkup worker``: take items from the jobs' queues, upload them, give each its one
result.

One :class:`~bulkup.client.uploader.Uploader` per account (the worker's own
credentials for items that name none) is fed an async stream of claimed items, with
an :class:`~bulkup.fleet.store.ItemStore` as its checkpoint: each item's record lives
in Redis, so another worker resumes it when this one dies. Every ``claim_after / 3``
the heartbeat renews the held items' leases; a lost one stops that item. On a stop
(Ctrl-C, SIGTERM) the held items are handed back at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from bulkup import logs
from bulkup.auth.credentials import Auth
from bulkup.client.config import UploadConfig
from bulkup.client.progress import Observers
from bulkup.core.items import ErrorInfo, Item, Result
from bulkup.errors import BulkupError, UploadError, single_error
from bulkup.fleet.connection import Patience
from bulkup.fleet.queue import Claim, JobQueue
from bulkup.fleet.registry import ItemsSeen, Registration
from bulkup.fleet.store import ItemStore

__all__ = ["FILE_PROBLEMS", "Worker", "WorkerSettings"]

T = TypeVar("T")

#: Failures that come from the file on the worker's host: the message names the host.
FILE_PROBLEMS = frozenset(
    {"missing_file", "unreadable", "not_a_file", "empty_file", "file_changed"}
)
#: Seconds a stopping worker spends handing its items back.
HAND_BACK_SECS = 5.0


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    #: Jobs to work on; empty: every job not finished.
    jobs: tuple[str, ...] = ()
    #: Seconds a held item's heartbeat may lapse before another worker takes it.
    claim_after: float = 30.0
    #: Exit once every item of the jobs finished (none pending or running).
    exit_when_idle: bool = False
    #: Seconds between looks for work while there is none.
    poll: float = 0.5


@dataclass(slots=True)
class Tally:
    done: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    lost: int = 0


class Worker:
    def __init__(
        self,
        queue: JobQueue,
        config: UploadConfig,
        auth_for: Callable[[str | None], Auth],
        settings: WorkerSettings,
        patience: Patience,
        registration: Registration,
        observer: object | None = None,
    ) -> None:
        """``observer`` hears every item's steps too (this worker's metrics, say)."""
        self.queue, self.config, self.settings = queue, config, settings
        self._auth_for, self._patience, self._reg = auth_for, patience, registration
        self.store = ItemStore(queue, patience, self._lose)
        self.seen = ItemsSeen()
        self._observer = Observers(self.seen, observer) if observer is not None else self.seen
        self.tally = Tally()
        self._held: dict[str, Claim] = {}
        self._lanes: dict[str | None, MemoryObjectSendStream[Claim]] = {}
        self._uploaders: dict[str | None, object] = {}
        self._changed = anyio.Event()
        self._host = socket.gethostname()
        self._scope: anyio.CancelScope | None = None
        #: What stopped this worker's uploads (credentials refused, a server not
        #: reached): its items were handed back for other workers, not reported.
        self.stopped: UploadError | None = None

    @property
    def id(self) -> str:
        return self._reg.id

    async def run(self) -> Tally:
        """Work until the jobs are done (``exit_when_idle``) or cancelled."""
        try:
            async with anyio.create_task_group() as tg:
                self._scope = tg.cancel_scope
                tg.start_soon(self.store.run)
                tg.start_soon(self._heartbeat)
                async with anyio.create_task_group() as lanes:
                    await self._claim_loop(lanes)
                    for send in self._lanes.values():
                        send.close()
                tg.cancel_scope.cancel()
        except ExceptionGroup as group:  # the shared budget's server not answering, say
            raise single_error(group, BulkupError) from None
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(HAND_BACK_SECS):
                await self._hand_back()
            self.store.shut()
            for send in self._lanes.values():
                send.close()
        return self.tally

    # --- taking items --------------------------------------------------------------------
    async def _claim_loop(self, lanes: TaskGroup) -> None:
        while True:
            took = await self._claim_some(lanes)
            if took:
                continue
            if self.settings.exit_when_idle and not self._held and await self._all_done():
                return
            with anyio.move_on_after(self.settings.poll):
                await self._changed.wait()

    async def _claim_some(self, lanes: TaskGroup) -> int:
        room = self.config.files_in_flight - len(self._held)
        took = 0
        if room <= 0:
            return 0
        for job in await self._jobs():
            after = self.settings.claim_after
            ask = partial(self.queue.claim, job, self.id, room - took, after, after)
            claims = await self._patience.call(partial(_whole, ask))
            for claim in claims:
                await self._take(claim, lanes)
            took += len(claims)
            if took >= room:
                break
        return took

    async def _jobs(self) -> list[str]:
        if self.settings.jobs:
            return list(self.settings.jobs)
        return await self._patience.call(self.queue.jobs)

    async def _all_done(self) -> bool:
        jobs = self.settings.jobs or tuple(await self._jobs())
        for job in jobs:
            if await self._patience.call(partial(self.queue.remaining, job)):
                return False
        return True

    async def _take(self, claim: Claim, lanes: TaskGroup) -> None:
        self._held[claim.key] = claim
        self.store.hold(claim)
        self.seen.hold(claim.key, claim.job, claim.id, str(claim.item.path))
        resumed = claim.record is not None
        logs.event(
            "info", "item_taken", job=claim.job, item=claim.id, gen=claim.gen, resumed=resumed
        )
        account = _account(claim.item)
        if account not in self._lanes:
            send, receive = anyio.create_memory_object_stream[Claim](math.inf)
            self._lanes[account] = send
            lanes.start_soon(self._lane, account, receive)
        with contextlib.suppress(anyio.BrokenResourceError):  # its lane stopped: handed back
            self._lanes[account].send_nowait(claim)

    # --- uploading -----------------------------------------------------------------------
    async def _lane(self, account: str | None, receive: MemoryObjectReceiveStream[Claim]) -> None:
        """The uploads of one account's items, by one uploader."""
        from bulkup.client.uploader import Uploader

        try:
            auth = self._auth_for(account)
        except BulkupError as exc:
            async with receive:
                async for claim in receive:
                    error = ErrorInfo(kind="unknown_account", message=str(exc))
                    await self._finished(claim, _failed(claim, error))
            return
        async with Uploader(self.config, auth=auth, observer=self._observer) as up:
            self._uploaders[account] = up
            items = self._items(receive)
            async for result in up.upload_many(items, checkpoint=self.store, unique_ids=True):
                held = self._held.get(result.id)
                if held is None:
                    continue
                if not result.ok and up.stopped is not None:  # not the item's fault
                    await self._stop(held, up.stopped)
                    return
                await self._finished(held, result)

    async def _items(self, receive: MemoryObjectReceiveStream[Claim]) -> AsyncIterator[Item]:
        """The lane's claimed items, each under its claim's key (unique: ``unique_ids``)."""
        async with receive:
            async for claim in receive:
                if claim.key in self._held:
                    yield dataclasses.replace(claim.item, id=claim.key)

    async def _finished(self, claim: Claim, result: Result) -> None:
        result = self._as_reported(claim, result)
        ok = await self.store.finish(claim, result)
        self._forget(claim)
        if ok:
            self.tally.done += 1
            self.tally.by_status[result.status] = self.tally.by_status.get(result.status, 0) + 1
        else:
            self.tally.lost += 1
            logs.event("warning", "result_refused", job=claim.job, item=claim.id, gen=claim.gen)

    def _as_reported(self, claim: Claim, result: Result) -> Result:
        """The line under the item's own id; a file problem names this host and the path."""
        error = result.error
        if error is not None and error.kind in FILE_PROBLEMS:
            path = str(claim.item.path)
            where = f"on host {self._host}" + ("" if path in error.message else f", {path}")
            error = dataclasses.replace(error, message=f"{where}: {error.message}")
        return dataclasses.replace(result, id=claim.id, error=error)

    async def _stop(self, claim: Claim, stopped: UploadError) -> None:
        """This worker cannot upload (its credentials refused, the API not reached): the
        item goes back to the queue, not skipped for good, and the worker stops."""
        self.stopped = stopped
        await self.store.release(claim)
        self._forget(claim)
        logs.event("error", "worker_stopped", error=stopped.message)
        if self._scope is not None:
            self._scope.cancel()

    def _forget(self, claim: Claim) -> None:
        self._held.pop(claim.key, None)
        self.store.drop(claim.key)
        self.seen.drop(claim.key)
        self._changed.set()
        self._changed = anyio.Event()

    def _lose(self, claim: Claim) -> None:
        """The lease on ``claim`` was lost (another worker holds the item now): stop it."""
        if claim.key not in self._held:
            return
        self._forget(claim)
        self.tally.lost += 1
        up = self._uploaders.get(_account(claim.item))
        stop = getattr(up, "stop_item", None)
        if stop is not None:
            stop(claim.key)
        logs.event("warning", "lease_lost", job=claim.job, item=claim.id, gen=claim.gen)

    # --- heartbeat, hand back --------------------------------------------------------------
    async def _heartbeat(self) -> None:
        every = self.settings.claim_after / 3
        while True:
            await self._beat()
            await anyio.sleep(every)

    async def _beat(self) -> None:
        by_job: dict[str, list[Claim]] = {}
        for claim in list(self._held.values()):
            by_job.setdefault(claim.job, []).append(claim)
        lease = self.settings.claim_after
        for job, held in by_job.items():
            lost = await self._patience.call(partial(self.queue.renew, job, self.id, lease, held))
            for claim in held:
                if claim.id in lost:
                    self._lose(claim)
        accounts = [a or "" for a in self._lanes]
        await self._patience.call(
            lambda: self._reg.beat(lease, self.seen, self.tally.done, accounts)
        )

    async def _hand_back(self) -> None:
        """Send the writes made, then hand every held item back: another worker takes
        it at once, without waiting for the lease."""
        await self.store.drain()
        for claim in list(self._held.values()):
            try:
                await self.queue.release(claim)
            except Exception as exc:  # the server is away: the lease lapses instead
                logs.event("warning", "hand_back_failed", item=claim.id, error=str(exc))
                break
        try:
            await self._reg.leave()
        except Exception as exc:  # its entry expires with its heartbeat
            logs.event("info", "worker_leave_failed", error=str(exc))


async def _whole(call: Callable[[], Awaitable[T]]) -> T:
    """``call`` to its end though the worker stops meanwhile: a claim the server made
    is known here, so it is handed back (one attempt, bounded by the socket timeout)."""
    with anyio.CancelScope(shield=True):
        answer = await call()
    return answer


def _account(item: Item) -> str | None:
    account = item.account or item.extra.get("account")
    return str(account) if account else None


def _failed(claim: Claim, error: ErrorInfo) -> Result:
    item = claim.item
    return Result(id=claim.key, path=str(item.path), post=item.post, status="failed", error=error)
