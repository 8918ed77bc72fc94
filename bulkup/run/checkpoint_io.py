"""The checkpoint's files: loading the snapshot and replaying its journal, writing them
safely, the lock, and :func:`summarize` (what ``bulkup status`` shows).

The format and the crash guarantees are described in :mod:`bulkup.run.checkpoint`; the
records and their JSON in :mod:`bulkup.core.records`. Every file is created with mode 0600.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bulkup import privatefiles
from bulkup.core.items import utc_from_timestamp
from bulkup.core.records import (
    MAX_INDEX,
    CheckpointError,
    CheckpointLocked,
    ItemRecord,
    RunIdentity,
    check_version,
    decode_fields,
    is_int,
    record_from_json,
    to_ranges,
)

_MODE = 0o600


# --- loading -----------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class State:
    identity: RunIdentity
    generation: int
    items: dict[str, ItemRecord]
    #: The journal was written after a newer snapshot than the one read.
    journal_newer: bool = False


def _read_snapshot(path: Path) -> State | None:
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
        version = check_version(data.get("version"), path)
        identity = RunIdentity(**data["identity"])
        generation = data["generation"]
        if not is_int(generation) or not isinstance(data["items"], dict):
            raise ValueError("invalid generation or items")
        items = {k: record_from_json(k, v, version) for k, v in data["items"].items()}
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(
            f"checkpoint {path} is damaged ({exc}); it was left untouched: "
            "move or delete it (and its .journal) to start afresh, or use another --checkpoint file"
        ) from exc
    return State(identity=identity, generation=generation, items=items)


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


def _replay(path: Path, state: State) -> None:
    events = _journal_lines(path)
    if not events:
        return
    header = events[0]
    if not isinstance(header, dict) or not is_int(header.get("gen")):
        raise _damaged_journal(path, 1, "no header")
    version = check_version(header.get("v"), path)
    if header["gen"] != state.generation:
        # Older: already folded into the snapshot (a crash before truncation). Newer: the
        # snapshot was swapped while we read, or replaced by an older copy.
        state.journal_newer = header["gen"] > state.generation
        return
    for number, event in enumerate(events[1:], 2):
        try:
            _apply(state.items, event, version)
        except (ValueError, KeyError, TypeError) as exc:
            raise _damaged_journal(path, number, str(exc)) from exc


def _apply(items: dict[str, ItemRecord], event: Any, version: int) -> None:
    if not isinstance(event, dict):
        raise ValueError("not an event")
    if "a" in event:
        index = event["i"]
        if not is_int(index) or not 0 <= index < MAX_INDEX:
            raise ValueError(f"invalid segment index {index!r:.40}")
        items[event["a"]].acked.add(index)
    elif "p" in event:
        items[event["p"]] = record_from_json(event["p"], event["r"], version)
    elif "u" in event and isinstance(event["c"], dict):
        record = items[event["u"]]
        for name, value in decode_fields(event["u"], event["c"], version).items():
            setattr(record, name, value)
    else:
        raise ValueError("unknown event")


def load(path: Path) -> State | None:
    """The snapshot at ``path`` with its journal replayed; None if there is none."""
    state = _read_snapshot(path)
    if state is not None:
        _replay(journal_path(path), state)
    return state


def journal_path(path: Path) -> Path:
    return path.with_name(path.name + ".journal")


# --- writing -----------------------------------------------------------------------


def open_private(path: Path, flags: int) -> int:
    return privatefiles.open_fd(path, flags)


write_all = privatefiles.write_all


def write_failed(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return f"disk full: cannot write checkpoint {path}; free some space and run again"
    return f"cannot write checkpoint {path}: {exc.strerror or exc}"


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temp file, fsync, rename, fsync the directory."""
    try:
        privatefiles.replace(path, data)
    except OSError as exc:
        raise CheckpointError(write_failed(path, exc) + " (the previous snapshot is kept)") from exc


def lock(path: Path) -> int:
    """Take ``<path>.lock`` (flock) for this process, or CheckpointLocked naming the holder."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = open_private(lock_path, os.O_RDWR | os.O_CREAT)
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
        write_all(fd, f"{os.getpid()}\n".encode())
    return fd


def unlock(fd: int) -> None:
    """Give back a lock :func:`lock` took, leaving no stale pid for the next reader."""
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
    os.close(fd)  # releases the flock


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip())
    except (OSError, ValueError):
        return None


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


def _load_settled(path: Path) -> State:
    """Snapshot and journal of one generation, though a writer may compact meanwhile."""
    for _ in range(4):
        before = _inode(path)
        state = _load_existing(path)
        if not state.journal_newer and _inode(path) == before:
            return state  # the snapshot was not replaced while we read the journal
    return _load_existing(path)  # a very busy writer: a slightly stale summary will do


def _load_existing(path: Path) -> State:
    state = load(path)
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
        return record.result.status
    if record.finalized or record.processing is not None:
        return "processing"
    return "uploading" if record.media_id is not None else "not_started"


def _acked_bytes(record: ItemRecord) -> int:
    if record.finalized or (record.result is not None and record.result.ok):
        return record.size
    chunk = record.params.chunk_size
    if chunk <= 0:
        return 0
    return sum(
        max(0, min(record.size, (end + 1) * chunk) - start * chunk)
        for start, end in to_ranges(record.acked)
    )
