"""What a checkpoint holds, as ``bulkup status`` shows it: :func:`summarize`.

The checkpoint records every item a run reported, also those that ended before their
upload was planned (see :mod:`bulkup.core.records`, format version 4), so the counts
here are the run's report's counts: each item with a line is ``succeeded``,
``failed`` or ``skipped`` as its line says; an item without one (an interrupted run)
is in progress: ``uploading``, ``processing`` or ``not_started``.

The summary is read without taking the checkpoint's lock (a run may be writing it);
:data:`SUMMARY_KEYS` documents its keys, which ``bulkup status --json`` prints as they
are: numbers exact (bytes as integers), times as ISO 8601 UTC strings.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkup.core.items import Result, UploadParams, utc_from_timestamp
from bulkup.core.record_codec import to_ranges
from bulkup.core.records import CheckpointError, ItemRecord
from bulkup.run.checkpoint_io import State, journal_path, load, next_journal_path

__all__ = ["SUMMARY_KEYS", "summarize"]

#: Every key of :func:`summarize`'s answer, with what it means (stable: scripts read them).
SUMMARY_KEYS: dict[str, str] = {
    "path": "the checkpoint file",
    "endpoint": "the API base URL it was written for (a password in it masked)",
    "dialect": "the API dialect: v2 or v1.1",
    "items": "every item recorded: succeeded + failed + skipped + in_progress",
    "succeeded": "items whose line said succeeded",
    "failed": "items whose line said failed (failed before INIT included)",
    "skipped": "items whose line said skipped",
    "in_progress": "items without a line yet (an interrupted run): the next three",
    "uploading": "in progress: an upload session open, bytes being sent",
    "processing": "in progress: all bytes sent, the server processing them",
    "not_started": "in progress: no upload session yet",
    "bytes_acknowledged": "bytes the server acknowledged (an integer)",
    "bytes_total": "bytes of every item whose upload was planned (an integer)",
    "nearest_upload_deadline": (
        "when the first open upload session expires (ISO 8601 UTC), null when none is open"
    ),
    "uploads_open": "upload sessions a rerun can still continue",
    "failures": (
        'failed items by error kind, most first: [{"kind", "count", "example": {"id", "message"}}]'
    ),
}
_IN_PROGRESS = ("uploading", "processing", "not_started")


@dataclass(slots=True)
class _Tally:
    """The counts of :func:`summarize`, record by record."""

    now: float
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("succeeded", "failed", "skipped", *_IN_PROGRESS), 0)
    )
    acked: int = 0
    total: int = 0
    deadlines: list[float] = field(default_factory=list)
    failures: dict[str, list[Result]] = field(default_factory=dict)

    def add(self, record: ItemRecord) -> None:
        self.counts[_item_state(record)] += 1
        self.total += record.size
        self.acked += acked_bytes(record)
        deadline = _open_deadline(record, self.now)
        if deadline is not None:
            self.deadlines.append(deadline)
        result = record.result
        if result is not None and result.status == "failed":
            kind = result.error.kind if result.error is not None else "unknown"
            self.failures.setdefault(kind, []).append(result)

    def failure_groups(self) -> list[dict[str, Any]]:
        groups = sorted(self.failures.items(), key=lambda pair: (-len(pair[1]), pair[0]))
        return [
            {"kind": kind, "count": len(results), "example": _example(results[0])}
            for kind, results in groups
        ]


def summarize(path: str | os.PathLike[str], *, now: float | None = None) -> dict[str, Any]:
    """What the checkpoint at ``path`` holds (keys: :data:`SUMMARY_KEYS`); ``now``
    (Unix seconds, default the clock) decides which upload sessions are still open."""
    path = Path(path)
    state = _load_settled(path)
    tally = _Tally(now=time.time() if now is None else now)
    for item_id in state.items:
        tally.add(state.record(item_id))
    counts = tally.counts
    nearest = _iso(min(tally.deadlines)) if tally.deadlines else None
    return {
        "path": str(path),
        "endpoint": state.identity.endpoint,
        "dialect": state.identity.dialect,
        "items": len(state.items),
        **{name: counts[name] for name in ("succeeded", "failed", "skipped")},
        "in_progress": sum(counts[name] for name in _IN_PROGRESS),
        **{name: counts[name] for name in _IN_PROGRESS},
        "bytes_acknowledged": tally.acked,
        "bytes_total": tally.total,
        "nearest_upload_deadline": nearest,
        "uploads_open": len(tally.deadlines),
        "failures": tally.failure_groups(),
    }


def _example(result: Result) -> dict[str, str]:
    message = result.error.message if result.error is not None else "unknown error"
    return {"id": result.id, "message": message}


def _load_settled(path: Path) -> State:
    """Snapshot and journals of one generation, though a writer may compact meanwhile."""
    for _ in range(4):
        before = _inodes(path)
        state = _load_existing(path)
        if not state.journal_newer and _inodes(path) == before:
            return state  # no file was replaced, created or renamed while we read
    return _load_existing(path)  # a very busy writer: a slightly stale summary will do


def _load_existing(path: Path) -> State:
    state = load(path)
    if state is None:
        raise CheckpointError(f"no checkpoint at {path}")
    return state


def _inodes(path: Path) -> tuple[int | None, ...]:
    """Which file each name holds: a compaction replaces the snapshot, creates
    ``.journal.next`` and renames it to ``.journal``; appending changes none."""
    return tuple(_inode(p) for p in (path, journal_path(path), next_journal_path(path)))


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


def _open_deadline(record: ItemRecord, now: float) -> float | None:
    """When the record's upload session expires, if one is open (a rerun continues it)."""
    if record.media_id is None or record.finalized or record.upload_deadline is None:
        return None
    if record.result is not None and record.result.ok:
        return None
    return record.upload_deadline if record.upload_deadline > now else None


def acked_bytes(record: ItemRecord) -> int:
    """Bytes of the record's file the server acknowledged (all of them once finalized)."""
    if record.finalized or (record.result is not None and record.result.ok):
        return record.size
    params = record.params
    chunk = params.chunk_size if isinstance(params, UploadParams) else 0  # a digest: none
    if chunk <= 0:
        return 0
    return sum(
        max(0, min(record.size, (end + 1) * chunk) - start * chunk)
        for start, end in to_ranges(record.acked)
    )
