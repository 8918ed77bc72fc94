"""Benchmark 3, memory: peak RSS of `bulkup upload` for a large file over a small one.

Targets (issue [5/6]): peak RSS for the large file at most 1.15x that for the small
one at the same settings, and under 150 MB. Chunks are read only when their request
is sent, so memory should not grow with the file size.

    python benchmarks/memory.py                  # 2 GiB vs 64 MiB
    python benchmarks/memory.py --large-mib 256  # quicker
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._harness import (
    WIRE_PROFILE,
    emulator,
    manifest,
    run_upload,
    sparse_file,
    write_json,
)

TARGET_RATIO = 1.15
TARGET_PEAK_MB = 150.0


def measure(url: str, folder: Path, size: int, name: str) -> dict[str, Any]:
    file = sparse_file(folder / f"{name}.bin", size)
    run = run_upload(url, [str(manifest(folder, [file], "video/mp4", "amplify_video"))])
    if run["exit"] != 0:
        raise SystemExit(f"upload of {name} failed: {run['stderr']}")
    return run


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small-mib", type=int, default=64)
    parser.add_argument("--large-mib", type=int, default=2048)
    parser.add_argument("--json", type=Path, default=Path(__file__).with_suffix(".json"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, emulator(WIRE_PROFILE) as url:
        small = measure(url, Path(tmp), args.small_mib << 20, "small")
        large = measure(url, Path(tmp), args.large_mib << 20, "large")
    ratio = large["peak_rss_mb"] / small["peak_rss_mb"]
    result = {
        "small_mib": args.small_mib,
        "large_mib": args.large_mib,
        "small_peak_rss_mb": round(small["peak_rss_mb"], 1),
        "large_peak_rss_mb": round(large["peak_rss_mb"], 1),
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "target_peak_mb": TARGET_PEAK_MB,
        "large_seconds": round(large["seconds"], 2),
        "meets_targets": ratio <= TARGET_RATIO and large["peak_rss_mb"] < TARGET_PEAK_MB,
    }
    print(f"{'memory':<34}{'value':>12}{'target':>12}")
    print(
        f"{'peak RSS, ' + str(args.small_mib) + ' MiB file':<34}"
        f"{result['small_peak_rss_mb']:>10.1f}MB{'':>12}"
    )
    print(
        f"{'peak RSS, ' + str(args.large_mib) + ' MiB file':<34}"
        f"{result['large_peak_rss_mb']:>10.1f}MB{TARGET_PEAK_MB:>10.0f}MB"
    )
    print(f"{'ratio large / small':<34}{ratio:>12.3f}{TARGET_RATIO:>12.2f}")
    write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
