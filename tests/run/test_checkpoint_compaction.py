"""A compaction writes the records' JSON kept between compactions: the snapshot is
what the records are, however they changed."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from bulkup.core.records import record_to_json
from bulkup.run import checkpoint_snapshot
from bulkup.run.checkpoint import Checkpoint
from tests.run.test_checkpoint import IDENTITY, PARAMS, finished, record


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
        assert json.loads(path.read_bytes())["items"] == {r.id: record_to_json(r) for r in cp}
        events.many(3)
        cp.compact()
        assert json.loads(path.read_bytes())["items"] == {r.id: record_to_json(r) for r in cp}
