"""How long the checkpoint blocks the event loop in a 20,000-item run (issue [2/6]).

The uploader records every step from inside its tasks: an item's record when INIT
answers, one event per acknowledged segment, its result. Every so often the
checkpoint compacts (a snapshot of every record); whatever of that runs on the event
loop holds up every request. This benchmark replays the checkpoint events of a run of
N small files (one put, two segment acks, the finalize and result updates each) from
a fixed pool of asyncio tasks, each taking the next file when its last one is done
(like the uploader's files in flight), with a watchdog task that measures how late the
loop wakes it (every 1 ms): the longest stall, and the stalls' distribution, are the
figures. No network: only the checkpoint's own cost is measured.

The garbage collector stalls the loop too (a full collection of the run's records
takes tens of ms, with or without a checkpoint), so the longest stall is also given
without the collector's pauses, and the longest of these. ``--compact-every`` with a
huge number gives the reference: the same run without a compaction.

    python benchmarks/checkpoint_stall.py [--items 20000] [--compact-every N] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bulkup.core.items import Result, UploadParams
from bulkup.core.records import ItemRecord, RunIdentity
from bulkup.run.checkpoint import DEFAULT_COMPACT_EVERY, Checkpoint

TICK = 0.001
IDENTITY = RunIdentity(endpoint="http://127.0.0.1:1", dialect="v2", account="bench:0")
PARAMS = UploadParams(
    media_type="image/png", media_category="tweet_image", chunk_size=4096, strategy="chunked"
)


class GcClock:
    """How long the garbage collector ran on this thread (a gc callback)."""

    def __init__(self) -> None:
        self.total = 0.0
        self.longest = 0.0
        self._thread = threading.get_ident()
        self._started: float | None = None

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if threading.get_ident() != self._thread:
            return
        now = time.perf_counter()
        if phase == "start":
            self._started = now
        elif self._started is not None:
            pause, self._started = now - self._started, None
            self.total += pause
            self.longest = max(self.longest, pause)


async def watchdog(
    stalls: list[float], without_gc: list[float], clock: GcClock, done: asyncio.Event
) -> None:
    while not done.is_set():
        before, collected = time.perf_counter(), clock.total
        await asyncio.sleep(TICK)
        stall = time.perf_counter() - before - TICK
        stalls.append(stall)
        without_gc.append(stall - (clock.total - collected))


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


async def run(
    items: int,
    folder: Path,
    concurrency: int = 64,
    compact_every: int = DEFAULT_COMPACT_EVERY,
) -> dict[str, float]:
    checkpoint = Checkpoint.open(folder / "run.ckpt", IDENTITY, compact_every=compact_every)
    stalls: list[float] = []
    without_gc: list[float] = []
    clock = GcClock()
    gc.callbacks.append(clock)
    done = asyncio.Event()
    dog = asyncio.create_task(watchdog(stalls, without_gc, clock, done))
    started = time.perf_counter()
    indices = iter(range(items))

    async def uploader() -> None:  # like the uploader's files in flight: a fixed pool
        for index in indices:  # shared: each index goes to one of them
            await asyncio.sleep(0)  # the next file starts in a step of its own
            await item(checkpoint, index)

    await asyncio.gather(*(uploader() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    done.set()
    await dog
    gc.callbacks.remove(clock)
    checkpoint.close()
    ordered = sorted(stalls)
    return {
        "items": items,
        "elapsed_s": round(elapsed, 3),
        "max_stall_ms": round(ordered[-1] * 1000, 2),
        "p99_stall_ms": round(ordered[int(len(ordered) * 0.99)] * 1000, 2),
        "median_stall_ms": round(statistics.median(ordered) * 1000, 3),
        "stalls_over_5ms": sum(s > 0.005 for s in ordered),
        "max_stall_without_gc_ms": round(max(without_gc) * 1000, 2),
        "longest_gc_pause_ms": round(clock.longest * 1000, 2),
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--compact-every", type=int, default=DEFAULT_COMPACT_EVERY)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        figures = asyncio.run(run(args.items, Path(tmp), compact_every=args.compact_every))
    for name, value in figures.items():
        print(f"{name:>23}: {value}")
    print("target: the longest stall a few milliseconds at most")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    main()
