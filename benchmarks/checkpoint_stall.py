"""How long the checkpoint blocks the event loop in a 20,000-item run (issue [2/6]).

The uploader records every step from inside its tasks: an item's record when INIT
answers, one event per acknowledged segment, its result. Every so often the
checkpoint compacts (a full snapshot, fsynced); that runs on the event loop, so while
it runs no request is sent or answered. This benchmark replays the checkpoint events
of a run of N small files (one put, two segment acks, the finalize and result updates
each), from asyncio tasks like the uploader's, with a watchdog task that measures how
late the loop wakes it (every 1 ms): the longest stall, and the stalls' distribution,
are the figures. No network: only the checkpoint's own cost is measured.

    python benchmarks/checkpoint_stall.py [--items 20000] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from bulkup.core.items import Result, UploadParams
from bulkup.core.records import ItemRecord, RunIdentity
from bulkup.run.checkpoint import Checkpoint

TICK = 0.001
IDENTITY = RunIdentity(endpoint="http://127.0.0.1:1", dialect="v2", account="bench:0")
PARAMS = UploadParams(
    media_type="image/png", media_category="tweet_image", chunk_size=4096, strategy="chunked"
)


async def watchdog(stalls: list[float], done: asyncio.Event) -> None:
    while not done.is_set():
        before = time.perf_counter()
        await asyncio.sleep(TICK)
        stalls.append(time.perf_counter() - before - TICK)


async def item(checkpoint: Checkpoint, index: int) -> None:
    item_id = f"f{index:06d}.png"
    checkpoint.put(
        ItemRecord(
            id=item_id,
            path=f"/data/{item_id}",
            size=8192,
            mtime_ns=1_700_000_000_000_000_000 + index,
            params=PARAMS,
            media_id=str(1_880_000_000_000_000_000 + index),
            upload_deadline=time.time() + 3600,
        )
    )
    for segment in range(2):
        await asyncio.sleep(0)
        checkpoint.ack(item_id, segment)
    expires = time.time() + 86400  # a media id lives a day
    checkpoint.update(item_id, finalized=True, processing="succeeded", media_expires_at=expires)
    result = Result(id=item_id, path=f"/data/{item_id}", status="succeeded", size=8192)
    checkpoint.update(item_id, result=result, attempts=1)


async def run(items: int, folder: Path, concurrency: int = 64) -> dict[str, float]:
    checkpoint = Checkpoint.open(folder / "run.ckpt", IDENTITY)
    stalls: list[float] = []
    done = asyncio.Event()
    dog = asyncio.create_task(watchdog(stalls, done))
    started = time.perf_counter()
    semaphore = asyncio.Semaphore(concurrency)

    async def bounded(index: int) -> None:
        async with semaphore:
            await item(checkpoint, index)

    await asyncio.gather(*(bounded(i) for i in range(items)))
    elapsed = time.perf_counter() - started
    done.set()
    await dog
    checkpoint.close()
    ordered = sorted(stalls)
    return {
        "items": items,
        "elapsed_s": round(elapsed, 3),
        "max_stall_ms": round(ordered[-1] * 1000, 2),
        "p99_stall_ms": round(ordered[int(len(ordered) * 0.99)] * 1000, 2),
        "median_stall_ms": round(statistics.median(ordered) * 1000, 3),
        "stalls_over_5ms": sum(s > 0.005 for s in ordered),
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        figures = asyncio.run(run(args.items, Path(tmp)))
    for name, value in figures.items():
        print(f"{name:>18}: {value}")
    print("target: the longest stall a few milliseconds at most")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    main()
