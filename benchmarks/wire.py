"""Benchmark 2, against the wire: bulkup's throughput over a bare aiohttp loop's.

Both upload the same files with the same chunk size and the same number of requests
in flight, to the same emulator (own process, discard storage, no latency): v2 INIT,
APPENDs, FINALIZE. The bare loop does nothing else (no checkpoint, no retries, no
pacing, no reading ahead limits, no STATUS poll), so the ratio is what bulkup's
machinery costs. Target (issue [5/6]): at least 0.85. Also reports client CPU
seconds per GiB.

How it is timed, so that neither side is favoured: each contestant runs in a fresh
Python process of its own, timed from process start to exit, with its CPU time
(user + system) taken from that process's resource usage. So both pay for the
interpreter and their imports: bulkup for ``bulkup upload`` (the CLI a user runs),
the bare loop for aiohttp. The headline ratio is of these end-to-end times. A
second ratio times only the transfer, inside each process (after the imports):
the bare loop against :class:`bulkup.Uploader` used as a library with the same
settings, which is the machinery alone, without start-up. Each of ``--rounds``
rounds runs the contestants back to back, in an order that alternates between
rounds; the figures are medians over the rounds.

Read the ratio knowing that the emulator is the bottleneck: it keeps one core busy
(two SHA-256 passes over every byte, even in discard mode), so a contestant's time
is mostly the emulator's work for it (bulkup's STATUS polls add some) plus whatever
client CPU competes with it for the machine's cores.

    python benchmarks/wire.py                       # 1 GiB + 200 x 1 MiB, 3 rounds
    python benchmarks/wire.py --big-mib 64 --small 20 --rounds 1
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

# Only the standard library and aiohttp at the top: the bare contestant's process
# imports this module and must not pay for importing bulkup (``benchmarks._harness``
# does), so the harness is imported where the parent process needs it.

TARGET = 0.85
CHUNK = 4 << 20
CONCURRENCY = 8
FILES_IN_FLIGHT = 8


async def bare_upload(
    url: str, token: str, files: list[Path], concurrency: int, chunk: int
) -> None:
    """The simplest correct v2 chunked uploader: what bulkup is measured against."""
    headers = {"Authorization": f"Bearer {token}"}
    slots = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(url, connector=connector, headers=headers) as http:

        async def append(media_id: str, path: Path, index: int) -> None:
            async with slots:
                with path.open("rb") as fh:
                    fh.seek(index * chunk)
                    data = fh.read(chunk)
                form = aiohttp.FormData()
                form.add_field("segment_index", str(index))
                form.add_field("media", io.BytesIO(data), filename="blob")
                async with http.post(f"/2/media/upload/{media_id}/append", data=form) as r:
                    r.raise_for_status()

        async def one(path: Path, size: int) -> None:
            body = {
                "total_bytes": size,
                "media_type": "video/mp4",
                "media_category": "amplify_video",
            }
            async with slots, http.post("/2/media/upload/initialize", json=body) as r:
                media_id = (await r.json())["data"]["id"]
            segments = -(-size // chunk)
            await asyncio.gather(*(append(media_id, path, i) for i in range(segments)))
            async with slots, http.post(f"/2/media/upload/{media_id}/finalize", json={}) as r:
                r.raise_for_status()

        await asyncio.gather(*(one(p, p.stat().st_size) for p in files))


async def library_upload(url: str, token: str, files: list[Path]) -> None:
    """bulkup as a library, with the options the CLI contestant is given."""
    from bulkup import BearerAuth, Item, UploadConfig, Uploader

    config = UploadConfig(
        api="v2",
        endpoint=url,
        concurrency=CONCURRENCY,
        files_in_flight=FILES_IN_FLIGHT,
        segments_per_file=CONCURRENCY,
        chunk_size=CHUNK,
        preflight=False,
    )
    items = [
        Item(id=str(f), path=f, media_type="video/mp4", media_category="amplify_video")
        for f in files
    ]
    async with Uploader(config, auth=BearerAuth(token)) as up:
        async for result in up.upload_many(items):
            if not result.ok:
                raise SystemExit(f"{result.id}: {result.error}")


def _worker(kind: str, url: str, listing: Path) -> None:
    """In a contestant's own process: upload, print the transfer's time and CPU time."""
    files = [Path(line) for line in listing.read_text().splitlines()]
    token = os.environ["X_BEARER_TOKEN"]
    cpu = time.process_time()  # every thread of the process, user + system
    started = time.perf_counter()
    if kind == "bare":
        asyncio.run(bare_upload(url, token, files, CONCURRENCY, CHUNK))
    else:
        asyncio.run(library_upload(url, token, files))
    seconds = time.perf_counter() - started
    print(json.dumps({"transfer_seconds": seconds, "transfer_cpu": time.process_time() - cpu}))


def _run_worker(kind: str, url: str, listing: Path) -> dict[str, Any]:
    """Run :func:`_worker` in a fresh process, timed from process start to exit."""
    from benchmarks._harness import BEARER

    command = [sys.executable, "-m", "benchmarks.wire", "--worker", kind, url, str(listing)]
    env = {**os.environ, "X_BEARER_TOKEN": BEARER}
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.stdout.close()
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, not by Popen
    if proc.returncode != 0:
        raise SystemExit(f"the {kind} contestant failed")
    return {
        "seconds": elapsed,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        **json.loads(out.splitlines()[-1]),
    }


def _run_cli(url: str, manifest_path: Path) -> dict[str, Any]:
    from benchmarks._harness import run_upload

    run = run_upload(
        url,
        [
            str(manifest_path),
            "--chunk-size",
            str(CHUNK),
            "--concurrency",
            str(CONCURRENCY),
            "--files-in-flight",
            str(FILES_IN_FLIGHT),
            "--segments-per-file",
            str(CONCURRENCY),
        ],
    )
    if run["exit"] != 0:
        raise SystemExit(f"bulkup upload failed: {run['stderr']}")
    return run


def _rounds(url: str, folder: Path, files: list[Path], rounds: int) -> list[dict[str, Any]]:
    from benchmarks._harness import manifest

    listing = folder / "files.txt"
    listing.write_text("".join(f"{f}\n" for f in files))
    manifest_path = manifest(folder, files, "video/mp4", "amplify_video")
    contestants = {
        "bare": lambda: _run_worker("bare", url, listing),
        "cli": lambda: _run_cli(url, manifest_path),
        "library": lambda: _run_worker("library", url, listing),
    }
    order = list(contestants)
    results = []
    for n in range(rounds):
        turn = order if n % 2 == 0 else order[::-1]
        results.append({name: contestants[name]() for name in turn})
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path(__file__).with_suffix(".json"))
    args = parser.parse_args(argv)
    from benchmarks._harness import WIRE_PROFILE, emulator, random_file, write_json

    with tempfile.TemporaryDirectory() as tmp, emulator(WIRE_PROFILE) as url:
        folder = Path(tmp)
        files = [random_file(folder / "big.bin", args.big_mib << 20)]
        files += [random_file(folder / f"s{i}.bin", 1 << 20) for i in range(args.small)]
        total = sum(f.stat().st_size for f in files)
        rounds = _rounds(url, folder, files, args.rounds)
    result = _summary(total, rounds)
    _print(result)
    write_json(args.json, result)
    return result


def _summary(total: int, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    def median(name: str, key: str) -> float:
        return float(statistics.median(r[name][key] for r in rounds))

    gib, mib = total / (1 << 30), total / (1 << 20)
    bare, ours = median("bare", "seconds"), median("cli", "seconds")
    bare_transfer = median("bare", "transfer_seconds")
    library_transfer = median("library", "transfer_seconds")
    return {
        "bytes": total,
        "rounds": len(rounds),
        "bare_seconds": round(bare, 2),
        "bulkup_seconds": round(ours, 2),
        "bare_mib_s": round(mib / bare, 1),
        "bulkup_mib_s": round(mib / ours, 1),
        "ratio": round(bare / ours, 3),
        "round_ratios": [round(r["bare"]["seconds"] / r["cli"]["seconds"], 3) for r in rounds],
        "target": TARGET,
        "bare_cpu_s_per_gib": round(median("bare", "cpu_seconds") / gib, 2),
        "bulkup_cpu_s_per_gib": round(median("cli", "cpu_seconds") / gib, 2),
        "library_cpu_s_per_gib": round(median("library", "cpu_seconds") / gib, 2),
        "bare_transfer_cpu_s_per_gib": round(median("bare", "transfer_cpu") / gib, 2),
        "library_transfer_cpu_s_per_gib": round(median("library", "transfer_cpu") / gib, 2),
        "bare_transfer_mib_s": round(mib / bare_transfer, 1),
        "library_transfer_mib_s": round(mib / library_transfer, 1),
        "transfer_ratio": round(bare_transfer / library_transfer, 3),
        "per_round": [
            {
                name: {k: round(v, 3) for k, v in run.items() if isinstance(v, float)}
                for name, run in r.items()
            }
            for r in rounds
        ],
    }


def _print(r: dict[str, Any]) -> None:
    print(f"{'against the wire, median of ' + str(r['rounds']):<34}{'MiB/s':>10}{'CPU s/GiB':>12}")
    print(f"{'bare aiohttp loop (process)':<34}{r['bare_mib_s']:>10}{r['bare_cpu_s_per_gib']:>12}")
    print(f"{'bulkup upload (process)':<34}{r['bulkup_mib_s']:>10}{r['bulkup_cpu_s_per_gib']:>12}")
    for name, key in (("bare aiohttp loop", "bare"), ("bulkup library", "library")):
        label = f"{name} (transfer)"
        mib_s, cpu = r[f"{key}_transfer_mib_s"], r[f"{key}_transfer_cpu_s_per_gib"]
        print(f"{label:<34}{mib_s:>10}{cpu:>12}")
    print(f"transfer only, library / bare: {r['transfer_ratio']:.3f}")
    rounds = ", ".join(f"{x:.3f}" for x in r["round_ratios"])
    print(f"ratio bulkup / bare: {r['ratio']:.3f} (rounds: {rounds}; target >= {TARGET})")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    if sys.argv[1:2] == ["--worker"]:
        _worker(sys.argv[2], sys.argv[3], Path(sys.argv[4]))
    else:
        main()
