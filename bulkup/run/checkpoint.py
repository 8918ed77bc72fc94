"""The run's memory: per item, enough to resume an interrupted run.

These files sit side by side, all created with mode 0600:

``<path>`` (the snapshot)
    One JSON object, replaced atomically at each compaction::

        {"version": 3, "generation": 7,
         "identity": {"endpoint": "https://upload.twitter.com", "dialect": "v1.1",
                      "account": "oauth1:3f2a..."},
         "items": {"cat.jpg": {"path": "/photos/cat.jpg", "size": 48213,
                               "mtime_ns": 1718000000000000000,
                               "params": {"media_type": "image/jpeg", ...},
                               "media_id": "1800...", "media_key": "3_1800...",
                               "upload_deadline": 1718086400.0, "acked": [[0, 41], [43, 43]],
                               "finalized": false, "processing": null,
                               "media_expires_at": null, "result": null, "attempts": 1}}}

    ``acked`` (acknowledged segment indices) is a list of inclusive ``[start, end]``
    ranges, so a 1000-segment upload costs one pair, not 1000 numbers;
    ``segment_sha256`` maps each acknowledged segment (``"0"``, ``"1"``…) to the SHA-256
    of the bytes sent, which a resume reads and hashes again before trusting them;
    ``ctime_ns`` and ``inode`` complete the file's identity. Times are
    absolute Unix seconds. ``params`` (everything the item is uploaded with: type,
    category, chunk size, metadata, subtitles, post…) and ``result`` (the item's report
    line) are stored whole; :mod:`bulkup.core.records` gives their JSON, and how
    checkpoints of versions 1 and 2 are read.

``<path>.journal``
    JSON Lines of events since that snapshot. The first line is a header
    ``{"v": 3, "gen": 7}`` naming the format version and the snapshot generation the
    events apply to; then
    ``{"p": id, "r": record}`` (put), ``{"u": id, "c": {field: value}}`` (update) and
    ``{"a": id, "i": index, "h": sha256}`` (one acknowledged segment; ``h``, the hash
    of the bytes sent, may be absent: journals of format 2 recorded none).

``<path>.journal.next``
    Only while a compaction writes its snapshot (or after writing it failed): the
    events since the compaction's snapshot point, in the same form, under a header
    naming the generation of that snapshot (8). Once the snapshot is in place, this
    file is renamed to ``<path>.journal``.

``<path>.lock``
    Held with ``flock`` by the one process using the checkpoint; holds its pid. Removed
    by that process while it still holds it, as it closes the checkpoint (see
    :func:`~bulkup.run.checkpoint_io.lock` for why that is safe); so is the journal,
    emptied by the last compaction: a closed checkpoint is the one file ``<path>``.

Why a journal: the uploader records every acknowledged segment, and tens of thousands
of items may be in the checkpoint. Rewriting the snapshot per event would cost
O(items) per event; appending one line costs O(1). After ``compact_every`` events, or
as many events as the last snapshot had items if that is more (so compacting costs
O(1) per event, amortized), the in-memory state is written as a new snapshot and the
journal starts afresh, so the journal stays bounded and loading stays fast.

How a compaction runs: the uploader records events from the event loop, which must
not stand still while 20,000 records are encoded and written (that took 0.4 s). So:

1. Between compactions, on the loop: each record's JSON is kept
   (:class:`~bulkup.run.checkpoint_snapshot.Fragments`). A changed record is encoded
   again once it has not changed for :data:`COLD_AFTER` events, one record per event
   at most (a few µs), and then only its plain fields: params and result are frozen
   values, whose JSON ``put`` and ``update`` write to the journal anyway and keep.
2. At one event, on the loop (the snapshot point; about a millisecond at 20,000
   items): the records changed since are encoded, every record's JSON is captured as
   it is (a list of references), and ``.journal.next`` is created with the next
   generation; later events go there, and ``.journal`` is no longer written.
3. In a worker thread: the snapshot is written to a temporary file, fsynced, renamed
   over the old one and the directory fsynced; then ``.journal.next`` is renamed to
   ``.journal``.

One compaction runs at a time. At open, at close and in :meth:`Checkpoint.compact`
the compaction runs at once on the caller's thread, waiting for the one in the
worker first: the whole state is written as a snapshot of a generation newer than
every journal, then ``.journal`` starts afresh and ``.journal.next`` is removed.

Crash guarantees:

- Each event is one ``os.write`` to a descriptor opened with ``O_APPEND``, made before
  the call returns. A killed process (even SIGKILL) loses nothing already recorded:
  the bytes are in the OS. :meth:`Checkpoint.flush` fsyncs them (and the directory,
  after a journal was created), which also covers a power loss; so does a compaction
  for the events before its snapshot point, once its snapshot is in place.
- A crash in the middle of a write leaves at most a torn last journal line, which is
  ignored on load. Damage anywhere else is reported, never guessed around.
- The snapshot is written to a temporary file, fsynced, renamed over the old one and
  the directory fsynced: a reader sees the old snapshot or the new one, never a mix.
- Loading replays the journals that follow on from the snapshot, in the order of their
  generations: the one of the snapshot's generation, then the one of the next. One of
  an older generation was folded into the snapshot already and is skipped; a gap is
  reported. At every instant of a compaction the files load to every event recorded:
  before the snapshot's rename, the old snapshot, ``.journal`` (whole up to the
  snapshot point: nothing is appended to it afterwards) and ``.journal.next``; after
  it, the new snapshot (which holds ``.journal``'s events; ``.journal`` is now older,
  and skipped) and ``.journal.next``, whose generation is the snapshot's; after the
  journal's rename, the new snapshot and its journal. A compaction at once writes a
  snapshot newer than every journal: a crash before they are emptied or removed
  leaves journals that are all skipped.
- A checkpoint that cannot be read is left untouched: the error names the file, the
  line and the fix; so is one written by a newer bulkup (a format version above
  :data:`CHECKPOINT_VERSION`: the fix is to upgrade bulkup). A bulkup that reads only
  version 2 refuses these checkpoints: it would not know ``.journal.next``. A
  checkpoint written for another endpoint, dialect or account is refused
  (:class:`CheckpointMismatch`).
- Disk full: a failed append is rolled back (the journal is truncated to its last
  whole line) and raises :class:`CheckpointError`; a failed compaction removes its
  temporary file and keeps the previous snapshot and the journals, all loadable.
  When it failed in the worker thread, the next put, update or ack (which still
  records its event) raises its error; it is tried again after as many events as a
  compaction waits for, and :meth:`Checkpoint.close` compacts at once.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from bulkup import privatefiles
from bulkup.core.items import FileIdentity
from bulkup.core.record_codec import (
    check_field,
    check_record,
    compact_json,
    copy,
    encode_field,
    file_key,
    is_int,
    is_sha256,
    journal_line,
    json_object,
    json_text,
)
from bulkup.core.records import (
    CHECKPOINT_VERSION,
    MAX_INDEX,
    CheckpointError,
    CheckpointLocked,
    CheckpointMismatch,
    ItemRecord,
    ParamsDigest,
    RunIdentity,
)
from bulkup.run.checkpoint_io import (
    State,
    journal_path,
    load,
    lock,
    next_journal_path,
    open_private,
    unlock,
    write_all,
    write_atomically,
    write_failed,
)
from bulkup.run.checkpoint_snapshot import (
    Fragments,
    SnapshotJob,
    record_parts,
    record_text,
    snapshot_chunks,
    snapshot_head,
)
from bulkup.run.checkpoint_status import summarize
from bulkup.run.heap import release_free_memory

#: Default number of journal events between two compactions.
DEFAULT_COMPACT_EVERY = 10_000
#: Events after which a changed record is encoded again for the next snapshot, if it
#: did not change meanwhile (one record per event at most, ~4 µs).
COLD_AFTER = 256

__all__ = [
    "CHECKPOINT_VERSION",
    "DEFAULT_COMPACT_EVERY",
    "Checkpoint",
    "CheckpointError",
    "CheckpointLocked",
    "CheckpointMismatch",
    "ItemRecord",
    "ParamsDigest",
    "RunIdentity",
    "summarize",
]

_JOURNAL_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def _line(texts: dict[str, str]) -> bytes:
    """The journal line of an event whose values are JSON already (as journal_line)."""
    return (json_object(texts) + "\n").encode()


def _mismatch(path: Path, stored: RunIdentity, wanted: RunIdentity) -> CheckpointMismatch:
    names = ("endpoint", "dialect", "account")
    differences = tuple(n for n in names if getattr(stored, n) != getattr(wanted, n))
    what = {
        "endpoint": f"endpoint {stored.endpoint} (this run: {wanted.endpoint})",
        "dialect": f"API dialect {stored.dialect} (this run: {wanted.dialect})",
        "account": "other credentials (another account or app)",
    }
    return CheckpointMismatch(
        f"checkpoint {path} was written for {', '.join(what[n] for n in differences)}; "
        "its media ids are useless here: use another --checkpoint file, or delete this one "
        "(and its .journal files) to start afresh",
        differences=differences,
    )


def _load_for(path: Path, identity: RunIdentity) -> State:
    state = load(path) or State(identity=identity, generation=0, items={})
    if state.journal_newer:
        raise CheckpointError(
            f"checkpoint journal {state.journal_newer} is newer than {path} (was the "
            "checkpoint restored from a copy?); the files were left untouched: "
            "restore the matching set, or use another --checkpoint file"
        )
    if state.identity != identity:
        raise _mismatch(path, state.identity, identity)
    return state


class Checkpoint:
    """An open checkpoint, held exclusively by this process. See the module docstring.

    Not thread-safe: one thread (the event loop's) calls it; it runs its own worker.
    """

    def __init__(self, path: Path, state: State, lock_fd: int, compact_every: int) -> None:
        self._path = path
        #: ``generation`` is that of the journal events go to.
        self._state = state
        self._fragments = Fragments(state.items, cold_after=COLD_AFTER)
        self._lock_fd: int | None = lock_fd
        #: Where events go: ``.journal``, or ``.journal.next`` while ``_job`` is pending.
        self._journal_fd = -1
        self._journal_size = 0
        #: ``.journal`` while ``_job`` is pending (flush fsyncs it).
        self._retired_fd = -1
        #: The compaction past its snapshot point, until its journal is promoted.
        self._job: SnapshotJob | None = None
        #: Its error, to raise from the next event.
        self._failure: CheckpointError | None = None
        self._folder_dirty = False
        self._events = 0
        self._compact_every = compact_every
        self._compact_at = max(compact_every, len(state.items))
        self._broken = False
        #: Top-level data changed since the snapshot (the budgets): compact at close.
        self._head_changed = False
        for item_id, record in list(state.items.items()):
            if isinstance(record, ItemRecord):
                self._settle(item_id, record)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        identity: RunIdentity,
        *,
        compact_every: int = DEFAULT_COMPACT_EVERY,
    ) -> Checkpoint:
        """Create or load the checkpoint at ``path`` and take its lock."""
        if compact_every < 1:
            raise ValueError("compact_every must be at least 1")
        path = Path(path)
        lock_fd = lock(path)
        try:
            checkpoint = cls(path, _load_for(path, identity), lock_fd, compact_every)
        except BaseException:
            unlock(lock_fd, path)  # refused: no lock file left behind
            raise
        try:
            checkpoint._start_journal()
        except BaseException:
            checkpoint._release()
            raise
        release_free_memory()  # what loading and the snapshot freed, back to the system
        return checkpoint

    # --- reading ---------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self._path

    def get(self, item_id: str) -> ItemRecord | None:
        """A copy of the item's record; change it through put/update/ack."""
        record = self._state.items.get(item_id)
        if record is None:
            return None
        if isinstance(record, ItemRecord):
            return copy(record)
        return self._decoded(item_id)

    def _decoded(self, item_id: str) -> ItemRecord:
        """A compact record, whole (a new object)."""
        try:
            return self._state.record(item_id)
        except ValueError as exc:  # checked at open: only a bug gets here
            raise CheckpointError(f"checkpoint {self._path}: {exc}") from exc

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._state.items

    def __iter__(self) -> Iterator[ItemRecord]:
        """Copies of all records, in the order they were first put."""
        return (r for r in map(self.get, list(self._state.items)) if r is not None)

    def same_file(self, identity: FileIdentity) -> ItemRecord | None:
        """A succeeded item's record of this file (inode, size, mtime), maybe under
        another id; None when none is known (or the file has no inode). A match of the
        index may be stale (its item since replaced): compare the record's file."""
        if identity.inode is None:
            return None
        key = hash((identity.inode, identity.size, identity.mtime_ns))
        item_id = self._state.by_file.get(key)
        return self.get(item_id) if item_id is not None else None

    def _settle(self, item_id: str, record: ItemRecord) -> None:
        """Keep a finished record compact, in the store (if it has nothing to continue),
        and index a succeeded one by its file."""
        data = compact_json(record) if record.result is not None else None
        if data is not None:
            self._state.items[item_id] = self._state.store.add(json_text(data).encode())
            self._fragments.drop(item_id)
            key = file_key(data)
        elif record.result is not None and record.result.ok and record.inode is not None:
            key = hash((record.inode, record.size, record.mtime_ns))
        else:
            return
        if key is not None:
            self._state.by_file.setdefault(key, item_id)

    def _whole(self, item_id: str) -> ItemRecord:
        """The item's record, made whole again to be changed (if it was compact)."""
        record = self._state.items[item_id]
        if isinstance(record, ItemRecord):
            return record
        record = self._decoded(item_id)
        self._state.items[item_id] = record
        self._fragments.put(item_id, *record_parts(record))
        return record

    def __len__(self) -> int:
        return len(self._state.items)

    # --- events ----------------------------------------------------------------------
    def put(self, record: ItemRecord) -> None:
        """Record a new item, or replace its record (a fresh INIT)."""
        self._check_open()
        stored = check_record(record)  # exactly what replays, checked without a round trip
        parts = record_parts(stored)  # kept for the snapshot
        self._append(_line({"p": json_text(record.id), "r": record_text(*parts)}))
        self._state.items[record.id] = stored
        self._fragments.put(record.id, *parts)
        self._settle(record.id, stored)
        self._after_event()

    def update(self, item_id: str, **changes: Any) -> None:
        """Change fields of an item's record (``acked`` takes any iterable of indices;
        ``params`` and ``result`` their typed values, or their JSON)."""
        self._check_open()
        record = self._whole(item_id)
        # Checked as a replay would check them, before anything is written.
        decoded = {name: check_field(name, value) for name, value in changes.items()}
        encoded = {name: encode_field(name, value) for name, value in decoded.items()}
        if "params" in encoded or "result" in encoded:  # their JSON is kept for the snapshot
            texts = {name: json_text(value) for name, value in encoded.items()}
            self._append(_line({"u": json_text(item_id), "c": json_object(texts)}))
        else:
            texts = {}
            self._append(journal_line({"u": item_id, "c": encoded}))
        for name, value in decoded.items():
            setattr(record, name, value)
        self._fragments.touch(item_id, params=texts.get("params"), result=texts.get("result"))
        self._settle(item_id, record)
        self._after_event()

    def ack(self, item_id: str, index: int, sha256: str | None = None) -> None:
        """Record one acknowledged segment, with the SHA-256 of the bytes sent if known
        (a repeated acknowledgement writes nothing)."""
        self._check_open()
        if not is_int(index) or not 0 <= index < MAX_INDEX:
            raise ValueError(f"invalid segment index {index!r}")
        if sha256 is not None and not is_sha256(sha256):
            raise ValueError(f"invalid SHA-256 {sha256!r:.80}")
        record = self._whole(item_id)
        if index in record.acked:
            return
        event: dict[str, object] = {"a": item_id, "i": index}
        if sha256 is not None:
            event["h"] = sha256
        self._append(journal_line(event))
        record.acked.add(index)
        if sha256 is not None:
            record.segment_sha256[index] = sha256
        self._fragments.touch(item_id)
        if record.result is not None:
            self._settle(item_id, record)
        self._after_event()

    def _append(self, line: bytes) -> None:
        if self._broken:
            raise CheckpointError(
                f"checkpoint journal {self._journal_name()} could not be repaired after "
                "a write error; stop this run and start it again to resume"
            )
        data = line
        if self._journal_size == 0:
            data = journal_line({"v": CHECKPOINT_VERSION, "gen": self._state.generation}) + line
        try:
            write_all(self._journal_fd, data)
        except OSError as exc:
            self._rollback()
            raise CheckpointError(write_failed(self._journal_name(), exc)) from exc
        self._journal_size += len(data)

    def _rollback(self) -> None:
        """Cut a partly written line, so later events do not follow garbage."""
        try:
            os.ftruncate(self._journal_fd, self._journal_size)
        except OSError:
            self._broken = True

    def _journal_name(self) -> Path:
        pending = self._job is not None
        return next_journal_path(self._path) if pending else journal_path(self._path)

    # --- compaction in the background ---------------------------------------------
    def _after_event(self) -> None:
        self._events += 1
        self._fragments.event()
        self._reap()
        job = self._job
        if job is None and self._events >= self._compact_at:
            self._switch()
        elif job is not None and not job.running and self._events >= self._compact_at:
            self._events = 0
            job.start()  # the failed one again: its snapshot point is still the latest
        failure, self._failure = self._failure, None
        if failure is not None:
            raise failure

    def _switch(self) -> None:
        """The snapshot point: capture the records, send later events to .journal.next,
        and write the snapshot in a worker thread."""
        self._events = 0  # after a failure, try again only after compact_every more events
        # As many events until the next compaction as this one writes items: compacting
        # then costs O(1) per event, not O(items) (a run of many files stays linear).
        self._compact_at = max(self._compact_every, len(self._state.items))
        # The event just recorded wrote .journal's header if no other did: the
        # generation .journal.next follows on from is on disk.
        generation = self._state.generation + 1
        fragments = self._fragments.capture()
        blocks = self._state.store.sealed()
        following = next_journal_path(self._path)
        try:
            fd = open_private(following, _JOURNAL_FLAGS)  # any file there is older
        except OSError as exc:
            raise CheckpointError(write_failed(following, exc)) from exc
        self._retired_fd, self._journal_fd = self._journal_fd, fd
        self._journal_size = 0
        self._folder_dirty = True
        self._state.generation = generation
        head = snapshot_head(self._state.identity, generation, self._state.extra)
        self._job = SnapshotJob(
            path=self._path, generation=generation, head=head, fragments=fragments, blocks=blocks
        )
        self._job.start()

    def _reap(self) -> None:
        """Take in the worker's compaction if it ended: done, or failed (to raise)."""
        job = self._job
        if job is None or job.running:
            return
        job.wait()
        if job.promoted:
            self._job = None
            self._close(self._retired_fd)
            self._retired_fd = -1
            release_free_memory()  # the snapshot's buffers
        elif job.error is not None:
            error, job.error = job.error, None
            if not isinstance(error, CheckpointError):
                raise error  # not a file's error: a bug
            self._failure = error
            self._events = 0  # try again after as many events as a compaction waits for

    def _wait(self) -> None:
        """Until the compaction in the worker (if any) ended."""
        if self._job is not None:
            self._job.wait()
            self._reap()

    # --- durability ------------------------------------------------------------------
    def flush(self) -> None:
        """Make every recorded event durable: wait for the compaction in the worker (if
        any), fsync the journals (and the directory, after a journal was created)."""
        self._check_open()
        self._wait()
        journals = ((self._retired_fd, journal_path(self._path)), (self._journal_fd, None))
        for fd, name in journals:
            if fd < 0:
                continue
            try:
                os.fsync(fd)
            except OSError as exc:
                raise CheckpointError(write_failed(name or self._journal_name(), exc)) from exc
        if self._folder_dirty:
            privatefiles.sync_folder(self._path.parent)
            self._folder_dirty = False

    def _start_journal(self) -> None:
        """A fresh journal, without a torn tail to append after: after a snapshot of
        what was read, unless the snapshot on disk already is that (a run that ended
        cleanly left only its snapshot, in this version): then the journal alone."""
        if self._state.pristine and not journal_path(self._path).exists():
            self._state.pristine = False
            self._fresh_journal()
        else:
            self.compact()

    def compact(self) -> None:
        """Write the snapshot atomically, then empty the journal: at once, on this
        thread, after the compaction in the worker (if any) ended."""
        self._check_open()
        self._wait()
        self._failure = None  # this compaction writes what a failed one would have, or fails
        self._events = 0  # after a failure, try again only after compact_every more events
        state = self._state
        self._compact_at = max(self._compact_every, len(state.items))
        generation = state.generation + 1  # newer than every journal
        head = snapshot_head(state.identity, generation, state.extra)
        self._head_changed = False
        pieces = self._fragments.capture()
        write_atomically(self._path, snapshot_chunks(head, pieces, state.store.sealed()))
        state.generation = generation
        self._fresh_journal()

    def _fresh_journal(self) -> None:
        """After a snapshot of every event: an empty journal, and no .journal.next."""
        journal = journal_path(self._path)
        try:
            fd = open_private(journal, _JOURNAL_FLAGS)
        except OSError as exc:
            self._broken = True  # events appended to the old journal would be skipped
            raise CheckpointError(write_failed(journal, exc)) from exc
        with contextlib.suppress(OSError):
            os.unlink(next_journal_path(self._path))  # older than the snapshot if left
        self._close(self._retired_fd)
        self._close(self._journal_fd)
        self._job = None
        self._retired_fd, self._journal_fd = -1, fd
        self._journal_size = 0
        self._folder_dirty = True

    @property
    def budgets(self) -> dict[str, Any]:
        """The rate-limit windows an earlier run last saw (see :meth:`keep_budgets`)."""
        kept = self._state.extra.get("budgets")
        return dict(kept) if isinstance(kept, dict) else {}

    def keep_budgets(self, budgets: Mapping[str, Any]) -> None:
        """Keep the rate-limit windows this run last saw (``Pacer.snapshot()``), written
        at close: a rerun (after exit 75, say) starts from them instead of the
        published limits, so it does not open with 429s."""
        if dict(budgets) != self._state.extra.get("budgets"):
            self._state.extra["budgets"] = dict(budgets)
            self._head_changed = True

    def close(self) -> None:
        """Compact (if anything was recorded since the last compaction), remove the
        emptied journal, release the lock and remove its file: a closed checkpoint is
        the one file ``<path>``.

        Idempotent. Even when compacting fails (disk full), the lock is released and
        the journals keep every event for the next run.
        """
        if self._lock_fd is None:
            return
        try:
            self._wait()
            pending = self._job is not None or self._journal_size > 0 or self._head_changed
            if not self._broken and pending:
                self.flush()
                self.compact()
            if not self._broken and self._job is None and self._journal_size == 0:
                self._drop_journal()
        finally:
            self._release()

    def _drop_journal(self) -> None:
        """The snapshot holds every event: the empty journal goes (open starts one)."""
        self._close(self._journal_fd)
        self._journal_fd = -1
        with contextlib.suppress(OSError):
            os.unlink(journal_path(self._path))

    def _abandon(self) -> None:
        """Release the files without compacting, as a crash would (for tests). A
        compaction in the worker ends first: it never writes without the lock held."""
        self._release()

    def _release(self) -> None:
        if self._job is not None:
            self._job.wait()  # the worker never writes without the lock held
        self._close(self._retired_fd)
        self._close(self._journal_fd)
        self._retired_fd = self._journal_fd = -1
        if self._lock_fd is not None:
            unlock(self._lock_fd, self._path)
            self._lock_fd = None

    @staticmethod
    def _close(fd: int) -> None:
        if fd >= 0:
            os.close(fd)

    def _check_open(self) -> None:
        if self._lock_fd is None:
            raise ValueError(f"checkpoint {self._path} is closed")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
