"""Each benchmark runs at a tiny size and reports, so none of them can rot.

These assert that a benchmark runs and prints its figures, never its speed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import serve_startup


def test_serve_startup_benchmark_runs_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "startup.json"
    result = serve_startup.main(["--runs", "1", "--json", str(out)])
    assert result["runs"] == 1 and result["max_secs"] > 0
    assert json.loads(out.read_text())["target_secs"] == serve_startup.TARGET_SECS
    assert "process start -> first answer" in capsys.readouterr().out


def test_memory_benchmark_runs_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks import memory

    out = tmp_path / "memory.json"
    result = memory.main(["--small-mib", "1", "--large-mib", "4", "--json", str(out)])
    assert result["small_peak_rss_mb"] > 0 and result["large_peak_rss_mb"] > 0
    assert json.loads(out.read_text())["target_ratio"] == memory.TARGET_RATIO
    assert "ratio large / small" in capsys.readouterr().out


def test_wire_benchmark_runs_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks import wire

    out = tmp_path / "wire.json"
    result = wire.main(["--big-mib", "8", "--small", "3", "--rounds", "1", "--json", str(out)])
    assert result["bare_seconds"] > 0 and result["bulkup_seconds"] > 0
    assert json.loads(out.read_text())["target"] == wire.TARGET
    assert "ratio bulkup / bare" in capsys.readouterr().out


def test_hot_path_profile_runs_for_both_contestants_and_ranks_functions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from benchmarks import profile_hotpath

    profile_hotpath.main(["--big-mib", "4", "--small", "2", "--profile", "--top", "5"])
    profile_hotpath.main(["--big-mib", "4", "--small", "2", "--bare"])
    out = capsys.readouterr().out
    assert "bulkup library: 6 MiB in" in out and "bare loop: 6 MiB in" in out
    assert "s/GiB" in out and "tottime" in out  # the CPU figure and the cProfile ranking
