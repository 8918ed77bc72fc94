"""A compaction writes its snapshot in a worker thread, and a crash at any of its steps,
or a disk that fills up under it, loses no event that was recorded.

The worker's part is driven here one file-system call at a time on the test's thread
(:class:`Steps`), or held at one call with events (:func:`hold_worker_at_replace`): no
sleeps, no timing.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bulkup.core.record_codec import snapshot_json
from bulkup.run import checkpoint_snapshot
from bulkup.run.checkpoint import Checkpoint, CheckpointError, ItemRecord, summarize
from bulkup.run.checkpoint_snapshot import SnapshotJob
from tests.run.test_checkpoint import IDENTITY, PARAMS, finished, journal, record

WORKER = "bulkup-checkpoint"


def following(path: Path) -> Path:
    return path.with_name(path.name + ".journal.next")


def files_in(folder: Path) -> dict[str, bytes]:
    """What a crash would leave: every file but the lock (a crash releases it)."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.endswith(".lock")}


def loaded(files: dict[str, bytes], folder: Path, name: str) -> list[ItemRecord]:
    """The records a new run finds in ``files``, put in an empty ``folder``."""
    folder.mkdir()
    for file_name, data in files.items():
        (folder / file_name).write_bytes(data)
    with Checkpoint.open(folder / name, IDENTITY) as cp:
        return list(cp)


def generation(path: Path) -> int:
    value = json.loads(path.read_bytes())["generation"]
    assert isinstance(value, int)
    return value


@pytest.fixture
def path(tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    return folder / "run.checkpoint"


class Events:
    """Records a varied stream of events: new items, segments, updates, results."""

    def __init__(self, cp: Checkpoint) -> None:
        self.cp = cp
        self.count = 0

    def next(self) -> None:
        n, self.count = self.count, self.count + 1
        item = f"f{n // 4}"
        if n % 4 == 0:
            self.cp.put(record(item, media_id=str(n)))
        elif n % 4 == 3:
            self.cp.update(item, result=finished(item), attempts=n, finalized=True)
        else:
            self.cp.ack(item, n % 4)

    def many(self, count: int) -> None:
        for _ in range(count):
            self.next()


# --- a crash at each step ------------------------------------------------------------


@dataclasses.dataclass
class Steps:
    """Runs a compaction's worker part on this thread, one file-system call at a time.

    Before and after each ``os.write``, ``os.fsync`` and ``os.replace`` of the worker's
    part, one more event is recorded (as the event loop goes on meanwhile) and the files
    are copied with the records recorded so far: what a crash at that instant leaves,
    and what it must load to.
    """

    cp: Checkpoint
    path: Path
    events: Events
    jobs: list[SnapshotJob] = dataclasses.field(default_factory=list)
    crashes: list[tuple[str, dict[str, bytes], list[ItemRecord]]] = dataclasses.field(
        default_factory=list
    )
    stepping: bool = False

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(SnapshotJob, "start", lambda job: self.jobs.append(job))
        for name in ("write", "fsync", "replace"):
            monkeypatch.setattr(os, name, self._stepped(name, getattr(os, name)))

    def _stepped(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            if not self.stepping:
                return real(*args)
            self.crash_here(f"before {name}")
            result = real(*args)
            self.crash_here(f"after {name}")
            return result

        return call

    def crash_here(self, where: str) -> None:
        stepping, self.stepping = self.stepping, False
        self.events.next()
        self.crashes.append((where, files_in(self.path.parent), list(self.cp)))
        self.stepping = stepping

    def run(self, job: SnapshotJob) -> None:
        self.stepping = True
        try:
            job.run()
        finally:
            self.stepping = False


def test_a_crash_at_any_step_of_a_compaction_loads_every_event_recorded_before_it(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cp = Checkpoint.open(path, IDENTITY, compact_every=10)
    events = Events(cp)
    steps = Steps(cp, path, events)
    steps.install(monkeypatch)
    events.many(9)
    before = generation(path)
    events.next()  # the 10th: the snapshot point
    (job,) = steps.jobs
    steps.crash_here("at the snapshot point")

    steps.run(job)

    assert job.error is None and job.promoted
    steps.crash_here("done")
    seen: set[tuple[int, bool]] = set()
    for n, (where, files, recorded) in enumerate(steps.crashes):
        seen.add((generation_of(files, path.name), path.name + ".journal.next" in files))
        assert loaded(files, tmp_path / f"crash{n}", path.name) == recorded, where
    # Each window was crashed in: old snapshot with both journals, new snapshot with
    # both, new snapshot with its journal alone.
    assert {(before, True), (before + 1, True), (before + 1, False)} <= seen
    assert len(steps.crashes) >= 10
    cp.close()
    with Checkpoint.open(path, IDENTITY) as again:
        assert list(again) == steps.crashes[-1][2]


def generation_of(files: dict[str, bytes], name: str) -> int:
    value = json.loads(files[name])["generation"]
    assert isinstance(value, int)
    return value


# --- events while the worker writes ----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Hold:
    reached: threading.Event = dataclasses.field(default_factory=threading.Event)
    go: threading.Event = dataclasses.field(default_factory=threading.Event)

    def wait_until_reached(self) -> None:
        assert self.reached.wait(30), "the worker never got there"


@pytest.fixture
def hold_worker_at_replace(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hold]:
    """The worker stops before its first ``os.replace`` (the snapshot's rename) until
    ``go`` is set."""
    hold = Hold()
    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        if threading.current_thread().name == WORKER and not hold.go.is_set():
            hold.reached.set()
            assert hold.go.wait(30), "the test never let the worker go on"
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    yield hold
    hold.go.set()  # never leave the worker waiting


def test_events_recorded_while_the_worker_writes_are_kept_and_one_compaction_runs_at_a_time(
    path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    hold_worker_at_replace: Hold,
) -> None:
    starts: list[SnapshotJob] = []
    real_start = SnapshotJob.start

    def start(job: SnapshotJob) -> None:
        starts.append(job)
        real_start(job)

    monkeypatch.setattr(SnapshotJob, "start", start)
    cp = Checkpoint.open(path, IDENTITY, compact_every=5)
    events = Events(cp)
    events.many(5)  # the snapshot point
    at_point = {r.id: snapshot_json(r) for r in cp}
    hold_worker_at_replace.wait_until_reached()

    events.many(23)  # the loop goes on: past compact_every again, but one at a time

    assert len(starts) == 1
    recorded = list(cp)
    crash = files_in(path.parent)
    assert loaded(crash, tmp_path / "crash", path.name) == recorded
    assert summarize(path)["items"] == len(recorded)  # status reads both journals
    hold_worker_at_replace.go.set()
    cp.flush()  # waits for the worker

    assert json.loads(path.read_bytes())["items"] == at_point
    assert not following(path).exists()
    events.next()  # compact_every events since: the next compaction starts
    assert len(starts) == 2
    recorded = list(cp)
    cp.close()
    with Checkpoint.open(path, IDENTITY) as again:
        assert list(again) == recorded


def test_close_waits_for_the_worker_and_compacts_everything(
    path: Path, hold_worker_at_replace: Hold
) -> None:
    cp = Checkpoint.open(path, IDENTITY, compact_every=5)
    events = Events(cp)
    events.many(7)
    hold_worker_at_replace.wait_until_reached()
    recorded = list(cp)
    hold_worker_at_replace.go.set()

    cp.close()

    # The snapshot holds every event: the emptied journal and the lock file are gone.
    assert sorted(p.name for p in path.parent.iterdir()) == ["run.checkpoint"]
    items = json.loads(path.read_bytes())["items"]
    assert items == {r.id: snapshot_json(r) for r in recorded}


# --- disk full in the worker ---------------------------------------------------------


def enospc_in(thread_name: str | None, real: Callable[..., Any]) -> Callable[..., Any]:
    """``os.write`` failing with ENOSPC in that thread (in every one when None)."""

    def write(fd: int, data: Any) -> Any:
        if thread_name is None or threading.current_thread().name == thread_name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data)

    return write


def test_disk_full_in_the_worker_keeps_every_event_reports_the_error_and_tries_again(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cp = Checkpoint.open(path, IDENTITY, compact_every=5)
    events = Events(cp)
    events.many(3)
    snapshot = path.read_bytes()
    with monkeypatch.context() as full:
        full.setattr(os, "write", enospc_in(WORKER, os.write))
        events.many(2)  # the snapshot point: the worker fails to write the snapshot
        cp.flush()  # waits for it; every event is durable nonetheless

        assert path.read_bytes() == snapshot
        assert sorted(files_in(path.parent)) == [
            "run.checkpoint",
            "run.checkpoint.journal",
            "run.checkpoint.journal.next",
        ]  # and no temporary file
        assert loaded(files_in(path.parent), tmp_path / "crash", path.name) == list(cp)
        with pytest.raises(CheckpointError, match=r"disk full.*previous snapshot is kept"):
            events.next()  # the next event reports it, and is recorded
        recorded = list(cp)
        assert loaded(files_in(path.parent), tmp_path / "crash2", path.name) == recorded
        events.next()  # reported once

    events.many(3)  # compact_every events after the failure: space again, it is retried
    cp.flush()

    assert not following(path).exists()
    assert generation(path) == json.loads(snapshot)["generation"] + 1
    recorded = list(cp)
    cp.close()
    with Checkpoint.open(path, IDENTITY) as again:
        assert list(again) == recorded


def test_disk_full_in_the_worker_and_at_close_is_an_error_and_the_next_run_loads_all(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cp = Checkpoint.open(path, IDENTITY, compact_every=5)
    events = Events(cp)
    with monkeypatch.context() as full:
        full.setattr(os, "write", enospc_in(WORKER, os.write))
        events.many(5)
        cp.flush()
        recorded = list(cp)
        full.setattr(os, "write", enospc_in(None, os.write))
        with pytest.raises(CheckpointError, match="disk full"):
            cp.close()
    assert following(path).exists()  # the lock was released, the journals kept
    with Checkpoint.open(path, IDENTITY) as again:
        assert list(again) == recorded
    assert not following(path).exists()


def test_a_failed_rename_of_the_journal_is_tried_again_from_there(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        if Path(src) == following(path):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_replace(src, dst)

    cp = Checkpoint.open(path, IDENTITY, compact_every=5)
    events = Events(cp)
    with monkeypatch.context() as broken:
        broken.setattr(os, "replace", replace)
        events.many(5)
        cp.flush()
        written = path.read_bytes()  # the snapshot is in place, .journal is now older
        assert following(path).exists()
        with pytest.raises(CheckpointError, match=r"cannot write checkpoint .*\.journal"):
            events.next()
    events.many(4)  # compact_every events after the failure: tried again
    cp.flush()
    assert path.read_bytes() == written  # not written again: only the rename was left
    assert not following(path).exists()
    recorded = list(cp)
    cp._abandon()
    with Checkpoint.open(path, IDENTITY) as again:
        assert list(again) == recorded


# --- the journals that follow on from the snapshot ----------------------------------


def left_in_the_window(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Old snapshot, .journal and .journal.next: a crash before the snapshot's rename."""
    steps: list[SnapshotJob] = []
    monkeypatch.setattr(SnapshotJob, "start", lambda job: steps.append(job))
    cp = Checkpoint.open(path, IDENTITY, compact_every=4)
    Events(cp).many(6)
    assert len(steps) == 1 and following(path).exists()
    cp._abandon()


def rewrite_header(journal_file: Path, **header: int) -> None:
    first, *events = journal_file.read_bytes().splitlines(keepends=True)
    new = json.dumps({**json.loads(first), **header}).encode() + b"\n"
    journal_file.write_bytes(new + b"".join(events))


def test_a_journal_after_a_gap_in_the_generations_is_refused_untouched(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    left_in_the_window(path, monkeypatch)
    rewrite_header(following(path), gen=generation(path) + 2)
    before = files_in(path.parent)
    with pytest.raises(CheckpointError, match=r"run\.checkpoint\.journal\.next is newer than"):
        Checkpoint.open(path, IDENTITY)
    assert files_in(path.parent) == before


def test_two_journals_of_one_generation_are_refused_untouched(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    left_in_the_window(path, monkeypatch)
    rewrite_header(following(path), gen=generation(path))
    before = files_in(path.parent)
    with pytest.raises(CheckpointError, match="is newer than"):
        Checkpoint.open(path, IDENTITY)
    assert files_in(path.parent) == before


def test_the_window_of_a_crashed_compaction_is_folded_at_open(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    left_in_the_window(path, monkeypatch)
    assert summarize(path)["items"] == 2
    with Checkpoint.open(path, IDENTITY) as cp:
        f1 = cp.get("f1")
        assert f1 is not None and f1.acked == {1}
        assert not following(path).exists()
        assert journal(path).read_bytes() == b""


# --- the snapshot is what the records are --------------------------------------------


def test_the_snapshot_kept_in_pieces_is_the_records_json(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint_snapshot, "_BATCH", 3)  # several writes
    with Checkpoint.open(path, IDENTITY, compact_every=1_000_000) as cp:
        events = Events(cp)
        events.many(40)
        other = dataclasses.replace(PARAMS, post="trip", additional_owners=("7",))
        cp.update("f1", params=other, partial_params=True)  # a new params value
        cp.update("f2", result=None)  # and no result again
        cp.put(record("f3", media_id="again"))  # a fresh record
        cp.update("f4", result=finished("f4", "failed"), params=other.as_json())
        for i in range(600):  # records changed long ago are encoded between snapshots
            cp.ack("f0", i + 10)
        cp.compact()
        assert json.loads(path.read_bytes())["items"] == {r.id: snapshot_json(r) for r in cp}
        events.many(3)
        cp.compact()
        assert json.loads(path.read_bytes())["items"] == {r.id: snapshot_json(r) for r in cp}


def test_when_no_thread_can_start_the_compaction_runs_at_once(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(thread: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    cp = Checkpoint.open(path, IDENTITY, compact_every=5)
    before = generation(path)
    with monkeypatch.context() as no_threads:
        no_threads.setattr(threading.Thread, "start", refuse)
        Events(cp).many(5)
    assert generation(path) == before + 1
    assert not following(path).exists()
    recorded = list(cp)
    cp.close()
    with Checkpoint.open(path, IDENTITY) as again:
        assert list(again) == recorded


# --- opening ---------------------------------------------------------------------------


def finished_items(path: Path, count: int) -> None:
    with Checkpoint.open(path, IDENTITY) as cp:
        for i in range(count):
            item_id = f"i{i}"
            cp.put(record(item_id, media_id=str(100 + i), inode=7 + i, processing="succeeded"))
            cp.update(item_id, finalized=True, media_expires_at=1_900_086_400.5)
            cp.update(item_id, result=finished(item_id, media_id_string=str(100 + i)))


def test_opening_a_cleanly_closed_checkpoint_does_not_write_its_snapshot_again(
    path: Path,
) -> None:
    finished_items(path, 3)
    before = path.stat()
    with Checkpoint.open(path, IDENTITY) as cp:
        opened = path.stat()
        cp.put(record("new"))
    assert (opened.st_ino, opened.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    with Checkpoint.open(path, IDENTITY) as cp:  # the journal's event was kept and folded
        assert sorted(r.id for r in cp) == ["i0", "i1", "i2", "new"]
        assert cp.get("i1").result.media_id_string == "101"  # type: ignore[union-attr]


def test_a_checkpoint_with_journal_events_is_compacted_at_open(path: Path) -> None:
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.put(record("a"))
        cp._abandon()  # a crash: the event is in the journal only
    before = path.stat()
    with Checkpoint.open(path, IDENTITY) as cp:
        assert path.stat().st_ino != before.st_ino  # a new snapshot, the journal folded
        assert "a" in cp


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("file", [-1, 17, None, 7], "'size'"),
        ("file", [1000, 1.5, None, 7], "'mtime_ns'"),
        ("file", [1000, 17, "x", 7], "'ctime_ns'"),
        ("params", "not-a-digest", "'params'"),
        ("media_expires_at", -5, "'media_expires_at'"),
        ("processing", 3, "'processing'"),
        ("finalized", "yes", "'finalized'"),
        ("result", {"status": "done"}, "'result'"),
        ("surprise", 1, "'surprise'"),
    ],
)
def test_a_bad_value_in_a_finished_record_is_named_at_open(
    path: Path, field: str, value: Any, named: str
) -> None:
    finished_items(path, 2)
    lines = path.read_bytes().split(b"\n")
    key, _, body = lines[2].rstrip(b",").partition(b":")
    data = json.loads(body)
    assert "file" in data  # the compact form
    data[field] = value
    lines[2] = key + b":" + json.dumps(data).encode() + (b"," if lines[2].endswith(b",") else b"")
    path.write_bytes(b"\n".join(lines))

    with pytest.raises(CheckpointError, match=rf"damaged.*invalid.*{named}"):
        Checkpoint.open(path, IDENTITY)
