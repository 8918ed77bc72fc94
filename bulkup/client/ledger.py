"""One item's record in the checkpoint: what the checkpoint allows, and every write of it.

:class:`Ledger` asks the resume rules (:mod:`bulkup.core.resume`) what an item's record
allows: its finished line again (nothing is sent), an upload to continue, or a start
over; it finds the same file uploaded under another id (:class:`FinishedFiles`), and it
writes the record: whole at its first save (INIT's answer: before it, the checkpoint
could only say "start over"), then field by field, each acknowledged segment, the line
the item finished with. An item that ends before its upload is planned gets its line
recorded too (:func:`record_unsent`), so that the checkpoint holds every item the run
reported. Without a checkpoint every write is a no-op.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

from bulkup import logs
from bulkup.client.prepare import Prepared
from bulkup.core import resume
from bulkup.core.items import FileIdentity, Item, Result
from bulkup.core.records import identity_of, outcome_record
from bulkup.run.checkpoint import ItemRecord


@runtime_checkable
class CheckpointLike(Protocol):
    """What an upload run uses of a checkpoint: :class:`~bulkup.run.checkpoint.Checkpoint`,
    or another store of item records (a worker's, on Redis: ``bulkup.fleet.store``)."""

    def get(self, item_id: str) -> ItemRecord | None: ...
    def __contains__(self, item_id: object) -> bool: ...
    def __iter__(self) -> Iterator[ItemRecord]: ...
    def same_file(self, identity: FileIdentity) -> ItemRecord | None: ...
    def put(self, record: ItemRecord) -> None: ...
    def update(self, item_id: str, **changes: Any) -> None: ...
    def ack(self, item_id: str, index: int, sha256: str | None = None) -> None: ...
    @property
    def budgets(self) -> dict[str, Any]: ...
    def keep_budgets(self, budgets: Mapping[str, Any]) -> None: ...
    def close(self) -> None: ...


class FinishedFiles:
    """A checkpoint's succeeded uploads by file (size, mtime, inode), so that one file
    named under another spelling (``imgs/a.png``, ``/abs/imgs/a.png``, ``./a.png``) is
    found uploaded already. The checkpoint keeps the index (one number per item), so
    that nothing here grows with the run."""

    def __init__(self, checkpoint: CheckpointLike) -> None:
        self._checkpoint = checkpoint

    def find(self, identity: FileIdentity) -> ItemRecord | None:
        record = self._checkpoint.same_file(identity)
        if record is None or record.result is None or not record.result.ok:
            return None  # the index's item was replaced since
        return record if identity_of(record).same_file(identity) else None

    def add(self, identity: FileIdentity, item_id: str) -> None:
        """An item succeeded: the checkpoint indexed it as it recorded its line."""


class Ledger:
    """The checkpoint as one item sees it."""

    def __init__(
        self,
        checkpoint: CheckpointLike | None,
        item: Item,
        *,
        margin: float,
        finished: FinishedFiles | None = None,
    ) -> None:
        self._checkpoint = checkpoint
        self._item = item
        self._path = str(item.path)
        self._margin = margin
        self._finished = finished
        #: A new item (or one started over): its record is written whole at its first save.
        self._unrecorded = True
        self._prepared: Prepared | None = None

    def decide(self, prepared: Prepared, now: float) -> resume.Decision | Result:
        """The line the item finished with (its own, or the same file's under another
        id), or what its upload does: continue, or start over."""
        self._prepared = prepared
        record = self._checkpoint.get(self._item.id) if self._checkpoint else None
        decision = self._rules(record, self._path, prepared, now)
        if isinstance(decision, resume.Reuse):
            return dataclasses.replace(decision.result, path=self._path, resumed=True)
        if record is None:
            twin = self._twin(prepared, now)
            if twin is not None:
                return twin
        self._unrecorded = isinstance(decision, resume.StartOver)
        if record is not None and record.partial_params and not self._unrecorded:
            # A version 1 record kept no subtitles or post: the source's entry completes it.
            self.save(params=prepared.params, partial_params=False)
        return decision

    def _rules(
        self, record: ItemRecord | None, path: str, prepared: Prepared, now: float
    ) -> resume.Decision:
        identity, params, margin = prepared.identity, prepared.params, self._margin
        return resume.decide(
            record, path=path, identity=identity, params=params, now=now, margin=margin
        )

    def _twin(self, prepared: Prepared, now: float) -> Result | None:
        """The same file with the same parameters, uploaded under another id in this
        checkpoint: its line, under this id and with a warning; nothing is sent."""
        twin = self._finished.find(prepared.identity) if self._finished else None
        if twin is None or self._checkpoint is None:
            return None
        decision = self._rules(twin, twin.path, prepared, now)
        if not isinstance(decision, resume.Reuse):
            return None
        warning = (
            f"the same file was uploaded as {twin.id!r} (path {twin.path}) in this checkpoint: "
            "its media id is reported and nothing was sent again"
        )
        found, item_id = decision.result, self._item.id
        result = dataclasses.replace(
            found, id=item_id, path=self._path, warnings=(*found.warnings, warning)
        )
        copied = dataclasses.replace(twin, id=item_id, path=self._path, result=result)
        self._checkpoint.put(dataclasses.replace(copied, acked=set(twin.acked)))
        logs.event("warning", "same_file_reused", item=item_id, uploaded_as=twin.id)
        return dataclasses.replace(result, resumed=True)

    def save(self, **changes: Any) -> None:
        """Record ``changes`` (fields of :class:`ItemRecord`)."""
        prepared = self._prepared
        if self._checkpoint is None or prepared is None:
            return
        if not self._unrecorded:
            self._checkpoint.update(self._item.id, **changes)
            return
        self._unrecorded = False
        identity = prepared.identity
        self._checkpoint.put(
            ItemRecord(
                id=self._item.id,
                path=self._path,
                size=identity.size,
                mtime_ns=identity.mtime_ns,
                ctime_ns=identity.ctime_ns,
                inode=identity.inode,
                params=prepared.params,
                **changes,
            )
        )

    def ack(self, index: int, sha256: str | None = None) -> None:
        if self._checkpoint is not None:
            self._checkpoint.ack(self._item.id, index, sha256)

    def finish(self, result: Result) -> None:
        """The line the item ended with, whenever it ended: so the checkpoint counts
        every item the run reported (one left at a rate cap still resumes first)."""
        prepared = self._prepared
        if prepared is None:  # it ended before its upload was planned
            record_unsent(self._checkpoint, result)
            return
        self.save(result=result, attempts=result.attempts)
        if self._finished is not None and result.ok:
            self._finished.add(prepared.identity, self._item.id)


def record_unsent(checkpoint: CheckpointLike | None, result: Result) -> None:
    """The line of an item that ended before its upload was planned (a source entry
    naming no usable file, a failed preflight, an item a stopped run did not send).

    An earlier run's record of the item keeps its upload (a rerun may still continue
    it) and takes the line; else the item gets a record of its line alone.
    """
    if checkpoint is None:
        return
    if result.id in checkpoint:
        checkpoint.update(result.id, result=result, attempts=result.attempts)
    else:
        checkpoint.put(outcome_record(result))


__all__ = ["CheckpointLike", "FinishedFiles", "Ledger", "record_unsent"]
