"""Benchmark 5, rate-limited: how much of each window's budget bulkup spends, without 429s.

The emulator (own process, discard storage, any bytes accepted, processing done at
once) enforces the published v2 limits per 15-minute window, time-scaled so that a
window lasts a few seconds (``--time-scale 100``: 9 s). The job is files of 16
chunks of 16 KiB, enough of them to need about 3.5 windows of APPEND, the binding
endpoint (INIT and FINALIZE need one request per file, far below their budgets).
``bulkup upload`` paces itself from the ``x-rate-limit-*`` headers; the emulator's
``rate_windows`` statistics give the APPENDs it accepted in every window.

Targets (issue [5/6]): in every window but the last (where the job runs out of
work), APPENDs accepted at least 95% of the budget; no 429 answer on any endpoint.
Every media id is checked SHA-256-exact against its file.

    python benchmarks/ratelimited.py                 # published budget 1875 APPENDs, 9 s windows
    python benchmarks/ratelimited.py --append-budget 40 --time-scale 1500 --chunk-kib 1
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._harness import (
    FIGURE_HEADER,
    byte_exact,
    emulator,
    figure_row,
    inspect,
    manifest,
    met,
    report_media_ids,
    run_upload,
    sparse_file,
    wire_profile,
    write_json,
)
from bulkup.core import spec

TARGET_USAGE = 0.95
TARGET_429 = 0
SEGMENTS_PER_FILE = 16


def profile(time_scale: float, append_budget: int) -> str:
    limits = (
        f"enabled = true\ntime_scale = {time_scale}\n[limits.per_window]\nappend = {append_budget}"
    )
    return wire_profile(limits=limits)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--time-scale", type=float, default=100.0)
    parser.add_argument("--append-budget", type=int, default=spec.RATE_LIMITS["append"])
    parser.add_argument("--windows", type=float, default=3.5, help="APPEND windows the job needs")
    parser.add_argument("--chunk-kib", type=int, default=16)
    parser.add_argument("--json", type=Path, default=Path(__file__).with_suffix(".json"))
    args = parser.parse_args(argv)
    budget = args.append_budget
    files_needed = math.ceil(args.windows * budget / SEGMENTS_PER_FILE)
    chunk = args.chunk_kib << 10
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = [
            sparse_file(folder / f"r{i:05d}.mp4", SEGMENTS_PER_FILE * chunk)
            for i in range(files_needed)
        ]
        listing = manifest(folder, files, "video/mp4", "amplify_video")
        report = folder / "report.jsonl"
        with emulator(profile(args.time_scale, budget)) as url:
            run = run_upload(
                url,
                [
                    str(listing),
                    "--report",
                    str(report),
                    "--chunk-size",
                    f"{args.chunk_kib}KiB",
                    "--concurrency",
                    "8",
                    "--files-in-flight",
                    "8",
                    "--segments-per-file",
                    "4",
                ],
            )
            if run["exit"] != 0:
                raise SystemExit(f"bulkup upload failed: {run['stderr']}")
            stats = inspect(url, "stats")
            exact = byte_exact(url, report_media_ids(report))
    used = [w["used"] for w in stats["rate_windows"]["append"]]
    full = used[:-1]
    usage = min(full) / budget if full else 0.0
    refused = sum(counts.get("429", 0) for counts in stats["requests"].values())
    result = {
        "files": files_needed,
        "file_bytes": SEGMENTS_PER_FILE * chunk,
        "append_budget": budget,
        "time_scale": args.time_scale,
        "window_secs": round(spec.RATE_WINDOW_SECS / args.time_scale, 3),
        "appends": sum(stats["requests"]["append"].values()),
        "append_windows": used,
        "windows": len(used),
        "min_usage_full_windows": round(usage, 4),
        "target_usage": TARGET_USAGE,
        "responses_429": refused,
        "target_429": TARGET_429,
        "requests": stats["requests"],
        "seconds": round(run["seconds"], 2),
        "byte_exact": {"checked": exact["checked"], "mismatched": len(exact["mismatched"])},
        "meets_targets": len(used) >= 3 and usage >= TARGET_USAGE and refused == TARGET_429,
    }
    print_table(result)
    write_json(args.json, result)
    return result


def print_table(r: dict[str, Any]) -> None:
    print(
        f"rate-limited: {r['files']} files of {SEGMENTS_PER_FILE} chunks, APPEND budget "
        f"{r['append_budget']} per {r['window_secs']} s window, {r['seconds']} s in all"
    )
    print(f"APPENDs accepted per window: {r['append_windows']}")
    usage, target = r["min_usage_full_windows"], r["target_usage"]
    refused, windows = r["responses_429"], r["windows"]
    print(FIGURE_HEADER)
    print(figure_row("least budget share, full windows", usage, f">= {target}", met(usage, target)))
    print(figure_row("429 responses", refused, "= 0", met(refused, 0, at_most=True)))
    print(figure_row("windows of APPEND", windows, ">= 3", met(windows, 3)))
    exact = r["byte_exact"]
    print(f"byte-exact: {exact['checked'] - exact['mismatched']} of {exact['checked']} media ids")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
