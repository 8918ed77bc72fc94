"""The checkpoint of a worker's uploader: the held items' records, kept in memory for
the uploader to read, and every change written through to Redis, fenced by the claim's
generation (:class:`~bulkup.fleet.queue.JobQueue`).

The uploader writes its checkpoint synchronously; here each write becomes an operation
in one ordered pipe that a single task sends (:meth:`ItemStore.run`), so an item's
writes reach Redis in the order they were made. While the server does not answer, the
pipe waits and sends them when it does (:class:`~bulkup.fleet.connection.Patience`):
nothing is lost. A write refused by the fence (the lease was lost) calls ``on_lost``:
the worker stops that item.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from bulkup.core.items import FileIdentity, Result
from bulkup.core.record_codec import check_field, copy
from bulkup.core.records import ItemRecord
from bulkup.fleet.connection import Patience
from bulkup.fleet.queue import Claim, JobQueue

__all__ = ["ItemStore"]


@dataclass(slots=True)
class _Op:
    claim: Claim
    call: Callable[[], Awaitable[bool]]
    done: anyio.Event | None = None
    answer: list[bool] = field(default_factory=list)


class ItemStore:
    """Records of the items a worker holds (keyed by :attr:`Claim.key`)."""

    def __init__(self, queue: JobQueue, patience: Patience, on_lost: Callable[[Claim], None]):
        self._queue = queue
        self._patience = patience
        self._on_lost = on_lost
        self._records: dict[str, ItemRecord] = {}
        self._claims: dict[str, Claim] = {}
        self._send, self._receive = anyio.create_memory_object_stream[_Op](math.inf)

    # --- held items ----------------------------------------------------------------------
    def hold(self, claim: Claim) -> None:
        self._claims[claim.key] = claim
        if claim.record is not None:
            self._records[claim.key] = copy(claim.record)

    def drop(self, key: str) -> None:
        self._claims.pop(key, None)
        self._records.pop(key, None)

    # --- what the uploader reads (the checkpoint's interface) ----------------------------
    def get(self, item_id: str) -> ItemRecord | None:
        record = self._records.get(item_id)
        return copy(record) if record is not None else None

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._records

    def __iter__(self) -> Iterator[ItemRecord]:
        """Nothing to resume ahead of the stream: a claimed item comes with its record."""
        return iter(())

    def same_file(self, identity: FileIdentity) -> ItemRecord | None:
        return None

    @property
    def budgets(self) -> dict[str, Any]:
        return {}

    def keep_budgets(self, budgets: Mapping[str, Any]) -> None:
        """The windows live in the shared budget, not here."""

    def close(self) -> None:
        """The pipe ends with the worker (:meth:`stop`)."""

    # --- what the uploader writes --------------------------------------------------------
    def put(self, record: ItemRecord) -> None:
        if record.id not in self._claims:
            return  # an item no longer held: its late write changes nothing
        self._records[record.id] = copy(record)
        self._write(record.id, fresh=True)  # a new record: the old session's segments go

    def update(self, item_id: str, **changes: Any) -> None:
        record = self._records.get(item_id)
        if record is None or item_id not in self._claims:
            return
        for name, value in changes.items():
            setattr(record, name, check_field(name, value))
        if "result" not in changes:  # the result goes with finish, once
            self._write(item_id)

    def ack(self, item_id: str, index: int, sha256: str | None = None) -> None:
        record, claim = self._records.get(item_id), self._claims.get(item_id)
        if record is None or claim is None or index in record.acked:
            return
        record.acked.add(index)
        if sha256 is not None:
            record.segment_sha256[index] = sha256
        length = _segment_length(record, index)
        self._push(_Op(claim, lambda: self._queue.ack(claim, index, sha256, length)))

    def _write(self, item_id: str, *, fresh: bool = False) -> None:
        """The record as another worker may resume it: never with a result, which only
        :meth:`finish` gives (a worker that stops hands its item back unfinished)."""
        claim, record = self._claims[item_id], copy(self._records[item_id])
        record.result = None
        self._push(_Op(claim, lambda: self._queue.save(claim, record, fresh=fresh)))

    def _push(self, op: _Op) -> None:
        self._send.send_nowait(op)

    # --- the pipe ------------------------------------------------------------------------
    async def finish(self, claim: Claim, result: Result) -> bool:
        """The item's result, after its writes; False when it was not this claim's."""
        op = _Op(claim, lambda: self._queue.finish(claim, result), anyio.Event())
        return await self._wait(op)

    async def release(self, claim: Claim) -> bool:
        op = _Op(claim, lambda: self._queue.release(claim), anyio.Event())
        return await self._wait(op)

    async def _wait(self, op: _Op) -> bool:
        self._push(op)
        assert op.done is not None
        await op.done.wait()
        return bool(op.answer and op.answer[0])

    async def run(self) -> None:
        """Send every write in order until :meth:`stop`; a refused one loses its item."""
        async with self._receive:
            async for op in self._receive:
                ok = await self._patience.call(op.call)
                op.answer.append(ok)
                if op.done is not None:
                    op.done.set()
                elif not ok and op.claim.key in self._claims:
                    self._on_lost(op.claim)

    async def drain(self) -> None:
        """Send the writes still waiting, at once (a stopping worker; the pipe's task
        is gone). The first that the server does not take ends it."""
        while True:
            try:
                op = self._receive.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                return
            try:
                await op.call()
            except Exception:
                return

    def shut(self) -> None:
        """No more writes (after :meth:`drain`)."""
        self._send.close()
        self._receive.close()


def _segment_length(record: ItemRecord, index: int) -> int:
    params = record.params
    chunk = getattr(params, "chunk_size", 0) or 0
    return max(0, min(chunk, record.size - index * chunk)) if chunk else 0
