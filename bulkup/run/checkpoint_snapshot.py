"""The snapshot of a compaction: each record's JSON kept between compactions, and the
blocking part of writing it, which may run in a worker thread.

A snapshot is the run's identity and every record. Encoding 20,000 records takes about
0.3 s of CPU, too long for the event loop to stand still, so :class:`Fragments` keeps
each record's encoded JSON and encodes again only what changed: an acknowledged
segment re-encodes the record's few plain fields, not its parameters, and only once
the record stopped changing. :class:`SnapshotJob` then writes the snapshot out from
those fragments in large pieces, never joined into one buffer: the time the file takes
(writing, fsync, rename) is spent off the loop, and the worker thread takes the GIL
back only a few dozen times. See :mod:`bulkup.run.checkpoint` for when each part runs
and why a crash at any point loses nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bulkup.core.record_codec import json_text, record_fields
from bulkup.core.records import CHECKPOINT_VERSION, ItemRecord, RunIdentity
from bulkup.run.checkpoint_io import promote_journal, write_atomically
from bulkup.run.checkpoint_store import BlockReader

#: Items joined per write (about 1 MB): each write is one time the worker takes the GIL
#: back from the event loop's thread, and each join is short.
_BATCH = 1024


def record_parts(record: ItemRecord) -> tuple[str, str, str]:
    """The JSON of the record's ``params``, of its ``result``, and of the rest of it
    (``"path":…}``, the fields an upload changes: :func:`record_text` puts them together)."""
    result, params = record.result, record.params
    return (
        json_text(params.as_json()) if params is not None else "null",
        json_text(result.as_json()) if result is not None else "null",
        json_text(record_fields(record))[1:],
    )


def record_text(params: str, result: str, rest: str) -> str:
    """The record's JSON from the pieces of :func:`record_parts`."""
    return f'{{"params":{params},"result":{result},{rest}'


#: A record in a captured snapshot: its whole fragment, or (id, handle) of a finished
#: record in the :class:`~bulkup.run.checkpoint_store.FinishedStore`.
Piece = bytes | tuple[str, int]


class Fragments:
    """Every whole record's part of the snapshot; changed ones marked. Finished records
    kept compact (an int in ``items``: a handle in the store) have their bytes there.

    A record's fragment is ``"id":`` and its JSON (:func:`record_text`), with where its
    result and its rest begin. Params and result are frozen values, set whole by ``put``
    and ``update``, which encode them for the journal anyway; so only the rest is
    encoded again when the record changes: not at once (an upload changes its record at
    every acknowledged segment), but once it has not changed for ``cold_after`` events,
    one record per event at most. A snapshot then finds only the records changed in its
    last ``cold_after`` events to encode.

    The snapshot lists the items in the order of ``items`` (the order they were first
    put).
    """

    def __init__(self, items: dict[str, ItemRecord | int], *, cold_after: int) -> None:
        self._items = items
        self._cold_after = cold_after
        self._fragments: dict[str, bytes] = {}
        #: Per fragment, the offsets of ``"result":`` and of the rest (plain ints, not
        #: tuples: nothing here for the garbage collector to track).
        self._at_result: dict[str, int] = {}
        self._at_rest: dict[str, int] = {}
        #: Changed since encoded: the event count at the last change, oldest first.
        self._dirty: OrderedDict[str, int] = OrderedDict()
        self._events = 0
        for item_id, record in items.items():
            if isinstance(record, ItemRecord):
                self.put(item_id, *record_parts(record))

    def put(self, item_id: str, params: str, result: str, rest: str) -> None:
        """A record written whole, with the pieces of JSON it was read back from."""
        self._dirty.pop(item_id, None)
        self._set(item_id, f'"params":{params},'.encode(), f'"result":{result},'.encode(), rest)

    def drop(self, item_id: str) -> None:
        """The record is kept compact now: its bytes are in the store."""
        self._dirty.pop(item_id, None)
        self._fragments.pop(item_id, None)
        self._at_result.pop(item_id, None)
        self._at_rest.pop(item_id, None)

    def _set(self, item_id: str, params: bytes, result: bytes, rest: str) -> None:
        head = _item_head(item_id) + params
        self._fragments[item_id] = head + result + rest.encode()
        self._at_result[item_id] = len(head)
        self._at_rest[item_id] = len(head) + len(result)

    def touch(self, item_id: str, *, params: str | None = None, result: str | None = None) -> None:
        """A record changed (to these params or result, given as JSON): encode its rest again
        before the next snapshot."""
        if params is not None or result is not None:
            old = self._fragments[item_id]
            at_params = len(_item_head(item_id))
            at_result, at_rest = self._at_result[item_id], self._at_rest[item_id]
            self._set(
                item_id,
                f'"params":{params},'.encode() if params is not None else old[at_params:at_result],
                f'"result":{result},'.encode() if result is not None else old[at_result:at_rest],
                "",  # encoded again below, or before the next snapshot
            )
        self._dirty[item_id] = self._events
        self._dirty.move_to_end(item_id)

    def event(self) -> None:
        """One event was recorded: encode again the record changed longest ago, if it has
        not changed for ``cold_after`` events (the ones still changing are left for later)."""
        self._events += 1
        dirty = self._dirty
        if dirty and dirty[next(iter(dirty))] <= self._events - self._cold_after:
            self._clean(dirty.popitem(last=False)[0])

    @property
    def dirty(self) -> int:
        return len(self._dirty)

    def _clean(self, item_id: str) -> None:
        record = self._items[item_id]
        assert isinstance(record, ItemRecord)  # a compact one has no fragment
        rest = json_text(record_fields(record))[1:].encode()
        at_rest = self._at_rest[item_id]
        self._fragments[item_id] = self._fragments[item_id][:at_rest] + rest

    def capture(self) -> list[Piece]:
        """Every record's piece as it is now (encoding the changed ones first)."""
        while self._dirty:
            self._clean(self._dirty.popitem()[0])
        fragments = self._fragments
        return [
            (item_id, record) if isinstance(record, int) else fragments[item_id]
            for item_id, record in self._items.items()
        ]


def _item_head(item_id: str) -> bytes:
    return f"{json_text(item_id)}:{{".encode()


def snapshot_head(
    identity: RunIdentity, generation: int, extra: Mapping[str, Any] | None = None
) -> bytes:
    """The snapshot's first line: every top-level key but the items, which follow one a
    line. ``extra`` holds top-level keys this bulkup does not know (kept as read)."""
    fields = {"version": CHECKPOINT_VERSION, "generation": generation}
    head = json_text({**(extra or {}), **fields, "identity": asdict(identity)})
    return (head[:-1] + ',"items":{').encode()


def snapshot_chunks(head: bytes, pieces: list[Piece], blocks: list[bytes]) -> Iterator[bytes]:
    """The snapshot of :func:`snapshot_head` and the records' pieces (compact ones read
    from ``blocks``), one item a line, about 1 MB at a time (each join is short: it
    holds the GIL)."""
    reader = BlockReader(blocks)

    def text(piece: Piece) -> bytes:
        if isinstance(piece, bytes):
            return piece
        item_id, value = piece
        return json_text(item_id).encode() + b":" + reader.read(value)

    for start in range(0, len(pieces), _BATCH):
        data = b",\n".join(map(text, pieces[start : start + _BATCH]))
        yield head + b"\n" + data if start == 0 else b",\n" + data
    if not pieces:
        yield head
    yield b"\n}}"


@dataclass(slots=True, kw_only=True)
class SnapshotJob:
    """The blocking part of one compaction: write the snapshot captured at its point, then
    make ``.journal.next`` (the events since that point) the journal.

    :meth:`run` may run in another thread; it touches nothing but these fields and the
    files, and the thread that started it reads them only after the thread ended. A
    failed job can run again: it resumes at the step that failed.
    """

    path: Path
    generation: int
    head: bytes
    #: The records' pieces (see :meth:`Fragments.capture`).
    fragments: list[Piece]
    #: The store's sealed blocks, which compact pieces are read from.
    blocks: list[bytes]
    #: The snapshot is in place (renamed over the old one, directory fsynced).
    written: bool = False
    #: ``.journal.next`` was renamed to ``.journal``: the job is done.
    promoted: bool = False
    error: Exception | None = None
    thread: threading.Thread | None = field(default=None, repr=False)

    def run(self) -> None:
        self.error = None
        try:
            if not self.written:
                write_atomically(self.path, self.chunks())
                self.written = True
            promote_journal(self.path)
            self.promoted = True
        except Exception as exc:  # handed to the checkpoint's thread, which raises it
            self.error = exc

    def chunks(self) -> Iterator[bytes]:
        return snapshot_chunks(self.head, self.fragments, self.blocks)

    def start(self) -> None:
        """Run in a worker thread (not a daemon: a process that exits lets it finish);
        here and now if no thread can be started."""
        thread = threading.Thread(target=self.run, name="bulkup-checkpoint")
        try:
            thread.start()
        except RuntimeError:  # "can't start new thread": late is better than never
            self.run()
        else:
            self.thread = thread

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def wait(self) -> None:
        """Until the worker thread (if any) ended."""
        if self.thread is not None:
            self.thread.join()
            self.thread = None
