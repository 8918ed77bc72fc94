"""Benchmark 2, against the wire: bulkup's throughput over a bare aiohttp loop's.

Both upload the same files with the same chunk size and the same number of requests
in flight, to the same emulator (own process, discard storage, no latency): v2 INIT,
APPENDs, FINALIZE. The bare loop does nothing else (no checkpoint, no retries, no
pacing, no reading ahead limits), so the ratio is what bulkup's machinery costs.
Target (issue [5/6]): at least 0.85. Also reports client CPU seconds per GiB.

    python benchmarks/wire.py                       # 1 GiB + 200 x 1 MiB
    python benchmarks/wire.py --big-mib 64 --small 20
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks._harness import (
    BEARER,
    WIRE_PROFILE,
    emulator,
    manifest,
    random_file,
    run_upload,
    write_json,
)

TARGET = 0.85
CHUNK = 4 << 20
CONCURRENCY = 8


async def bare_upload(url: str, files: list[Path], concurrency: int, chunk: int) -> None:
    """The simplest correct v2 chunked uploader: what bulkup is measured against."""
    headers = {"Authorization": f"Bearer {BEARER}"}
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
            async with slots, http.post(f"/2/media/upload/{media_id}/finalize") as r:
                r.raise_for_status()

        await asyncio.gather(*(one(p, p.stat().st_size) for p in files))


def bare_run(url: str, files: list[Path]) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    asyncio.run(bare_upload(url, files, CONCURRENCY, CHUNK))
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": time.perf_counter() - started, "cpu_seconds": cpu}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--json", type=Path, default=Path(__file__).with_suffix(".json"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, emulator(WIRE_PROFILE) as url:
        folder = Path(tmp)
        files = [random_file(folder / "big.bin", args.big_mib << 20)]
        files += [random_file(folder / f"s{i}.bin", 1 << 20) for i in range(args.small)]
        total = sum(f.stat().st_size for f in files)
        bare = bare_run(url, files)
        ours = run_upload(
            url,
            [
                str(manifest(folder, files, "video/mp4", "amplify_video")),
                "--chunk-size",
                "4MiB",
                "--concurrency",
                str(CONCURRENCY),
                "--files-in-flight",
                "8",
                "--segments-per-file",
                str(CONCURRENCY),
            ],
        )
    if ours["exit"] != 0:
        raise SystemExit(f"bulkup upload failed: {ours['stderr']}")
    gib = total / (1 << 30)
    ratio = bare["seconds"] / ours["seconds"]
    result = {
        "bytes": total,
        "bare_seconds": round(bare["seconds"], 2),
        "bulkup_seconds": round(ours["seconds"], 2),
        "bare_mib_s": round(total / (1 << 20) / bare["seconds"], 1),
        "bulkup_mib_s": round(total / (1 << 20) / ours["seconds"], 1),
        "ratio": round(ratio, 3),
        "target": TARGET,
        "bulkup_cpu_s_per_gib": round(ours["cpu_seconds"] / gib, 2),
        "bare_cpu_s_per_gib": round(bare["cpu_seconds"] / gib, 2),
    }
    print(f"{'against the wire':<30}{'MiB/s':>10}{'CPU s/GiB':>12}")
    print(f"{'bare aiohttp loop':<30}{result['bare_mib_s']:>10}{result['bare_cpu_s_per_gib']:>12}")
    print(f"{'bulkup upload':<30}{result['bulkup_mib_s']:>10}{result['bulkup_cpu_s_per_gib']:>12}")
    print(f"ratio bulkup / bare: {ratio:.3f} (target >= {TARGET})")
    write_json(args.json, result)
    return result


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
