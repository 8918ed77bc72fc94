"""The sweep (benchmarks/sweep.py) and the charts run small and report.

Like the other smoke tests, these assert that the benchmark runs, writes its JSON, its
table and its chart, and keeps the memory bound; never which point is fastest.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

PNG = b"\x89PNG\r\n\x1a\n"


def png_under_100_kb(path: Path) -> bool:
    data = path.read_bytes()
    return data.startswith(PNG) and len(data) < 100_000


def test_sweep_measures_every_point_on_three_corpora_within_the_memory_bound_and_draws_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks import sweep

    out = tmp_path / "sweep.json"
    result = sweep.main(["--small", "--json", str(out)])

    saved = json.loads(out.read_text())
    assert saved == result
    assert list(saved["corpora"]) == ["mixed", "images", "videos"]
    assert saved["corpora"]["mixed"]["files"] == 5  # 2 videos and 3 images
    assert len(saved["points"]) == 2 and saved["rounds"] == 1
    for point in saved["points"]:
        assert point["concurrency"] * saved["chunk_bytes"] <= saved["memory_bound_bytes"]
        for figures in point["corpora"].values():
            assert figures["mib_per_s"] > 0 and len(figures["seconds"]) == 1
    best = max(saved["points"], key=lambda p: p["score"])
    assert saved["best"] == sweep._knobs(best)
    printed = capsys.readouterr().out
    assert "score" in printed and "best: --concurrency" in printed
    assert png_under_100_kb(tmp_path / "charts" / "sweep.png")


def test_sweep_grid_keeps_chunk_buffers_at_or_under_64_mib() -> None:
    from benchmarks import sweep
    from bulkup.core.steps import DEFAULT_CHUNK_BYTES

    points = sweep.FULL.points()
    assert points and all(c * DEFAULT_CHUNK_BYTES <= 64 << 20 for c, _, _ in points)
    assert max(c for c, _, _ in points) == 16  # 16 x 4 MiB: the bound itself is measured


def test_budget_chart_draws_each_window_of_each_corpus_from_benchmark_8s_json(
    tmp_path: Path,
) -> None:
    from benchmarks import charts

    limits = {"upload": 25, "initialize": 93, "append": 93, "finalize": 93, "status": 50}
    run = {
        "corpus": "mixed",
        "limits": limits,
        "window_use": {"upload": [25, 25, 3], "append": [93, 40, 0], "status": [3]},
        "bulkup_windows": 3,
        "bound_windows": 2,
    }
    out = tmp_path / "budget_day.png"
    written = charts.main(
        ["budget_day", str(_saved(tmp_path, {"runs": [run, run]})), "--out", str(out)]
    )

    assert written == out and png_under_100_kb(out)


def test_peers_chart_draws_every_contestants_time(tmp_path: Path) -> None:
    from benchmarks import charts

    result = {
        "bytes": 3 << 20,
        "labels": {"tweepy": "tweepy, one at a time", "bulkup": "bulkup, defaults"},
        "seconds": {"tweepy": 12.5, "bulkup": 1.25},
    }
    out = tmp_path / "peers.png"
    written = charts.main(["peers", str(_saved(tmp_path, result)), "--out", str(out)])

    assert written == out and png_under_100_kb(out)


def _saved(folder: Path, result: dict[str, object]) -> Path:
    path = folder / "result.json"
    path.write_text(json.dumps(result))
    return path
