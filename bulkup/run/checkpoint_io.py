"""The checkpoint's files: loading the snapshot and replaying its journal, writing them
safely, and the lock (what ``bulkup status`` shows is in
:mod:`bulkup.run.checkpoint_status`).

The format and the crash guarantees are described in :mod:`bulkup.run.checkpoint`; the
records and their JSON in :mod:`bulkup.core.records`. Every file is created with mode 0600.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any

from bulkup import privatefiles
from bulkup.core.record_codec import (
    check_compact,
    check_version,
    decode_fields,
    file_key,
    is_compact,
    is_int,
    is_sha256,
    json_text,
    record_from_compact,
    record_from_json,
)
from bulkup.core.records import (
    CHECKPOINT_VERSION,
    COMPACT_VERSION,
    MAX_INDEX,
    CheckpointError,
    CheckpointLocked,
    ItemRecord,
    RunIdentity,
)
from bulkup.run.checkpoint_store import FinishedStore

_MODE = 0o600


# --- loading -----------------------------------------------------------------------


#: The snapshot's top-level keys this bulkup reads; others are kept as read (a newer
#: bulkup's, or another part of this one's) and written back.
_KNOWN_KEYS = ("version", "generation", "identity", "items")


@dataclass(slots=True, kw_only=True)
class State:
    identity: RunIdentity
    #: The newest generation read: that of the last journal replayed, else the snapshot's.
    #: The next snapshot is one more, so every journal on disk is then older.
    generation: int
    #: Each item's record: whole, or a handle in ``store`` (a finished one, compact).
    items: dict[str, ItemRecord | int]
    store: FinishedStore = field(default_factory=FinishedStore)
    #: Finished items by file (see :func:`~bulkup.core.record_codec.file_key`).
    by_file: dict[int, str] = field(default_factory=dict)
    #: The snapshot's top-level keys not in :data:`_KNOWN_KEYS`, as read.
    extra: dict[str, Any] = field(default_factory=dict)
    #: A journal that does not follow on from the snapshot (written after a newer
    #: snapshot than the one read, or a second journal of the same generation).
    journal_newer: Path | None = None
    #: Read from a snapshot as this bulkup writes it (this version, one item a line)
    #: with no journal event after it: writing the snapshot again would change nothing.
    pristine: bool = False

    def record(self, item_id: str) -> ItemRecord:
        """The item's record, whole (a compact one decoded: a new object each time)."""
        value = self.items[item_id]
        if isinstance(value, ItemRecord):
            return value
        return record_from_compact(item_id, json.loads(self.store.read(value)))

    def add(self, item_id: str, data: Any, version: int, raw: bytes | None = None) -> None:
        """An item read from the snapshot (``raw``: its JSON as written, if known)."""
        if version >= COMPACT_VERSION and is_compact(data):
            check_compact(item_id, data)  # damage is reported at open
            self.items[item_id] = self.store.add(raw or json_text(data).encode())
            key = file_key(data)
            if key is not None:
                self.by_file.setdefault(key, item_id)
        else:
            self.items[item_id] = record_from_json(item_id, data, version)


@dataclass(slots=True, kw_only=True)
class _Journal:
    path: Path
    generation: int
    version: int
    #: The events after the header, numbered from line 2.
    events: list[Any]


def _read_snapshot(path: Path) -> State | None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror}") from exc
    try:
        return _read_lines(raw, path) or _read_whole(raw, path)
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(
            f"checkpoint {path} is damaged ({exc}); it was left untouched: "
            "move or delete it (and its .journal) to start afresh, or use another --checkpoint file"
        ) from exc


def _state(data: Any, path: Path) -> tuple[State, int]:
    """The state of a snapshot's top-level object, its items not read yet; its version."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    version = check_version(data.get("version"), path)
    identity = RunIdentity(**data["identity"])
    generation = data["generation"]
    if not is_int(generation) or not isinstance(data["items"], dict):
        raise ValueError("invalid generation or items")
    extra = {k: v for k, v in data.items() if k not in _KNOWN_KEYS}
    return State(identity=identity, generation=generation, items={}, extra=extra), version


def _read_whole(raw: bytes, path: Path) -> State:
    """A snapshot of any layout (versions 1 to 4 wrote one line; a person may indent)."""
    data = json.loads(raw)
    state, version = _state(data, path)
    for item_id, record in data["items"].items():
        state.add(item_id, record, version)
    return state


def _read_lines(raw: bytes, path: Path) -> State | None:
    """A snapshot as version 5 writes it: its head, then one item a line, then ``}}``.
    None when it is not in that layout (read whole then). Nothing is decoded twice: a
    compact record's bytes go to the store as they are."""
    lines = raw.split(b"\n")
    if len(lines) < 2 or lines[-1] != b"}}" or not lines[0].endswith(b'"items":{'):
        return None
    state, version = _state(json.loads(lines[0] + b"}}"), path)
    last = len(lines) - 2
    for number in range(1, last + 1):
        line = lines[number]
        if number < last:
            if not line.endswith(b","):
                return None
            line = line[:-1]
        text = line.decode()
        item_id, end = scanstring(text, 1) if text[:1] == '"' else ("", 0)
        if text[end : end + 1] != ":":
            raise ValueError(f"line {number + 1} is not an item")
        at = end + 1 if len(text) == len(line) else len(text[: end + 1].encode())
        state.add(item_id, json.loads(line[at:]), version, line[at:])
    state.pristine = version == CHECKPOINT_VERSION
    return state


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


def _read_journal(path: Path) -> _Journal | None:
    """The journal at ``path``; None if it is missing or holds no whole line."""
    events = _journal_lines(path)
    if not events:
        return None
    header = events[0]
    if not isinstance(header, dict) or not is_int(header.get("gen")):
        raise _damaged_journal(path, 1, "no header")
    version = check_version(header.get("v"), path)
    return _Journal(path=path, generation=header["gen"], version=version, events=events[1:])


def _replay(journal: _Journal, state: State) -> None:
    for number, event in enumerate(journal.events, 2):
        try:
            _apply(state, event, journal.version)
        except (ValueError, KeyError, TypeError) as exc:
            raise _damaged_journal(journal.path, number, str(exc)) from exc


def _whole(state: State, item_id: Any) -> ItemRecord:
    """The item's record, made whole in ``state`` to be changed."""
    record = state.record(item_id)
    state.items[item_id] = record
    return record


def _apply(state: State, event: Any, version: int) -> None:
    if not isinstance(event, dict):
        raise ValueError("not an event")
    if "a" in event:
        index = event["i"]
        if not is_int(index) or not 0 <= index < MAX_INDEX:
            raise ValueError(f"invalid segment index {index!r:.40}")
        record = _whole(state, event["a"])
        record.acked.add(index)
        if "h" in event:
            if not is_sha256(event["h"]):
                raise ValueError(f"invalid SHA-256 {event['h']!r:.80}")
            record.segment_sha256[index] = event["h"]
    elif "p" in event:
        state.items[event["p"]] = record_from_json(event["p"], event["r"], version)
    elif "u" in event and isinstance(event["c"], dict):
        record = _whole(state, event["u"])
        for name, value in decode_fields(event["u"], event["c"], version).items():
            setattr(record, name, value)
    else:
        raise ValueError("unknown event")


def load(path: Path) -> State | None:
    """The snapshot at ``path`` with its journals replayed; None if there is none.

    The journals (``.journal``, and ``.journal.next`` during a compaction) are replayed
    in the order of their generations, each one that follows on from the state so far:
    one of the snapshot's generation, then the next. An older one was folded into the
    snapshot already (a crash before it was emptied or replaced) and is skipped.
    """
    state = _read_snapshot(path)
    if state is None:
        return None
    found = [_read_journal(journal_path(path)), _read_journal(next_journal_path(path))]
    journals = sorted((j for j in found if j is not None), key=lambda j: j.generation)
    expected = state.generation
    for journal in journals:
        if journal.generation < expected:
            continue  # folded into the snapshot already
        if journal.generation > expected:  # a gap: one is missing, or from another copy
            state.journal_newer = journal.path
            break
        _replay(journal, state)
        state.pristine = state.pristine and not journal.events
        state.generation = journal.generation
        expected = journal.generation + 1
    if len({j.generation for j in journals}) < len(journals):
        state.journal_newer = journals[-1].path  # two of one generation: not ours alone
    return state


def journal_path(path: Path) -> Path:
    return path.with_name(path.name + ".journal")


def next_journal_path(path: Path) -> Path:
    """Where events go while a compaction writes its snapshot."""
    return path.with_name(path.name + ".journal.next")


# --- writing -----------------------------------------------------------------------


def open_private(path: Path, flags: int) -> int:
    return privatefiles.open_fd(path, flags)


write_all = privatefiles.write_all


def write_failed(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return f"disk full: cannot write checkpoint {path}; free some space and run again"
    return f"cannot write checkpoint {path}: {exc.strerror or exc}"


def write_atomically(path: Path, chunks: Iterable[bytes]) -> None:
    """Replace ``path`` with ``chunks`` joined: temp file, fsync, rename, fsync the directory.

    Like :func:`bulkup.privatefiles.replace` (same temporary file), but the data comes in
    pieces: a snapshot of many items is never joined into one buffer. Any thread may call it.
    """
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = open_private(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            for chunk in chunks:
                write_all(fd, chunk)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            message = write_failed(path, exc) + " (the previous snapshot is kept)"
            raise CheckpointError(message) from exc
        raise
    privatefiles.sync_folder(path.parent)


def promote_journal(path: Path) -> None:
    """Make ``.journal.next`` the journal, once the snapshot it follows is in place."""
    try:
        os.replace(next_journal_path(path), journal_path(path))
    except OSError as exc:
        raise CheckpointError(write_failed(journal_path(path), exc)) from exc


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def lock(path: Path) -> int:
    """Take ``<path>.lock`` (flock) for this process, or CheckpointLocked naming the holder.

    The holder removes the file when it lets go (:func:`unlock`), so the lock is that of
    the file the name holds once flocked: a file opened before its holder removed it
    is locked in vain, and the name is opened again.
    """
    name = lock_path(path)
    while True:
        try:
            fd = open_private(name, os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            raise CheckpointError(
                f"cannot create {name}: {exc.strerror}; is the checkpoint's directory writable?"
            ) from exc
        _flock(fd, path, name)
        if _names(fd, name):
            break
        os.close(fd)  # removed by its holder meanwhile: the lock is the new file's
    with contextlib.suppress(OSError):  # the pid is only for messages
        os.ftruncate(fd, 0)
        write_all(fd, f"{os.getpid()}\n".encode())
    return fd


def _flock(fd: int, path: Path, name: Path) -> None:
    """Lock ``fd`` (closing it and raising when another process holds it)."""
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
        raise CheckpointError(f"cannot lock {name}: {exc.strerror}") from exc


def _names(fd: int, name: Path) -> bool:
    """Whether ``name`` still holds the file open at ``fd``."""
    try:
        found, held = os.stat(name), os.fstat(fd)
    except OSError:
        return False
    return (found.st_dev, found.st_ino) == (held.st_dev, held.st_ino)


def unlock(fd: int, path: Path) -> None:
    """Give back the lock :func:`lock` took on ``path``'s lock file: remove the file while
    still holding it (whoever opened it meanwhile finds, once it holds it, that the name
    no longer does, and takes a new one), then let go. No stale pid, no file left."""
    try:
        os.unlink(lock_path(path))
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
    os.close(fd)  # releases the flock


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip())
    except (OSError, ValueError):
        return None
