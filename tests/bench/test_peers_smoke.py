"""Benchmark 1 (benchmarks/peers.py) runs small: every contestant lands byte-exact.

Asserts that it runs bulkup with its defaults against tweepy and xdk, writes its JSON,
prints each speed-up beside its target and draws its chart; never the speed-ups.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.timeout(240)
def test_peers_benchmark_lands_every_contestants_files_byte_exact_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("tweepy")
    pytest.importorskip("matplotlib")
    from benchmarks import peers

    out = tmp_path / "peers.json"
    args = ["--videos", "1", "--video-kib", "96", "--images", "2", "--image-kib", "16"]
    # disk storage: the emulator probes the padded video with PyAV, so it must be valid
    result = peers.main([*args, "--rounds", "1", "--storage", "disk", "--json", str(out)])

    saved = json.loads(out.read_text())
    assert saved == result
    assert saved["byte_exact"] == dict.fromkeys(peers.CONTESTANTS, 3)
    assert set(saved["responses_429"]) == set(peers.CONTESTANTS)
    assert set(saved["speedups"]) == {"tweepy", "tweepy_threads", "xdk", "xdk_threads"}
    for peer, figure in saved["speedups"].items():
        assert figure["value"] > 0 and figure["target"] == peers.target(peer)
        assert figure["met"] == (figure["value"] >= figure["target"])
    assert peers.target("xdk") == 10 and peers.target("xdk_threads") == 2
    for name in ("xdk", "xdk_threads"):  # images one-shot; the video INIT, APPEND, FINALIZE, STATUS
        assert saved["requests"][name] == {
            "upload": 2,
            "initialize": 1,
            "append": 1,
            "finalize": 1,
            "status": 1,
        }, name
    assert saved["cpu_s_per_gib"]["bulkup"] > 0
    table = capsys.readouterr().out
    assert "bulkup upload (v2), defaults" in table and "xdk (v2), 8 threads" in table
    assert "tweepy (v1.1), one at a time" in table and ">= 10x" in table and ">= 2x" in table
    assert (tmp_path / "charts" / "peers.png").read_bytes().startswith(b"\x89PNG")


def test_peers_benchmark_runs_bulkup_with_no_option_that_changes_its_defaults() -> None:
    import inspect

    from benchmarks import peers

    source = inspect.getsource(peers.run_bulkup)
    for option in ("--concurrency", "--files-in-flight", "--segments-per-file", "--chunk-size"):
        assert option not in source
