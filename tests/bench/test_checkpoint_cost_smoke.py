"""Benchmark 10 (the checkpoint's cost as a run grows) runs small and reports its figures.

Like the other smoke tests, this asserts that the benchmark runs, writes its JSON and
prints its table beside the targets, and what any size must show: every item reported,
a checkpoint on disk no bigger than its report lines plus 150 bytes an item; never the
memory figures, which at this size are within the noise of RSS.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest


# A hang guard above the default 90 s: its subprocesses are some 13 s of CPU, more than
# a minute when the suite's workers share the cores with other loads.
@pytest.mark.timeout(240)
def test_checkpoint_cost_benchmark_measures_memory_disk_and_opening_at_two_sizes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks import checkpoint_cost

    out = tmp_path / "checkpoint_cost.json"
    result = checkpoint_cost.main(["--small", "--json", str(out)])

    saved = json.loads(out.read_text())
    assert saved == result
    assert [run["items"] for run in saved["runs"]] == list(checkpoint_cost.SMALL_SIZES)
    for run in saved["runs"]:
        assert run["disk_bytes_per_item"] <= run["report_line_bytes"] + 150
        assert 0 < run["open_secs"] < 2
    assert saved["disk_over_report_line"] <= 150
    printed = capsys.readouterr().out
    assert "memory per finished item (B)" in printed and "on disk over the report line" in printed
