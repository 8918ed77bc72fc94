"""Benchmarks 1, 4, 5 and 6 of issue [5/6] run at a tiny size and report their figures.

Like test_benchmarks_smoke.py, these assert that each benchmark runs, writes its JSON
and prints its table, and that what it uploaded landed byte-exact; never its speed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_small_files_benchmark_makes_the_bare_loops_requests_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks import small_files

    out = tmp_path / "small.json"
    args = ["--files", "60", "--manifest-lines", "500", "--rounds", "2"]
    result = small_files.main([*args, "--json", str(out)])

    saved = json.loads(out.read_text())
    assert saved == result
    assert saved["same_requests"]
    assert saved["requests_per_file"] == {"bare": 3.0, "bulkup": 3.0, "checkpoint": 3.0}
    assert saved["ratio"] > 0 and saved["manifest_secs"] > 0
    assert "checkpoint_overhead" in saved and saved["manifest_lines"] == 500
    assert len(saved["each_round"]) == 2
    assert "ratio bulkup / bare" in capsys.readouterr().out


def test_ratelimited_benchmark_reports_every_window_and_lands_byte_exact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks import ratelimited

    out = tmp_path / "ratelimited.json"
    args = ["--append-budget", "24", "--time-scale", "1500", "--chunk-kib", "1", "--windows", "2.5"]
    result = ratelimited.main([*args, "--json", str(out)])

    saved = json.loads(out.read_text())
    assert saved == result
    assert saved["appends"] > 2 * 24  # the job needs three windows at least
    assert saved["windows"] >= 3 and len(saved["append_windows"]) == saved["windows"]
    assert sum(saved["append_windows"]) == saved["appends"] - saved["responses_429"]
    assert saved["byte_exact"] == {"checked": saved["files"], "mismatched": 0}
    assert "least budget share, full windows" in capsys.readouterr().out


def test_resume_benchmark_kills_resumes_and_lands_byte_exact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks import resume

    out = tmp_path / "resume.json"
    args = ["--size-mib", "4", "--chunk-kib", "128", "--bandwidth-mib", "1"]
    result = resume.main([*args, "--json", str(out)])

    saved = json.loads(out.read_text())
    assert saved == result
    assert 0 < saved["killed_at_fraction"] < 1
    assert saved["bytes_received_total"] >= saved["size_bytes"]
    assert saved["bytes_sent_again_target"] == 4 * 128 * 1024
    assert saved["initialize_requests"] == 1  # the same media id, resumed
    assert saved["byte_exact"] == {"checked": 1, "mismatched": 0}
    assert "sent again beyond the remainder" in capsys.readouterr().out


def test_checkpoint_stall_benchmark_replays_a_run_and_reports_the_longest_stall(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks import checkpoint_stall

    out = tmp_path / "stall.json"
    result = checkpoint_stall.main(["--items", "300", "--json", str(out)])

    assert json.loads(out.read_text()) == result
    assert result["items"] == 300 and result["max_stall_ms"] >= result["median_stall_ms"] >= 0
    assert "max_stall_ms" in capsys.readouterr().out
