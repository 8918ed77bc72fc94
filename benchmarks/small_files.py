"""Benchmark 4, many small files: bulkup's files per second over a bare aiohttp loop's.

20,000 files of 8 KiB go to one emulator (own process, discard storage, any bytes
accepted, no latency, no rate limits), three times: a bare aiohttp loop, ``bulkup
upload`` without a checkpoint, and ``bulkup upload --checkpoint``. The strategy is
chosen on purpose: ``--strategy chunked`` with the files declared ``image/jpeg`` in
category ``tweet_image``, so each file costs exactly v2 INIT, one APPEND and FINALIZE
(an image's FINALIZE needs no STATUS), and the bare loop makes the same three
requests per file, 8 requests in flight, as 8 workers taking files from a queue.
The emulator's request counts show both made the same requests. The three runs
are repeated ``--rounds`` times (3), each round against a fresh emulator and in a
rotated order, and the figures are medians of the rounds' own ratios: on a machine
shared with other work, one run's wall time is too noisy to judge by.

Targets (issue [5/6]): bulkup at least 0.7 of the bare loop's files per second; the
checkpoint costs at most 10% of the run (time with ``--checkpoint`` over time
without, minus one); reading a 100,000-line manifest with ``bulkup.sources`` takes
under 2 s (the reader stats every file, so the entries name the generated files, in
turn, each under its own id; the median of three reads).

    python benchmarks/small_files.py                      # 20,000 x 8 KiB
    python benchmarks/small_files.py --files 300 --manifest-lines 3000 --rounds 1   # seconds
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks._harness import (
    BEARER,
    FIGURE_HEADER,
    WIRE_PROFILE,
    emulator,
    figure_row,
    inspect,
    manifest,
    met,
    run_upload,
    write_json,
)
from bulkup.core.items import Item
from bulkup.sources import read_manifest

TARGET_RATIO = 0.7
TARGET_CHECKPOINT_OVERHEAD = 0.10
TARGET_MANIFEST_SECS = 2.0
CONCURRENCY = 8
MEDIA_TYPE = "image/jpeg"
CATEGORY = "tweet_image"
READS = 3
ENDPOINTS = ("initialize", "append", "finalize", "status", "upload")


async def bare_upload(url: str, files: list[Path], concurrency: int) -> None:
    """INIT, APPEND, FINALIZE per file, ``concurrency`` files (so requests) at once."""
    headers = {"Authorization": f"Bearer {BEARER}"}
    queue: asyncio.Queue[Path] = asyncio.Queue()
    for path in files:
        queue.put_nowait(path)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(url, connector=connector, headers=headers) as http:

        async def one(path: Path) -> None:
            with path.open("rb") as fh:  # as wire.py's loop reads: 8 KiB from the page cache
                data = fh.read()
            body = {"total_bytes": len(data), "media_type": MEDIA_TYPE, "media_category": CATEGORY}
            async with http.post("/2/media/upload/initialize", json=body) as r:
                r.raise_for_status()
                media_id = (await r.json())["data"]["id"]
            form = aiohttp.FormData()
            form.add_field("segment_index", "0")
            form.add_field("media", data, filename="blob")
            async with http.post(f"/2/media/upload/{media_id}/append", data=form) as r:
                r.raise_for_status()
            async with http.post(f"/2/media/upload/{media_id}/finalize", json={}) as r:
                r.raise_for_status()

        async def worker() -> None:
            while not queue.empty():
                await one(queue.get_nowait())

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def requests_made(url: str, before: dict[str, Any]) -> dict[str, int]:
    """Answered requests per endpoint since the ``before`` stats."""
    after = inspect(url, "stats")["requests"]

    def total(stats: dict[str, Any], endpoint: str) -> int:
        return sum(stats.get(endpoint, {}).values())

    return {e: total(after, e) - total(before, e) for e in ENDPOINTS if total(after, e)}


def make_files(folder: Path, count: int, size: int) -> list[Path]:
    files = []
    for i in range(count):
        path = folder / f"f{i:06d}.jpg"
        path.write_bytes(os.urandom(size))
        files.append(path)
    return files


def time_manifest(folder: Path, files: list[Path], lines: int) -> dict[str, Any]:
    """Seconds to read a ``lines``-entry manifest naming ``files`` in turn: the median
    of :data:`READS` reads, each consuming the items as ``bulkup upload`` does (one at
    a time, none kept)."""
    target = folder / "big-manifest.jsonl"
    with target.open("w") as out:
        for i in range(lines):
            entry = {"path": files[i % len(files)].name, "id": f"item-{i}"}
            out.write(json.dumps({**entry, "media_type": MEDIA_TYPE}) + "\n")
    times = []
    for _ in range(READS):
        started = time.perf_counter()
        items = sum(isinstance(entry, Item) for entry in read_manifest(target))
        times.append(time.perf_counter() - started)
        if items != lines:
            raise SystemExit(f"the manifest gave {items} items of {lines} lines")
    return {"lines": lines, "seconds": statistics.median(times), "all_seconds": times}


def bulkup_args(listing: Path, checkpoint: Path | None) -> list[str]:
    args = [
        str(listing),
        "--strategy",
        "chunked",
        "--concurrency",
        str(CONCURRENCY),
        "--files-in-flight",
        str(CONCURRENCY),
        "--segments-per-file",
        "1",
    ]
    return [*args, "--checkpoint", str(checkpoint)] if checkpoint else args


def run_bare(url: str, files: list[Path]) -> dict[str, Any]:
    cpu = time.process_time()
    started = time.perf_counter()
    asyncio.run(bare_upload(url, files, CONCURRENCY))
    return {"seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu}


def run_bulkup(url: str, listing: Path, checkpoint: Path | None) -> dict[str, Any]:
    run = run_upload(url, bulkup_args(listing, checkpoint))
    if run["exit"] != 0:
        raise SystemExit(f"bulkup upload failed: {run['stderr']}")
    return {"seconds": run["seconds"], "cpu_seconds": run["cpu_seconds"]}


def measure(folder: Path, files: list[Path], round_: int) -> dict[str, Any]:
    """One round: the three runs against a fresh emulator, in an order that rotates
    with ``round_`` so that none always goes first."""
    listing = manifest(folder, files, MEDIA_TYPE, CATEGORY)
    checkpoint = folder / f"run{round_}.ckpt"
    contestants: dict[str, Callable[[str], dict[str, Any]]] = {
        "bare": lambda url: run_bare(url, files),
        "bulkup": lambda url: run_bulkup(url, listing, None),
        "checkpoint": lambda url: run_bulkup(url, listing, checkpoint),
    }
    names = list(contestants)
    order = names[round_ % 3 :] + names[: round_ % 3]
    runs: dict[str, Any] = {}
    with emulator(WIRE_PROFILE) as url:
        for name in order:
            before = inspect(url, "stats")["requests"]
            runs[name] = contestants[name](url)
            runs[name]["requests"] = requests_made(url, before)
    return {name: runs[name] for name in names}


def summarize(rounds: list[dict[str, Any]], files: int) -> dict[str, Any]:
    """Medians over the rounds: of each run's rate and CPU, and of each round's ratios
    (runs side by side in one round share the machine's load of the moment)."""
    names = list(rounds[0])
    ratios = [r["bare"]["seconds"] / r["bulkup"]["seconds"] for r in rounds]
    overheads = [r["checkpoint"]["seconds"] / r["bulkup"]["seconds"] - 1 for r in rounds]
    return {
        "rate": {n: statistics.median(files / r[n]["seconds"] for r in rounds) for n in names},
        "cpu": {n: statistics.median(r[n]["cpu_seconds"] for r in rounds) for n in names},
        "ratio": statistics.median(ratios),
        "overhead": statistics.median(overheads),
        "each_round": [
            {"ratio": round(a, 3), "checkpoint_overhead": round(b, 3)}
            | {f"{n}_seconds": round(r[n]["seconds"], 2) for n in names}
            for a, b, r in zip(ratios, overheads, rounds, strict=True)
        ],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--file-bytes", type=int, default=8 << 10)
    parser.add_argument("--manifest-lines", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the three runs")
    parser.add_argument("--json", type=Path, default=Path(__file__).with_suffix(".json"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = make_files(folder, args.files, args.file_bytes)
        reading = time_manifest(folder, files, args.manifest_lines)
        rounds = [measure(folder, files, i) for i in range(args.rounds)]
    summary = summarize(rounds, args.files)
    rate, ratio, overhead = summary["rate"], summary["ratio"], summary["overhead"]
    runs = rounds[0]
    per_file = {
        name: round(sum(run["requests"].values()) / args.files, 3) for name, run in runs.items()
    }
    result = {
        "files": args.files,
        "file_bytes": args.file_bytes,
        "concurrency": CONCURRENCY,
        "bare_files_per_s": round(rate["bare"], 1),
        "bulkup_files_per_s": round(rate["bulkup"], 1),
        "bulkup_checkpoint_files_per_s": round(rate["checkpoint"], 1),
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "checkpoint_overhead": round(overhead, 3),
        "target_checkpoint_overhead": TARGET_CHECKPOINT_OVERHEAD,
        "manifest_lines": reading["lines"],
        "manifest_secs": round(reading["seconds"], 3),
        "manifest_secs_each_read": [round(t, 3) for t in reading["all_seconds"]],
        "target_manifest_secs": TARGET_MANIFEST_SECS,
        "client_cpu_ms_per_file": {
            name: round(1000 * cpu / args.files, 3) for name, cpu in summary["cpu"].items()
        },
        "rounds": args.rounds,
        "each_round": summary["each_round"],
        "requests": {name: run["requests"] for name, run in runs.items()},
        "requests_per_file": per_file,
        "same_requests": all(
            r["bare"]["requests"] == r[n]["requests"]
            for r in rounds
            for n in ("bulkup", "checkpoint")
        ),
        "meets_targets": ratio >= TARGET_RATIO
        and overhead <= TARGET_CHECKPOINT_OVERHEAD
        and reading["seconds"] < TARGET_MANIFEST_SECS,
    }
    print_table(result)
    write_json(args.json, result)
    return result


def print_table(r: dict[str, Any]) -> None:
    kib = r["file_bytes"] / 1024
    print(
        f"many small files: {r['files']} x {kib:g} KiB, {r['concurrency']} requests in flight, "
        f"medians of {r['rounds']} rounds"
    )
    print(f"{'':<34}{'files/s':>10}{'requests/file':>15}{'CPU ms/file':>13}")
    for label, key, runs in (
        ("bare aiohttp loop", "bare_files_per_s", "bare"),
        ("bulkup upload", "bulkup_files_per_s", "bulkup"),
        ("bulkup upload --checkpoint", "bulkup_checkpoint_files_per_s", "checkpoint"),
    ):
        cpu = r["client_cpu_ms_per_file"][runs]
        print(f"{label:<34}{r[key]:>10}{r['requests_per_file'][runs]:>15}{cpu:>13}")
    print(FIGURE_HEADER)
    ratio, overhead, secs = r["ratio"], r["checkpoint_overhead"], r["manifest_secs"]
    target = r["target_ratio"]
    print(figure_row("ratio bulkup / bare", ratio, f">= {target}", met(ratio, target)))
    target = r["target_checkpoint_overhead"]
    ok = met(overhead, target, at_most=True)
    print(figure_row("checkpoint overhead", overhead, f"<= {target}", ok))
    target = r["target_manifest_secs"]
    label = f"read {r['manifest_lines']}-line manifest (s)"
    print(figure_row(label, secs, f"< {target}", met(secs, target, at_most=True)))
    print(f"same requests as the bare loop: {r['same_requests']}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
