"""The run's memory: per item, enough to resume an interrupted run.

Three files sit side by side, all created with mode 0600:

``<path>`` (the snapshot)
    One JSON object, replaced atomically at each compaction::

        {"version": 1, "generation": 7,
         "identity": {"endpoint": "https://upload.twitter.com", "dialect": "v1.1",
                      "account": "oauth1:3f2a..."},
         "items": {"cat.jpg": {"path": "/photos/cat.jpg", "size": 48213,
                               "mtime_ns": 1718000000000000000, "params": {...},
                               "media_id": "1800...", "media_key": "3_1800...",
                               "upload_deadline": 1718086400.0, "acked": [[0, 41], [43, 43]],
                               "finalized": false, "processing": null,
                               "media_expires_at": null, "result": null, "attempts": 1}}}

    ``acked`` (acknowledged segment indices) is a list of inclusive ``[start, end]``
    ranges, so a 1000-segment upload costs one pair, not 1000 numbers. Times are
    absolute Unix seconds.

``<path>.journal``
    JSON Lines of events since that snapshot. The first line is a header
    ``{"v": 1, "gen": 7}`` naming the snapshot generation the events apply to; then
    ``{"p": id, "r": record}`` (put), ``{"u": id, "c": {field: value}}`` (update) and
    ``{"a": id, "i": index}`` (one acknowledged segment).

``<path>.lock``
    Held with ``flock`` by the one process using the checkpoint; holds its pid.

Why a journal: the uploader records every acknowledged segment, and tens of thousands
of items may be in the checkpoint. Rewriting the snapshot per event would cost
O(items) per event; appending one line costs O(1). After ``compact_every`` events, or
as many events as the last snapshot had items if that is more (so compacting costs
O(1) per event, amortized), at open and at close, the in-memory state is written as a
new snapshot and the journal is emptied, so the journal stays bounded and loading
stays fast.

Crash guarantees:

- Each event is one ``os.write`` to a descriptor opened with ``O_APPEND``, made before
  the call returns. A killed process (even SIGKILL) loses nothing already recorded:
  the bytes are in the OS. :meth:`Checkpoint.flush` (and compaction) ``fsync`` them,
  which also covers a power loss.
- A crash in the middle of a write leaves at most a torn last journal line, which is
  ignored on load. Damage anywhere else is reported, never guessed around.
- The snapshot is written to a temporary file, fsynced, renamed over the old one and
  the directory fsynced: a reader sees the old snapshot or the new one, never a mix.
  The journal is emptied only after the rename; a crash in between leaves a journal
  whose header names the previous generation, so it is recognised as already folded
  in and skipped.
- A checkpoint that cannot be read is left untouched: the error names the file, the
  line and the fix. A checkpoint written for another endpoint, dialect or account is
  refused (:class:`CheckpointMismatch`).
- Disk full: a failed append is rolled back (the journal is truncated to its last
  whole line) and raises :class:`CheckpointError`; a failed compaction removes its
  temporary file and keeps the previous snapshot and the journal, both loadable.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from bulkup.errors import BulkupError
from bulkup.items import utc_from_timestamp

CHECKPOINT_VERSION = 1
#: Default number of journal events between two compactions.
DEFAULT_COMPACT_EVERY = 10_000
#: Sanity bound on a segment index read from a file (the API allows 0..999).
_MAX_INDEX = 1_000_000
_DIALECTS = ("v1.1", "v2")
_MODE = 0o600


class CheckpointError(BulkupError):
    """A checkpoint cannot be used; the message names the file and the fix."""


class CheckpointLocked(CheckpointError):
    """Another process is using the checkpoint."""

    def __init__(self, message: str, *, pid: int | None) -> None:
        super().__init__(message)
        self.pid = pid


class CheckpointMismatch(CheckpointError):
    """The checkpoint was written for another endpoint, dialect or account."""

    def __init__(self, message: str, *, differences: tuple[str, ...]) -> None:
        super().__init__(message)
        self.differences = differences


@dataclass(frozen=True, slots=True, kw_only=True)
class RunIdentity:
    """What a checkpoint was written for; resuming with anything else is refused."""

    #: Base URL of the API.
    endpoint: str
    #: ``"v1.1"`` or ``"v2"``.
    dialect: str
    #: Opaque fingerprint of the credentials (never a secret).
    account: str

    def __post_init__(self) -> None:
        if self.dialect not in _DIALECTS:
            raise ValueError(f"unknown API dialect {self.dialect!r}; use v1.1 or v2")
        if not self.endpoint or not self.account:
            raise ValueError("a run identity needs an endpoint and an account fingerprint")


@dataclass(slots=True, kw_only=True)
class ItemRecord:
    """What the checkpoint knows about one item."""

    id: str
    path: str
    size: int
    mtime_ns: int
    #: media_type, media_category, chunk_size, strategy, additional_owners, shared, alt_text…
    params: dict[str, Any]
    media_id: str | None = None
    media_key: str | None = None
    #: Absolute Unix time the upload session expires (INIT time + expires_after_secs).
    upload_deadline: float | None = None
    #: Acknowledged segment indices.
    acked: set[int] = field(default_factory=set)
    finalized: bool = False
    #: Last ``processing_info.state``.
    processing: str | None = None
    #: Absolute Unix time the media id stops being usable.
    media_expires_at: float | None = None
    #: ``Result.as_json()`` once the item finished.
    result: dict[str, Any] | None = None
    attempts: int = 0


# --- encoding ----------------------------------------------------------------------


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


def _is_ranges(v: Any) -> bool:
    return isinstance(v, list) and all(
        isinstance(r, list) and len(r) == 2 and all(map(_is_int, r)) and 0 <= r[0] <= r[1]
        for r in v
    )


_CHECKS: dict[str, Callable[[Any], bool]] = {
    "path": lambda v: isinstance(v, str),
    "size": _is_int,
    "mtime_ns": _is_int,
    "params": lambda v: isinstance(v, dict),
    "media_id": _optional(lambda v: isinstance(v, str)),
    "media_key": _optional(lambda v: isinstance(v, str)),
    "upload_deadline": _optional(_is_num),
    "acked": _is_ranges,
    "finalized": lambda v: isinstance(v, bool),
    "processing": _optional(lambda v: isinstance(v, str)),
    "media_expires_at": _optional(_is_num),
    "result": _optional(lambda v: isinstance(v, dict)),
    "attempts": _is_int,
}
_REQUIRED = ("path", "size", "mtime_ns", "params")


def _to_ranges(indices: Iterable[int]) -> list[list[int]]:
    ranges: list[list[int]] = []
    for i in sorted(set(indices)):
        if ranges and i == ranges[-1][1] + 1:
            ranges[-1][1] = i
        else:
            ranges.append([i, i])
    return ranges


def _decode_field(name: str, value: Any) -> Any:
    """A field's value from its JSON form; ValueError when it is not valid."""
    if name not in _CHECKS or not _CHECKS[name](value):
        raise ValueError(f"invalid field {name!r}: {value!r:.80}")
    if name == "acked":
        if any(end >= _MAX_INDEX for _, end in value):
            raise ValueError(f"segment index out of range in {value!r:.80}")
        return {i for start, end in value for i in range(start, end + 1)}
    if name in ("upload_deadline", "media_expires_at") and value is not None:
        return float(value)
    return value


#: The fields a record's JSON holds (all but ``id``, its key), looked up once.
_RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ItemRecord) if f.name != "id")


def _record_to_json(record: ItemRecord) -> dict[str, Any]:
    data = {name: getattr(record, name) for name in _RECORD_FIELDS}
    data["acked"] = _to_ranges(record.acked)
    return data


def _record_from_json(item_id: Any, data: Any) -> ItemRecord:
    if not isinstance(item_id, str) or not isinstance(data, dict):
        raise ValueError(f"invalid item {item_id!r:.80}")
    missing = [name for name in _REQUIRED if name not in data]
    if missing:
        raise ValueError(f"item {item_id!r} lacks {', '.join(missing)}")
    values = {name: _decode_field(name, value) for name, value in data.items()}
    return ItemRecord(id=item_id, **values)


def _copy(record: ItemRecord) -> ItemRecord:
    result = dict(record.result) if record.result is not None else None
    return replace(record, params=dict(record.params), acked=set(record.acked), result=result)


#: One encoder for every journal line (``json.dumps`` with options builds one per call).
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _copied(value: Any) -> Any:
    """A dict (a result) copied, so that the caller's changes to it stay out of the record."""
    return {k: _copied(v) for k, v in value.items()} if isinstance(value, dict) else value


def _line(event: dict[str, Any]) -> bytes:
    return (_ENCODE(event) + "\n").encode()


# --- loading -----------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class _State:
    identity: RunIdentity
    generation: int
    items: dict[str, ItemRecord]
    #: The journal was written after a newer snapshot than the one read.
    journal_newer: bool = False


def _read_snapshot(path: Path) -> _State | None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror}") from exc
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        _check_version(data.get("version"), path)
        identity = RunIdentity(**data["identity"])
        generation = data["generation"]
        if not _is_int(generation) or not isinstance(data["items"], dict):
            raise ValueError("invalid generation or items")
        items = {k: _record_from_json(k, v) for k, v in data["items"].items()}
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(
            f"checkpoint {path} is damaged ({exc}); it was left untouched: "
            "move or delete it (and its .journal) to start afresh, or use another --checkpoint file"
        ) from exc
    return _State(identity=identity, generation=generation, items=items)


def _check_version(version: Any, path: Path) -> None:
    if version != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {version!r}; this bulkup reads version "
            f"{CHECKPOINT_VERSION}: finish the run with the bulkup that wrote it, "
            "or use another --checkpoint file"
        )


def _journal_lines(path: Path) -> list[Any]:
    """The journal's events as JSON values, without a torn last line."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint journal {path}: {exc.strerror}") from exc
    lines = raw.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    events: list[Any] = []
    for number, line in enumerate(lines, 1):
        try:
            events.append(json.loads(line))
        except ValueError:
            if number == len(lines):  # a crash in the middle of the last write
                break
            raise _damaged_journal(path, number, "not JSON") from None
    return events


def _damaged_journal(path: Path, line: int, why: str) -> CheckpointError:
    return CheckpointError(
        f"checkpoint journal {path} is damaged at line {line} ({why}); it was left untouched. "
        "To resume from the last compaction, move the journal away (items it recorded will be "
        "uploaded again), or use another --checkpoint file"
    )


def _replay(path: Path, state: _State) -> None:
    events = _journal_lines(path)
    if not events:
        return
    header = events[0]
    if not isinstance(header, dict) or not _is_int(header.get("gen")):
        raise _damaged_journal(path, 1, "no header")
    _check_version(header.get("v"), path)
    if header["gen"] != state.generation:
        # Older: already folded into the snapshot (a crash before truncation). Newer: the
        # snapshot was swapped while we read, or replaced by an older copy.
        state.journal_newer = header["gen"] > state.generation
        return
    for number, event in enumerate(events[1:], 2):
        try:
            _apply(state.items, event)
        except (ValueError, KeyError, TypeError) as exc:
            raise _damaged_journal(path, number, str(exc)) from exc


def _apply(items: dict[str, ItemRecord], event: Any) -> None:
    if not isinstance(event, dict):
        raise ValueError("not an event")
    if "a" in event:
        index = event["i"]
        if not _is_int(index) or not 0 <= index < _MAX_INDEX:
            raise ValueError(f"invalid segment index {index!r:.40}")
        items[event["a"]].acked.add(index)
    elif "p" in event:
        items[event["p"]] = _record_from_json(event["p"], event["r"])
    elif "u" in event and isinstance(event["c"], dict):
        record = items[event["u"]]
        for name, value in event["c"].items():
            setattr(record, name, _decode_field(name, value))
    else:
        raise ValueError("unknown event")


def _load(path: Path) -> _State | None:
    state = _read_snapshot(path)
    if state is not None:
        _replay(_journal_path(path), state)
    return state


def _journal_path(path: Path) -> Path:
    return path.with_name(path.name + ".journal")


# --- writing -----------------------------------------------------------------------


def _open_private(path: Path, flags: int) -> int:
    fd = os.open(path, flags, _MODE)
    try:
        os.fchmod(fd, _MODE)
    except OSError:
        os.close(fd)
        raise
    return fd


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


def _write_failed(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return f"disk full: cannot write checkpoint {path}; free some space and run again"
    return f"cannot write checkpoint {path}: {exc.strerror or exc}"


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temp file, fsync, rename, fsync the directory."""
    temp = path.with_name(path.name + ".tmp")
    try:
        fd = _open_private(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise CheckpointError(
            _write_failed(path, exc) + " (the previous snapshot is kept)"
        ) from exc
    with contextlib.suppress(OSError):  # not every file system can fsync a directory
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _lock(path: Path) -> int:
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = _open_private(lock_path, os.O_RDWR | os.O_CREAT)
    except OSError as exc:
        raise CheckpointError(
            f"cannot create {lock_path}: {exc.strerror}; is the checkpoint's directory writable?"
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _read_pid(fd)
        os.close(fd)
        holder = f"process {pid}" if pid is not None else "another process"
        raise CheckpointLocked(
            f"checkpoint {path} is in use by {holder}; wait for that run to end "
            "or use another --checkpoint file",
            pid=pid,
        ) from None
    except OSError as exc:
        os.close(fd)
        raise CheckpointError(f"cannot lock {lock_path}: {exc.strerror}") from exc
    with contextlib.suppress(OSError):  # the pid is only for messages
        os.ftruncate(fd, 0)
        _write_all(fd, f"{os.getpid()}\n".encode())
    return fd


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip())
    except (OSError, ValueError):
        return None


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
        "(and its .journal) to start afresh",
        differences=differences,
    )


def _load_for(path: Path, identity: RunIdentity) -> _State:
    state = _load(path) or _State(identity=identity, generation=0, items={})
    if state.journal_newer:
        raise CheckpointError(
            f"checkpoint journal {_journal_path(path)} is newer than {path} (was the "
            "checkpoint restored from a copy?); both were left untouched: "
            "restore the matching pair, or use another --checkpoint file"
        )
    if state.identity != identity:
        raise _mismatch(path, state.identity, identity)
    return state


class Checkpoint:
    """An open checkpoint, held exclusively by this process. See the module docstring."""

    def __init__(self, path: Path, state: _State, lock_fd: int, compact_every: int) -> None:
        self._path = path
        self._state = state
        self._lock_fd: int | None = lock_fd
        self._journal_fd = -1
        self._journal_size = 0
        self._events = 0
        self._compact_every = compact_every
        self._compact_at = max(compact_every, len(state.items))
        self._broken = False

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
        lock_fd = _lock(path)
        try:
            state = _load_for(path, identity)
        except BaseException:
            os.close(lock_fd)
            raise
        checkpoint = cls(path, state, lock_fd, compact_every)
        try:
            checkpoint._open_journal()
            checkpoint.compact()  # a fresh journal, without a torn tail to append after
        except BaseException:
            checkpoint._release()
            raise
        return checkpoint

    def _open_journal(self) -> None:
        journal = _journal_path(self._path)
        try:
            self._journal_fd = _open_private(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        except OSError as exc:
            raise CheckpointError(_write_failed(journal, exc)) from exc

    # --- reading ---------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self._path

    def get(self, item_id: str) -> ItemRecord | None:
        """A copy of the item's record; change it through put/update/ack."""
        record = self._state.items.get(item_id)
        return _copy(record) if record is not None else None

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._state.items

    def __iter__(self) -> Iterator[ItemRecord]:
        """Copies of all records, in the order they were first put."""
        return (_copy(r) for r in list(self._state.items.values()))

    def __len__(self) -> int:
        return len(self._state.items)

    # --- events ----------------------------------------------------------------------
    def put(self, record: ItemRecord) -> None:
        """Record a new item, or replace its record (a fresh INIT)."""
        self._check_open()
        line = _line({"p": record.id, "r": _record_to_json(record)})
        stored = _record_from_json(record.id, json.loads(line)["r"])  # exactly what replays
        self._append(line)
        self._state.items[record.id] = stored
        self._after_event()

    def update(self, item_id: str, **changes: Any) -> None:
        """Change fields of an item's record (``acked`` takes any iterable of indices)."""
        self._check_open()
        record = self._state.items[item_id]
        if "acked" in changes:
            changes["acked"] = _to_ranges(changes["acked"])
        # Checked as a replay would check them; JSON-ready already (a result is
        # Result.as_json()), so stored as given, copied where a caller could change them.
        decoded = {k: _decode_field(k, _copied(v)) for k, v in changes.items()}
        line = _line({"u": item_id, "c": changes})
        self._append(line)
        for name, value in decoded.items():
            setattr(record, name, value)
        self._after_event()

    def ack(self, item_id: str, index: int) -> None:
        """Record one acknowledged segment (a repeated acknowledgement writes nothing)."""
        self._check_open()
        if not _is_int(index) or not 0 <= index < _MAX_INDEX:
            raise ValueError(f"invalid segment index {index!r}")
        record = self._state.items[item_id]
        if index in record.acked:
            return
        self._append(_line({"a": item_id, "i": index}))
        record.acked.add(index)
        self._after_event()

    def _append(self, line: bytes) -> None:
        if self._broken:
            raise CheckpointError(
                f"checkpoint journal {_journal_path(self._path)} could not be repaired after "
                "a write error; stop this run and start it again to resume"
            )
        data = line
        if self._journal_size == 0:
            data = _line({"v": CHECKPOINT_VERSION, "gen": self._state.generation}) + line
        try:
            _write_all(self._journal_fd, data)
        except OSError as exc:
            self._rollback()
            raise CheckpointError(_write_failed(_journal_path(self._path), exc)) from exc
        self._journal_size += len(data)

    def _rollback(self) -> None:
        """Cut a partly written line, so later events do not follow garbage."""
        try:
            os.ftruncate(self._journal_fd, self._journal_size)
        except OSError:
            self._broken = True

    def _after_event(self) -> None:
        self._events += 1
        if self._events >= self._compact_at:
            self.compact()

    # --- durability ------------------------------------------------------------------
    def flush(self) -> None:
        """Make every recorded event durable (fsync the journal)."""
        self._check_open()
        try:
            os.fsync(self._journal_fd)
        except OSError as exc:
            raise CheckpointError(_write_failed(_journal_path(self._path), exc)) from exc

    def compact(self) -> None:
        """Write the snapshot atomically, then empty the journal."""
        self._check_open()
        self._events = 0  # after a failure, try again only after compact_every more events
        state = self._state
        # As many events until the next compaction as this one writes items: compacting
        # then costs O(1) per event, not O(items) (a run of many files stays linear).
        self._compact_at = max(self._compact_every, len(state.items))
        snapshot = {
            "version": CHECKPOINT_VERSION,
            "generation": state.generation + 1,
            "identity": asdict(state.identity),
            "items": {k: _record_to_json(r) for k, r in state.items.items()},
        }
        _write_atomically(self._path, json.dumps(snapshot, ensure_ascii=False).encode())
        state.generation += 1
        try:
            os.ftruncate(self._journal_fd, 0)
            os.fsync(self._journal_fd)
        except OSError as exc:
            self._broken = True  # events appended to the old journal would be skipped
            raise CheckpointError(_write_failed(_journal_path(self._path), exc)) from exc
        self._journal_size = 0

    def close(self) -> None:
        """Compact (if anything was recorded since the last compaction), release the lock.

        Idempotent. Even when compacting fails (disk full), the lock is released and
        the journal keeps every event for the next run.
        """
        if self._lock_fd is None:
            return
        try:
            if not self._broken and self._journal_size > 0:
                self.flush()
                self.compact()
        finally:
            self._release()

    def _abandon(self) -> None:
        """Release the files without compacting, as a crash would (for tests)."""
        self._release()

    def _release(self) -> None:
        if self._journal_fd >= 0:
            os.close(self._journal_fd)
            self._journal_fd = -1
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._lock_fd, 0)  # no stale pid for the next reader
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

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


# --- status ------------------------------------------------------------------------


def summarize(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What a checkpoint holds, read without taking its lock (a run may be writing it)."""
    path = Path(path)
    state = _load_settled(path)
    counts = dict.fromkeys(
        ("succeeded", "failed", "skipped", "uploading", "processing", "not_started"), 0
    )
    acked = total = 0
    deadlines: list[float] = []
    for record in state.items.values():
        item_state = _item_state(record)
        counts[item_state] = counts.get(item_state, 0) + 1
        total += record.size
        acked += _acked_bytes(record)
        if item_state == "uploading" and record.upload_deadline is not None:
            deadlines.append(record.upload_deadline)
    nearest = _iso(min(deadlines)) if deadlines else None
    return {
        "path": str(path),
        "endpoint": state.identity.endpoint,
        "dialect": state.identity.dialect,
        "items": len(state.items),
        **counts,
        "bytes_acknowledged": acked,
        "bytes_total": total,
        "nearest_upload_deadline": nearest,
    }


def _load_settled(path: Path) -> _State:
    """Snapshot and journal of one generation, though a writer may compact meanwhile."""
    for _ in range(4):
        before = _inode(path)
        state = _load_existing(path)
        if not state.journal_newer and _inode(path) == before:
            return state  # the snapshot was not replaced while we read the journal
    return _load_existing(path)  # a very busy writer: a slightly stale summary will do


def _load_existing(path: Path) -> _State:
    state = _load(path)
    if state is None:
        raise CheckpointError(f"no checkpoint at {path}")
    return state


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


def _iso(seconds: float) -> str:
    return utc_from_timestamp(seconds).isoformat().replace("+00:00", "Z")


def _item_state(record: ItemRecord) -> str:
    if record.result is not None:
        return str(record.result.get("status", "failed"))
    if record.finalized or record.processing is not None:
        return "processing"
    return "uploading" if record.media_id is not None else "not_started"


def _acked_bytes(record: ItemRecord) -> int:
    if record.finalized or (record.result or {}).get("status") == "succeeded":
        return record.size
    chunk = record.params.get("chunk_size")
    if not isinstance(chunk, int) or chunk <= 0:
        return 0
    return sum(
        max(0, min(record.size, (end + 1) * chunk) - start * chunk)
        for start, end in _to_ranges(record.acked)
    )
