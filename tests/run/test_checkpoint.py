"""The checkpoint keeps every recorded step across crashes, and refuses what it cannot trust."""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import json
import math
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bulkup.core.items import ErrorInfo, Result, UploadParams
from bulkup.run import checkpoint as cp_module
from bulkup.run import checkpoint_io
from bulkup.run.checkpoint import (
    CHECKPOINT_VERSION,
    Checkpoint,
    CheckpointError,
    CheckpointLocked,
    CheckpointMismatch,
    ItemRecord,
    RunIdentity,
    summarize,
)
from bulkup.run.checkpoint_io import load

IDENTITY = RunIdentity(endpoint="https://upload.twitter.com", dialect="v1.1", account="oauth1:ab12")
PARAMS = UploadParams(
    media_type="video/mp4", media_category="tweet_video", chunk_size=100, strategy="chunked"
)
REPO = Path(__file__).resolve().parents[2]


def record(item_id: str, **fields: Any) -> ItemRecord:
    base: dict[str, Any] = {
        "path": f"/data/{item_id}",
        "size": 1000,
        "mtime_ns": 17,
        "params": PARAMS,
    }
    return ItemRecord(id=item_id, **{**base, **fields})


def finished(item_id: str, status: str = "succeeded", **fields: Any) -> Result:
    return Result(id=item_id, path=f"/data/{item_id}", status=status, **fields)  # type: ignore[arg-type]


def journal(path: Path) -> Path:
    return path.with_name(path.name + ".journal")


def lock_file(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def files_of(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (path, journal(path)) if p.exists()}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "run.checkpoint"


def crashed_run(path: Path, *, compact_every: int = 1_000_000) -> None:
    """Leave a checkpoint as a crash would: events in the journal, no final compaction."""
    cp = Checkpoint.open(path, IDENTITY, compact_every=compact_every)
    cp.put(record("a"))
    cp.update("a", media_id="111", upload_deadline=1_900_000_000.5)
    for i in range(5):
        cp.ack("a", i)
    cp.put(record("b"))
    cp._abandon()


# --- round trip and replay ---------------------------------------------------------


def test_everything_recorded_is_there_after_close_and_reopen(path: Path) -> None:
    result = finished("a", media_id_string="111", alt_text_applied=True)
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.put(record("a", params=dataclasses.replace(PARAMS, additional_owners=("1", "2"))))
        cp.update("a", media_id="111", media_key="7_111", upload_deadline=1_900_000_000.25)
        for i in (0, 1, 2, 5, 999):
            cp.ack("a", i)
        cp.update("a", finalized=True, processing="succeeded", media_expires_at=1_900_086_400)
        cp.update("a", result=result, attempts=2)
        cp.put(record("b"))
        before = list(cp)
    with Checkpoint.open(path, IDENTITY) as cp:
        assert list(cp) == before
        a = cp.get("a")
        assert a is not None and a.params is not None
        # succeeded: what resume and the report need; its closed session is dropped
        assert a.params == dataclasses.replace(PARAMS, additional_owners=("1", "2"))
        assert a.params != PARAMS
        assert (a.media_id, a.media_key, a.acked, a.upload_deadline) == (
            "111",
            "7_111",
            set(),
            None,
        )
        assert (a.finalized, a.processing, a.media_expires_at) == (True, "succeeded", 1.9000864e9)
        assert (a.result, a.attempts) == (result, 2)
        assert cp.get("missing") is None
        assert len(cp) == 2 and "b" in cp


def test_a_fresh_put_replaces_the_whole_record(path: Path) -> None:
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.put(record("a", media_id="old"))
        cp.ack("a", 3)
        cp.put(record("a", media_id="new"))
    with Checkpoint.open(path, IDENTITY) as cp:
        assert cp.get("a") == record("a", media_id="new")


def test_records_handed_out_or_in_are_copies(path: Path) -> None:
    with Checkpoint.open(path, IDENTITY) as cp:
        mine = record("a")
        cp.put(mine)
        mine.acked.add(9)
        got = cp.get("a")
        assert got is not None
        got.acked.add(8)
        got.media_id = "changed"
        assert cp.get("a") == record("a")


def test_journal_is_replayed_when_the_process_never_closed(path: Path) -> None:
    crashed_run(path)
    assert journal(path).stat().st_size > 0
    with Checkpoint.open(path, IDENTITY) as cp:
        a = cp.get("a")
        assert a is not None
        assert (a.media_id, a.upload_deadline, a.acked) == ("111", 1_900_000_000.5, set(range(5)))
        assert cp.get("b") == record("b")


_WRITER = textwrap.dedent(
    """
    import sys
    from bulkup.run.checkpoint import Checkpoint, ItemRecord, RunIdentity
    from bulkup.core.items import UploadParams
    PARAMS = UploadParams(media_type="video/mp4", media_category=None, chunk_size=1,
                          strategy="chunked")
    identity = RunIdentity(endpoint="https://upload.twitter.com", dialect="v1.1",
                           account="oauth1:ab12")
    cp = Checkpoint.open(sys.argv[1], identity, compact_every=int(sys.argv[2]))
    n = 0
    while True:
        item, index = divmod(n, 1000)
        if index == 0:
            cp.put(ItemRecord(id=f"f{item}", path="/x", size=1, mtime_ns=1, params=PARAMS))
        cp.ack(f"f{item}", index)
        print(n, flush=True)
        n += 1
    """
)


@pytest.mark.parametrize("compact_every", [1_000_000, 7], ids=["journal-only", "compacting"])
def test_sigkill_loses_no_acknowledged_segment(path: Path, compact_every: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), str(compact_every)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout is not None
    seen = [int(proc.stdout.readline()) for _ in range(2500)]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    with Checkpoint.open(path, IDENTITY) as cp:
        for n in seen:
            item, index = divmod(n, 1000)
            rec = cp.get(f"f{item}")
            assert rec is not None and index in rec.acked, n


# --- damage ------------------------------------------------------------------------


def test_a_torn_last_journal_line_is_ignored_and_later_events_still_load(path: Path) -> None:
    crashed_run(path)
    with journal(path).open("ab") as f:
        f.write(b'{"a":"b","i')  # a crash in the middle of a write
    with Checkpoint.open(path, IDENTITY) as cp:
        b = cp.get("b")
        assert b is not None and b.acked == set()
        cp.ack("b", 4)
        cp._abandon()
    with Checkpoint.open(path, IDENTITY) as cp:
        b = cp.get("b")
        assert b is not None and b.acked == {4}


def test_a_corrupt_line_inside_the_journal_is_an_error_naming_it(path: Path) -> None:
    crashed_run(path)
    lines = journal(path).read_bytes().splitlines(keepends=True)
    lines[3] = b"{garbage\n"
    journal(path).write_bytes(b"".join(lines))
    before = files_of(path)
    with pytest.raises(CheckpointError, match=r"run\.checkpoint\.journal is damaged at line 4"):
        Checkpoint.open(path, IDENTITY)
    assert files_of(path) == before
    with pytest.raises(CheckpointError, match="line 4"):
        summarize(path)


def test_a_journal_event_for_an_unknown_item_is_an_error(path: Path) -> None:
    crashed_run(path)
    with journal(path).open("ab") as f:
        f.write(b'{"a":"nobody","i":1}\n{"a":"a","i":9}\n')
    with pytest.raises(CheckpointError, match="damaged at line 10"):
        Checkpoint.open(path, IDENTITY)


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b"[1, 2]", b'{"version": 1, "identity": {}, "items": {}}'],
    ids=["empty", "not-json", "not-object", "bad-identity"],
)
def test_an_unreadable_snapshot_is_an_error_and_left_untouched(path: Path, content: bytes) -> None:
    crashed_run(path)
    path.write_bytes(content)
    before = files_of(path)
    with pytest.raises(CheckpointError, match=r"run\.checkpoint is damaged.*left untouched"):
        Checkpoint.open(path, IDENTITY)
    assert files_of(path) == before
    with Checkpoint.open(path.with_name("other"), IDENTITY):  # the lock was released
        pass
    with pytest.raises(CheckpointError):
        Checkpoint.open(path, IDENTITY)


@pytest.mark.parametrize("where", ["snapshot", "journal"])
def test_a_checkpoint_of_a_newer_format_is_refused_naming_the_file_and_the_upgrade(
    path: Path, where: str
) -> None:
    crashed_run(path)
    newer = CHECKPOINT_VERSION + 1
    if where == "snapshot":
        data = json.loads(path.read_bytes())
        data["version"] = newer
        path.write_text(json.dumps(data))
    else:
        header, *events = journal(path).read_bytes().splitlines(keepends=True)
        journal(path).write_bytes(
            b"".join([json.dumps({**json.loads(header), "v": newer}).encode() + b"\n", *events])
        )
    before = files_of(path)
    expected = (
        rf"checkpoint {path}(\.journal)? has format version {newer}, newer than this bulkup "
        rf"reads \(up to version {CHECKPOINT_VERSION}\).*upgrade bulkup"
    )
    with pytest.raises(CheckpointError, match=expected):
        Checkpoint.open(path, IDENTITY)
    with pytest.raises(CheckpointError, match=expected):
        summarize(path)
    assert files_of(path) == before


@pytest.mark.parametrize("version", [0, "2", None])
def test_a_checkpoint_of_an_unknown_format_version_is_refused(path: Path, version: Any) -> None:
    Checkpoint.open(path, IDENTITY).close()
    data = json.loads(path.read_bytes())
    data["version"] = version
    path.write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="this bulkup reads versions 1, 2, 3"):
        Checkpoint.open(path, IDENTITY)


def test_a_journal_left_by_a_crash_after_compaction_is_not_applied_twice(path: Path) -> None:
    crashed_run(path)
    stale = journal(path).read_bytes()
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.put(record("a"))  # the item started afresh after the compaction
    journal(path).write_bytes(stale)  # as if truncating the old journal never happened
    with Checkpoint.open(path, IDENTITY) as cp:
        assert cp.get("a") == record("a")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"endpoint": "https://api.x.com"}, "endpoint https://upload.twitter.com (this run: https"),
        ({"dialect": "v2"}, "API dialect v1.1 (this run: v2)"),
        ({"account": "oauth1:ffff"}, "other credentials"),
    ],
)
def test_a_checkpoint_for_another_identity_is_refused(
    path: Path, change: dict[str, str], words: str
) -> None:
    Checkpoint.open(path, IDENTITY).close()
    other = RunIdentity(**{**vars_of(IDENTITY), **change})
    before = files_of(path)
    with pytest.raises(CheckpointMismatch) as caught:
        Checkpoint.open(path, other)
    message = str(caught.value)
    assert words in message
    assert "use another --checkpoint file, or delete this one" in message
    assert caught.value.differences == tuple(change)
    assert files_of(path) == before


def vars_of(identity: RunIdentity) -> dict[str, str]:
    return {"endpoint": identity.endpoint, "dialect": identity.dialect, "account": identity.account}


# --- lock and files ----------------------------------------------------------------

_HOLDER = textwrap.dedent(
    """
    import sys
    from bulkup.run.checkpoint import Checkpoint, RunIdentity
    identity = RunIdentity(endpoint="https://upload.twitter.com", dialect="v1.1",
                           account="oauth1:ab12")
    with Checkpoint.open(sys.argv[1], identity):
        print("locked", flush=True)
        sys.stdin.read()
    """
)


@pytest.fixture
def held(path: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert proc.stdin is not None and proc.stdout is not None
    assert proc.stdout.readline() == "locked\n"
    yield proc
    proc.stdin.close()
    proc.wait()
    proc.stdout.close()


def test_a_checkpoint_in_use_by_another_process_is_refused_with_its_pid(
    path: Path, held: subprocess.Popen[str]
) -> None:
    with pytest.raises(CheckpointLocked, match=rf"in use by process {held.pid}") as caught:
        Checkpoint.open(path, IDENTITY)
    assert caught.value.pid == held.pid
    assert summarize(path)["items"] == 0  # reading the status needs no lock


def test_the_lock_is_released_at_close(path: Path) -> None:
    cp = Checkpoint.open(path, IDENTITY)
    with pytest.raises(CheckpointLocked):
        Checkpoint.open(path, IDENTITY)
    cp.close()
    cp.close()  # idempotent
    Checkpoint.open(path, IDENTITY).close()
    with pytest.raises(ValueError, match="closed"):
        cp.ack("a", 1)


def test_a_closed_checkpoint_is_the_one_file(path: Path) -> None:
    """Before: the lock file and an empty journal stayed beside it."""
    Checkpoint.open(path, IDENTITY).close()  # nothing recorded
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.put(record("a"))
        cp.ack("a", 0)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    with Checkpoint.open(path, IDENTITY) as cp:
        assert cp.get("a") == record("a", acked={0})
    other = dataclasses.replace(IDENTITY, account="oauth1:other")
    with pytest.raises(CheckpointMismatch):
        Checkpoint.open(path, other)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_a_lock_file_removed_by_its_holder_while_being_locked_is_not_the_lock(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that opened the lock file just before its holder removed it must not
    take that removed file's flock for the lock: a third process, creating the file
    anew, would hold "the" lock at the same time."""
    holder = Checkpoint.open(path, IDENTITY)
    real_flock = checkpoint_io._flock
    calls: list[int] = []

    def flock_after_the_holder_let_go(fd: int, *args: Any) -> None:
        if not calls:
            holder.close()  # removes the file this fd has open, and lets go of it
        calls.append(fd)
        real_flock(fd, *args)

    monkeypatch.setattr(checkpoint_io, "_flock", flock_after_the_holder_let_go)
    with Checkpoint.open(path, IDENTITY):
        assert len(calls) == 2  # the removed file, then the new one
        monkeypatch.setattr(checkpoint_io, "_flock", real_flock)
        with pytest.raises(CheckpointLocked, match=rf"in use by process {os.getpid()}"):
            Checkpoint.open(path, IDENTITY)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_every_file_is_private_even_with_umask_0(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp_modes: list[int] = []
    real_replace = os.replace

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        temp_modes.append(stat.S_IMODE(os.stat(src).st_mode))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    old = os.umask(0)
    try:
        with Checkpoint.open(path, IDENTITY) as cp:
            cp.put(record("a"))
            cp.ack("a", 0)
            for p in (path, journal(path), lock_file(path)):
                assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    finally:
        os.umask(old)
    assert temp_modes and set(temp_modes) == {0o600}


# --- compaction --------------------------------------------------------------------


def test_the_journal_is_compacted_after_compact_every_events(path: Path) -> None:
    with Checkpoint.open(path, IDENTITY, compact_every=5) as cp:
        cp.put(record("a"))
        for i in range(3):
            cp.ack("a", i)
        assert len(journal(path).read_bytes().splitlines()) == 5  # header + 4 events
        assert json.loads(path.read_bytes())["items"] == {}
        cp.ack("a", 3)  # the snapshot point; the snapshot is written in a worker thread
        cp.flush()  # which flush waits for
        assert journal(path).stat().st_size == 0
        assert json.loads(path.read_bytes())["items"]["a"]["acked"] == [[0, 3]]
        cp.ack("a", 4)
        assert len(journal(path).read_bytes().splitlines()) == 2


def test_compactions_grow_apart_with_the_items_so_their_cost_stays_linear(path: Path) -> None:
    with Checkpoint.open(path, IDENTITY, compact_every=10) as cp:
        for n in range(1000):
            cp.put(record(f"f{n}"))
            cp._wait()  # each compaction ends before the next event, as with a fast disk
        compactions = json.loads(path.read_bytes())["generation"]
        journal_lines = len(journal(path).read_bytes().splitlines())
    # Every 10 events would be 100 compactions writing 50,000 items in all; as many
    # events as the last snapshot's items between two keeps it to about log2(1000 / 10),
    # and the journal still never grows past the last snapshot's size.
    assert 5 <= compactions <= 10
    assert journal_lines <= 1000 - 640 + 1
    with Checkpoint.open(path, IDENTITY) as cp:
        assert len(list(cp)) == 1000


def test_acknowledged_segments_are_stored_as_ranges(path: Path) -> None:
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.put(record("a"))
        cp.put(record("b"))
        for i in range(1000):
            cp.ack("a", i)
        for i in (7, 0, 1, 2, 5, 4):
            cp.ack("b", i)
        cp.update("b", acked=cp.get("b").acked | {9})  # type: ignore[union-attr]
    items = json.loads(path.read_bytes())["items"]
    assert items["a"]["acked"] == [[0, 999]]
    assert items["b"]["acked"] == [[0, 2], [4, 5], [7, 7], [9, 9]]


def test_a_repeated_acknowledgement_writes_nothing(path: Path) -> None:
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.put(record("a"))
        cp.ack("a", 1)
        size = journal(path).stat().st_size
        cp.ack("a", 1)
        assert journal(path).stat().st_size == size


def test_invalid_changes_are_refused_before_anything_is_written(path: Path) -> None:
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.put(record("a"))
        size = journal(path).stat().st_size
        with pytest.raises(ValueError, match="invalid field 'colour'"):
            cp.update("a", colour="red")
        with pytest.raises(ValueError, match="invalid field 'size'"):
            cp.update("a", size="big")
        with pytest.raises(ValueError, match="segment index"):
            cp.ack("a", -1)
        with pytest.raises(KeyError):
            cp.ack("nobody", 1)
        assert journal(path).stat().st_size == size
        assert cp.get("a") == record("a")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"acked": {0, -1}}, "acked"),
        ({"segment_sha256": {0: "not a hash"}}, "segment_sha256"),
        ({"upload_deadline": math.nan}, "upload_deadline"),
        ({"attempts": -1}, "attempts"),
        ({"params": dataclasses.replace(PARAMS, chunk_size=0)}, "chunk_size"),
        ({"result": finished("a", elapsed_s=math.inf)}, "elapsed_s"),
        ({"result": finished("a", status="done")}, "status"),
        ({"result": finished("a", expires_at=dt.datetime(2030, 1, 1))}, "without a zone"),
        (
            {"result": finished("a", error=ErrorInfo(kind="x", message="y", http_status=1000))},
            "http_status",
        ),
    ],
)
def test_typed_values_a_replay_would_refuse_are_refused_before_anything_is_written(
    path: Path, change: dict[str, Any], named: str
) -> None:
    """Writes are checked on their typed values (no JSON round trip), as strictly."""
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.put(record("a"))
        size = journal(path).stat().st_size
        with pytest.raises(ValueError, match=named):
            cp.update("a", **change)
        with pytest.raises(ValueError, match=named):
            cp.put(record("b", **change))
        assert journal(path).stat().st_size == size
        assert cp.get("a") == record("a") and "b" not in cp


def test_what_is_recorded_is_what_a_replay_reads(path: Path) -> None:
    result = finished(
        "a",
        "failed",
        size=1000,
        attempts=3,
        elapsed_s=1.23456,
        expires_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        error=ErrorInfo(kind="preflight", message="too big", http_status=400),
    )
    with Checkpoint.open(path, IDENTITY) as cp:
        # a failed upload with a session: kept whole, a rerun may continue it
        cp.put(record("a", size=1000.0, media_id="9", upload_deadline=1_900_000_000, acked=[0, 2]))
        cp.update("a", result=result, segment_sha256={0: "0" * 64}, media_expires_at=2_000_000_000)
        cp.put(record("b", params=None, size=0, mtime_ns=0))
        recorded = list(cp)
        cp._abandon()  # the journal alone holds them
    with Checkpoint.open(path, IDENTITY) as cp:
        assert list(cp) == recorded
    a = recorded[0]
    assert a.result is not None and a.result.elapsed_s == 1.235  # as the report line says
    assert (type(a.size), type(a.upload_deadline), a.acked) == (int, float, {0, 2})


# --- disk full ---------------------------------------------------------------------


def enospc(*args: object) -> Any:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_while_compacting_keeps_the_previous_snapshot(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashed_run(path)
    cp = Checkpoint.open(path, IDENTITY)
    cp.ack("b", 1)
    snapshot = path.read_bytes()
    with monkeypatch.context() as m:
        m.setattr(os, "replace", enospc)
        with pytest.raises(CheckpointError, match=r"disk full.*previous snapshot is kept"):
            cp.compact()
        m.setattr(os, "write", enospc)
        with pytest.raises(CheckpointError, match="disk full"):
            cp.close()
    assert path.read_bytes() == snapshot
    # The journal keeps the events the snapshot lacks; the lock file goes all the same.
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "run.checkpoint",
        "run.checkpoint.journal",
    ]
    with Checkpoint.open(path, IDENTITY) as again:
        b = again.get("b")
        assert b is not None and b.acked == {1}


def test_disk_full_while_appending_is_an_error_and_leaves_no_torn_line(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    calls: list[int] = []

    def half_then_full(fd: int, data: Any) -> int:
        calls.append(fd)
        if len(calls) == 1:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with Checkpoint.open(path, IDENTITY) as cp:
        cp.put(record("a"))
        with monkeypatch.context() as m:
            m.setattr(os, "write", half_then_full)
            with pytest.raises(CheckpointError, match=r"disk full.*run\.checkpoint\.journal"):
                cp.ack("a", 1)
        a = cp.get("a")
        assert a is not None and a.acked == set()
        cp.ack("a", 2)
        cp._abandon()
    for line in journal(path).read_bytes().splitlines():
        json.loads(line)
    with Checkpoint.open(path, IDENTITY) as cp:
        a = cp.get("a")
        assert a is not None and a.acked == {2}


# --- status ------------------------------------------------------------------------


def test_summarize_counts_items_by_state_and_bytes(path: Path) -> None:
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.put(record("new"))
        cp.put(record("up1", media_id="1", upload_deadline=1_900_000_100.0))
        cp.put(record("up2", media_id="2", upload_deadline=1_900_000_000.0, size=250))
        for i in (0, 2, 9):
            cp.ack("up1", i)  # 3 × 100 bytes
        cp.ack("up2", 2)  # the last segment: 50 bytes
        cp.put(record("proc", media_id="3", finalized=True, processing="in_progress"))
        cp.put(record("ok", media_id="4", finalized=True, result=finished("ok")))
        cp.put(record("bad", result=finished("bad", "failed")))
        cp._abandon()  # the journal is read too, torn tail and all
    with journal(path).open("ab") as f:
        f.write(b'{"a":"up1"')
    summary = summarize(path, now=1_800_000_000.0)
    assert summary == {
        "path": str(path),
        "endpoint": "https://upload.twitter.com",
        "dialect": "v1.1",
        "items": 6,
        "succeeded": 1,
        "failed": 1,
        "skipped": 0,
        "in_progress": 4,
        "uploading": 2,
        "processing": 1,
        "not_started": 1,
        "bytes_acknowledged": 300 + 50 + 1000 + 1000,
        "bytes_total": 5250,
        "nearest_upload_deadline": "2030-03-17T17:46:40Z",
        "uploads_open": 2,
        "failures": [
            {"kind": "unknown", "count": 1, "example": {"id": "bad", "message": "unknown error"}}
        ],
    }
    later = summarize(path, now=1_900_000_050.0)  # up2's session expired, up1's is open
    assert (later["nearest_upload_deadline"], later["uploads_open"]) == ("2030-03-17T17:48:20Z", 1)


def test_summarize_a_missing_checkpoint_says_so(path: Path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        summarize(path)


# --- cost --------------------------------------------------------------------------


def test_events_cost_is_proportional_to_events_not_items(path: Path) -> None:
    with Checkpoint.open(path, IDENTITY) as cp:
        for n in range(1000):
            cp.put(record(f"f{n}"))
        started = time.perf_counter()
        for index in range(100):
            for n in range(1000):
                cp.ack(f"f{n}", index)
        elapsed = time.perf_counter() - started
        assert journal(path).stat().st_size < 10_000 * 40  # bounded by compact_every
    print(f"100,000 acks over 1,000 items: {elapsed:.2f} s ({elapsed * 10:.1f} µs/ack)")
    with Checkpoint.open(path, IDENTITY) as cp:
        assert all(r.acked == set(range(100)) for r in cp)
    assert cp_module.DEFAULT_COMPACT_EVERY == 10_000


def test_the_hash_of_each_acknowledged_segment_is_kept_through_journal_and_snapshot(
    path: Path,
) -> None:
    sha = {0: "0a" * 32, 2: "2c" * 32}
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.put(record("a"))
        for index, digest in sha.items():
            cp.ack("a", index, digest)
        cp.ack("a", 1)  # acknowledged without a known hash (an older bulkup's journal)
        cp.flush()
        journaled = load(path)  # before the close compacts: from the journal
    assert journaled is not None and journaled.record("a").segment_sha256 == sha
    with Checkpoint.open(path, IDENTITY) as cp:  # after it: from the snapshot
        got = cp.get("a")
        assert got is not None and got.segment_sha256 == sha and got.acked == {0, 1, 2}
    with pytest.raises(ValueError, match="SHA-256"), Checkpoint.open(path, IDENTITY) as cp:
        cp.ack("a", 5, "not a hash")
