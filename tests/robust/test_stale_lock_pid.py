"""A smaller point of issue [3/6]: a refused checkpoint leaves no stale pid in its lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulkup.run.checkpoint import Checkpoint, CheckpointMismatch, RunIdentity

MINE = RunIdentity(endpoint="http://127.0.0.1:1", dialect="v2", account="oauth1:a")
FOREIGN = RunIdentity(endpoint="http://127.0.0.1:1", dialect="v2", account="oauth1:b")


def test_a_checkpoint_refused_for_another_account_leaves_an_empty_lock(tmp_path: Path) -> None:
    path = tmp_path / "run.ckpt"
    Checkpoint.open(path, MINE).close()
    with pytest.raises(CheckpointMismatch):
        Checkpoint.open(path, FOREIGN)
    assert not (tmp_path / "run.ckpt.lock").exists()  # no pid of a process long gone
