"""Benchmark 10, the checkpoint's cost as a run grows: memory, disk and opening time.

Measured with real runs, no synthetic records: ``bulkup upload`` (the command line,
in its own process) sends N one-kilobyte files to one emulator (own process, discard
storage, media checks off, no latency, no rate limits; ``--strategy chunked``, so
each file is INIT, APPEND and FINALIZE, as benchmark 4 sends them), at two sizes, N =
10,000 and 100,000 (``--small``: 100 and 500). At each size it measures:

- the peak RSS of the run with ``--checkpoint`` and of the same run without it
  (``wait4``, as benchmark 3 does), and so the checkpoint's own memory: the
  difference. The cost per finished item is the slope of a line through the two
  sizes (what the checkpoint's memory grows by per item; what every run pays whatever
  its size is left out, as it should);
- the checkpoint's size on disk after the run, per item, beside the item's report
  line (the ``--report`` file's bytes per line);
- the time to open that checkpoint: ``Checkpoint.open`` (load and check; a
  checkpoint a run closed cleanly is not written again), in a fresh process, the
  median of three, in CPU seconds of that process (the files are in the page cache:
  opening is all CPU, and CPU seconds do not count what other programs on the machine
  do; the wall-clock time is printed beside them); and the resident memory
  the open checkpoint holds (RSS while it is open minus before opening it): what a
  rerun keeps for the N finished items. The memory per finished item is the slope of
  that figure. The peak RSS of the runs is shown too, but it says little of the
  checkpoint: a run's peak comes before most items finished (at 100,000 files the
  run without a checkpoint peaks at the same figure as the one with it).

Targets (issue [5/6]): under 500 bytes of memory per finished item; on disk no more
than the item's report line plus 150 bytes; peak memory at 100,000 items under
120 MB; a 100,000-item checkpoint opened in under 2 s.

    python benchmarks/checkpoint_cost.py             # 10,000 and 100,000 files (~6 min)
    python benchmarks/checkpoint_cost.py --small     # 100 and 500 files (seconds)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._harness import (
    FIGURE_HEADER,
    WIRE_PROFILE,
    emulator,
    figure_row,
    manifest,
    met,
    run_cli,
    upload_command,
    upload_env,
    write_json,
)

TARGET_BYTES_PER_ITEM = 500
TARGET_DISK_OVER_LINE = 150
TARGET_PEAK_MB = 120.0
TARGET_OPEN_SECS = 2.0
FILE_BYTES = 1024
SIZES = (10_000, 100_000)
SMALL_SIZES = (100, 500)
OPENS = 3

#: Run in a fresh process: open the checkpoint given, close it; print the CPU seconds
#: (the process's own: what other programs on the machine do does not count), the
#: resident memory the open checkpoint held (RSS while open minus before), and the
#: wall-clock seconds.
_OPEN_SCRIPT = """
import gc, json, os, sys, time
from pathlib import Path
from bulkup.run.checkpoint import Checkpoint, RunIdentity
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
path = Path(sys.argv[1])
head = path.read_bytes()[:4096].decode(errors="replace")
at = head.index('"identity":') + len('"identity":')
identity = RunIdentity(**json.JSONDecoder().raw_decode(head, at)[0])
gc.collect()
before = rss()
started, cpu = time.perf_counter(), time.process_time()
checkpoint = Checkpoint.open(path, identity)
seconds, wall = time.process_time() - cpu, time.perf_counter() - started
gc.collect()
held = rss() - before
checkpoint.close()
print(seconds, held, wall)
"""


def make_files(folder: Path, count: int) -> list[Path]:
    folder.mkdir(exist_ok=True)
    payload = os.urandom(FILE_BYTES)
    files = []
    for i in range(count):
        path = folder / f"f{i:06d}.jpg"
        path.write_bytes(payload[i % 64 :] + payload[: i % 64])
        files.append(path)
    return files


def upload(url: str, listing: Path, report: Path, checkpoint: Path | None) -> dict[str, Any]:
    args = [str(listing), "--no-preflight", "--report", str(report), "--strategy", "chunked"]
    if checkpoint is not None:
        args += ["--checkpoint", str(checkpoint)]
    run = run_cli(upload_command(url, args), upload_env())
    if run["exit"] != 0:
        raise SystemExit(f"bulkup upload failed ({run['exit']}): {run['stderr'][-2000:]}")
    return run


def open_checkpoint(checkpoint: Path) -> tuple[float, int, float]:
    """The median CPU seconds to open it, the memory it held open (the last open's),
    and the median wall-clock seconds."""
    times, walls, held = [], [], 0
    for _ in range(OPENS):
        out = subprocess.run(
            [sys.executable, "-c", _OPEN_SCRIPT, str(checkpoint)],
            capture_output=True,
            text=True,
            check=True,
        )
        seconds, held_text, wall = out.stdout.split()
        times.append(float(seconds))
        walls.append(float(wall))
        held = int(held_text)
    return float(statistics.median(times)), held, float(statistics.median(walls))


def measure(url: str, folder: Path, files: list[Path]) -> dict[str, Any]:
    """One size: the run with and without a checkpoint, the file, and opening it."""
    n = len(files)
    listing = manifest(folder, files, "image/jpeg", "tweet_image")
    checkpoint = folder / f"run{n}.ckpt"
    report = folder / f"report{n}.jsonl"
    plain = upload(url, listing, folder / f"plain{n}.jsonl", None)
    kept = upload(url, listing, report, checkpoint)
    lines = report.read_bytes().count(b"\n")
    if lines != n:
        raise SystemExit(f"the report has {lines} lines for {n} files")
    disk = checkpoint.stat().st_size
    seconds, held, wall = open_checkpoint(checkpoint)
    return {
        "items": n,
        "peak_rss_mb_without": round(plain["peak_rss_mb"], 1),
        "peak_rss_mb": round(kept["peak_rss_mb"], 1),
        "checkpoint_mb": round(kept["peak_rss_mb"] - plain["peak_rss_mb"], 1),
        "seconds": round(kept["seconds"], 2),
        "disk_bytes": disk,
        "disk_bytes_per_item": round(disk / n, 1),
        "report_line_bytes": round(report.stat().st_size / n, 1),
        "open_secs": round(seconds, 3),
        "open_wall_secs": round(wall, 3),
        "held_open_mb": round(held / (1 << 20), 2),
    }


def fit(small: dict[str, float], large: dict[str, float]) -> dict[str, float]:
    """Slopes of the lines through the two sizes, per item."""
    items = large["items"] - small["items"]

    def slope(key: str, scale: float) -> float:
        change: float = large[key] - small[key]
        return round(change * scale / items, 1)

    return {
        "memory_bytes_per_item": slope("held_open_mb", 1 << 20),
        "run_peak_bytes_per_item": slope("checkpoint_mb", 1 << 20),
        "run_memory_bytes_per_item": slope("peak_rss_mb", 1 << 20),
        "disk_bytes_per_item": slope("disk_bytes", 1),
        "open_us_per_item": slope("open_secs", 1e6),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true", help="100 and 500 files (seconds)")
    parser.add_argument("--json", type=Path, default=Path(__file__).with_suffix(".json"))
    args = parser.parse_args(argv)
    sizes = SMALL_SIZES if args.small else SIZES
    with tempfile.TemporaryDirectory() as tmp, emulator(WIRE_PROFILE) as url:
        folder = Path(tmp)
        files = make_files(folder / "files", max(sizes))
        runs = [measure(url, folder, files[:n]) for n in sizes]
    result = judge(runs)
    print_table(result)
    write_json(args.json, result)
    return result


def judge(runs: list[dict[str, Any]]) -> dict[str, Any]:
    small, large = runs
    slopes = fit(small, large)
    over_line = large["disk_bytes_per_item"] - large["report_line_bytes"]
    return {
        "file_bytes": FILE_BYTES,
        "runs": runs,
        **slopes,
        "disk_over_report_line": round(over_line, 1),
        "peak_rss_mb_largest": large["peak_rss_mb"],
        "open_secs_largest": large["open_secs"],
        "targets": {
            "memory_bytes_per_item": TARGET_BYTES_PER_ITEM,
            "disk_over_report_line": TARGET_DISK_OVER_LINE,
            "peak_rss_mb_at_100000": TARGET_PEAK_MB,
            "open_secs_at_100000": TARGET_OPEN_SECS,
        },
        "meets_targets": slopes["memory_bytes_per_item"] < TARGET_BYTES_PER_ITEM
        and over_line <= TARGET_DISK_OVER_LINE
        and large["peak_rss_mb"] < TARGET_PEAK_MB
        and large["open_secs"] < TARGET_OPEN_SECS,
    }


def print_table(r: dict[str, Any]) -> None:
    print(f"checkpoint cost: {' and '.join(str(run['items']) for run in r['runs'])} files of 1 KiB")
    print(f"{'items':>8}{'RSS MB':>9}{'no ckpt':>9}{'ckpt MB':>9}{'disk B/item':>13}", end="")
    print(f"{'line B':>9}{'open s':>9}{'open MB':>9}{'run s':>8}")
    for run in r["runs"]:
        print(
            f"{run['items']:>8}{run['peak_rss_mb']:>9}{run['peak_rss_mb_without']:>9}"
            f"{run['checkpoint_mb']:>9}{run['disk_bytes_per_item']:>13}"
            f"{run['report_line_bytes']:>9}{run['open_secs']:>9}{run['held_open_mb']:>9}"
            f"{run['seconds']:>8}"
        )
    print(FIGURE_HEADER)
    per_item, target = r["memory_bytes_per_item"], TARGET_BYTES_PER_ITEM
    ok = met(per_item, target, at_most=True)
    print(figure_row("memory per finished item (B)", per_item, f"< {target}", ok))
    over, target = r["disk_over_report_line"], TARGET_DISK_OVER_LINE
    ok = met(over, target, at_most=True)
    print(figure_row("on disk over the report line (B)", over, f"<= {target}", ok))
    items = r["runs"][-1]["items"]
    peak, target_mb = r["peak_rss_mb_largest"], TARGET_PEAK_MB
    ok = met(peak, target_mb, at_most=True)
    print(figure_row(f"peak RSS at {items} items (MB)", peak, f"< {target_mb:g}", ok))
    secs, target_s = r["open_secs_largest"], TARGET_OPEN_SECS
    ok = met(secs, target_s, at_most=True)
    wall = r["runs"][-1]["open_wall_secs"]
    print(figure_row(f"open at {items} items (CPU s)", secs, f"< {target_s:g}", ok))
    print(f"(the open took {wall} s of wall-clock time)")
    print(
        f"(peak RSS with the checkpoint minus without: {r['run_peak_bytes_per_item']} B per "
        f"item; the whole run's peak grows by {r['run_memory_bytes_per_item']} B per item)"
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
