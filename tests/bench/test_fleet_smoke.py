"""Benchmark 9 (the fleet on X's limits) runs small and reports its figures.

Real processes against a real Redis: workers sharing one account draw no 429, every
item they report succeeded is byte-exact, and where the app's 24-hour cap binds every
item is accounted for (succeeded, skipped ``rate_capped`` with a ``retry_after``, or
still in the queue). Like the other smoke tests, never how close the fleet comes to
the bound, nor how throughput scales: at this size one window decides both.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.timeout(120)
def test_fleet_benchmark_shares_one_budget_without_429s_and_loses_no_capped_item(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks import fleet

    out = tmp_path / "fleet.json"
    result = fleet.main(["--small", "--json", str(out)])

    saved = json.loads(out.read_text())
    assert saved == result
    images = saved["workload"]["images"]
    assert images == 48  # one window at limits / 50: 10 one-shot beside 38 chunked
    assert [r["workers"] for r in saved["one_account"]] == [1, 2]
    for run in saved["one_account"]:
        assert run["items"] == {"succeeded": images}
        assert run["windows"] >= run["bound_windows"] == 1  # nothing beats the bound
        assert run["responses_429"] == 0  # one shared budget: not one 429
        assert run["byte_exact"] == {"checked": images, "mismatched": 0}
    independent = saved["independent"]
    assert sum(independent["items"].values()) == images  # each shard's items, once
    assert [r["accounts"] for r in saved["accounts"]] == [1, 2]
    for run in saved["accounts"]:
        assert run["items"] == {"succeeded": images}
        assert len(run["windows_by_account"]) == run["accounts"]
        assert run["byte_exact"]["mismatched"] == 0
    cap = saved["app_cap"]
    assert 0 < cap["succeeded"] < images and cap["rate_capped"] > 0
    assert cap["rate_capped_with_retry_after"] == cap["rate_capped"]
    assert cap["succeeded"] + cap["rate_capped"] + cap["in_queue"] == images
    assert saved["app_cap_lost"] == 0 and saved["mismatched"] == 0
    printed = capsys.readouterr().out
    assert "figure" in printed and "shared budget: 429 responses" in printed
    assert f"{images} submitted, {cap['succeeded']} succeeded" in printed
