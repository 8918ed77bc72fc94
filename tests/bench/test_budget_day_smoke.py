"""Benchmark 8 (a day on X's limits) runs small and reports its figures.

Like the other smoke tests, this asserts that the benchmark runs, writes its JSON,
prints its table and that what it uploaded landed byte-exact; never how close bulkup
comes to the bound.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_budget_day_benchmark_counts_windows_against_the_bound_and_lands_byte_exact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks import budget_day

    out = tmp_path / "budget_day.json"
    result = budget_day.main(["--small", "--json", str(out)])

    saved = json.loads(out.read_text())
    assert saved == result
    mixed, images = saved["runs"]
    assert (mixed["corpus"], images["corpus"]) == ("mixed", "images")
    # 100 images (25 with alt text) and 3 videos; 95 images; limits / 20
    assert mixed["workload"]["images_with_alt_text"] == 25
    assert (mixed["bound_windows"], mixed["oneshot_windows"]) == (1, 4)
    assert (images["bound_windows"], images["oneshot_windows"]) == (1, 4)
    for run in saved["runs"]:
        assert run["bulkup_windows"] >= run["bound_windows"]  # nothing beats the bound
        assert run["byte_exact"]["mismatched"] == 0
        work = run["workload"]
        assert run["byte_exact"]["checked"] == work["images"] + work["videos"]
        assert run["requests"].get("metadata", 0) == work["images_with_alt_text"]
        assert run["of_bound"] == round(run["bound_windows"] / run["bulkup_windows"], 3)
    assert saved["responses_429"] == sum(r["responses_429"] for r in saved["runs"])
    printed = capsys.readouterr().out
    assert "bulkup / bound, least" in printed and "images: bulkup vs one-shot" in printed
