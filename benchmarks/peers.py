"""Benchmark 1, against peers: bulkup against tweepy and xdk, over TLS with realistic network costs.

One workload, uploaded by each contestant to a fresh emulator of its own (own
process, https with a fresh CA, the same profile every time):

- the network of ``configs/emulator-realistic.toml``: 30 ms (+-5 ms) per request and
  a per-connection bandwidth cap of 12.5 MB/s (100 Mbit/s), modelled by the emulator
  as a delay of body size / bandwidth per request;
- rate limits on, the published budgets per 15-minute window as on the real API
  (the workload fits in one window for every contestant, so nobody waits);
- processing done at once (``processing_secs = 0``, ``check_after_secs = 0``), so the
  same for all: a video costs FINALIZE and one STATUS;
- the emulator's full answers (``[answers] minimal = false``): xdk parses every answer,
  APPEND's included, as JSON;
- storage ``discard`` with ``check_media = true``: the emulator hashes the segments
  as they arrive (SHA-256, in order) and judges each upload by its sniffed type and
  size per category, but keeps no bytes and does not probe video with PyAV. The
  emulator shares this machine's cores with the client; spooling every segment to
  disk and assembling it at FINALIZE (``--storage disk``) keeps its single event loop
  busy for most of a bulkup run, so the figure would time the emulator, not the
  client (on the real API, server work costs the client nothing).

The workload is real media: 32 videos of 8 MiB (an H.264/AAC MP4 from
``bulkup.media.samples`` padded with a top-level ``free`` box of random bytes, so each is a
valid, distinct ``tweet_video``) and 96 PNG images of 1 MiB (``samples.write_image``
with ``target_bytes``), category ``tweet_video`` / ``tweet_image``; sizes and counts
are options.

Contestants, each against a fresh emulator:

- tweepy ``API.media_upload`` (v1.1, OAuth 1.0a: tweepy's dialect) one file after
  another (chunked with its default 1 MiB chunks for video, simple upload for images);
- the same in a pool of 8 threads (one ``tweepy.API`` per thread);
- xdk, the official X SDK for v2, as its users write it (``benchmarks/peers_xdk.py``):
  images one-shot, videos INITIALIZE, APPEND per 4 MiB segment, FINALIZE and STATUS
  polls after ``check_after_secs``; one file after another, and in 8 threads (one
  ``Client`` each), with the demo user's OAuth 2.0 token;
- ``bulkup upload`` (subprocess) with its defaults: v2, the demo user's OAuth 2.0 token,
  no option but the CA to trust and the report to read back (what a new user runs).

Every media id of every contestant is checked SHA-256-exact against its file through
``/_emulator/media/{id}``. Each round runs every contestant in turn; the figures are
medians over the rounds (3 by default) of each peer's time over bulkup's in the same
round. Targets (issue [5/6]): bulkup with its defaults at least 10x faster than each
peer one file at a time and 2x faster than each peer in 8 threads. Also reported:
client CPU seconds per GiB (bulkup from the child's rusage, the peers from this
process's). The chart (``benchmarks/charts/peers.png``) shows each contestant's time.

    python benchmarks/peers.py                                   # 32 x 8 MiB + 96 x 1 MiB, 3 rounds
    python benchmarks/peers.py --storage disk                    # media probed with PyAV
    python benchmarks/peers.py --videos 2 --video-kib 256 --images 3 --image-kib 64 --rounds 1
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks import charts
from benchmarks._harness import (
    byte_exact,
    figure_row,
    inspect,
    met,
    report_media_ids,
    run_cli,
    tls_emulator,
    upload_command,
    upload_env,
    write_json,
)
from benchmarks.peers_xdk import xdk_uploader
from bulkup.emulator.config import DEMO_USER
from bulkup.media import samples

TARGET_VS_SEQUENTIAL = 10.0
TARGET_VS_THREADS = 2.0
THREADS = 8
ROUNDS = 3
PROFILE = """
[lifetimes]
processing_secs = 0
check_after_secs = 0
[limits]
enabled = true
[network]
latency_ms = 30
jitter_ms = 5
bandwidth_bytes_per_sec = 12500000
[storage]
mode = "{storage}"
check_media = true
[answers]
minimal = false
"""
Workload = list[tuple[Path, str]]  # (file, media_category)
Uploader = Callable[[str, list[Any]], Callable[[Path, str], str]]


def padded_video(path: Path, base: bytes, size: int) -> Path:
    """``base`` (an MP4) followed by a ``free`` box of random bytes: ``size`` bytes in all."""
    pad = size - len(base)
    if pad < 8:
        raise SystemExit(f"videos of {size} bytes are smaller than the sample ({len(base)})")
    with path.open("wb") as out:
        out.write(base)
        out.write(struct.pack(">I", pad) + b"free")
        left = pad - 8
        while left:
            block = os.urandom(min(left, 1 << 20))
            out.write(block)
            left -= len(block)
    return path


def make_workload(folder: Path, args: argparse.Namespace) -> Workload:
    """Videos and images interleaved (one video, then its share of images)."""
    base = samples.write_video(folder / "base.mp4", width=320, height=240, seconds=1)
    base_bytes = base.read_bytes()
    base.unlink()
    videos = [
        padded_video(folder / f"v{i:03d}.mp4", base_bytes, args.video_kib << 10)
        for i in range(args.videos)
    ]
    images = [
        samples.write_image(folder / f"i{i:03d}.png", target_bytes=args.image_kib << 10, seed=i)
        for i in range(args.images)
    ]
    work: Workload = []
    per_video = -(-len(images) // max(1, len(videos)))
    for i in range(max(len(videos), 1)):
        work += [(v, "tweet_video") for v in videos[i : i + 1]]
        work += [(p, "tweet_image") for p in images[i * per_video : (i + 1) * per_video]]
    return work


@contextlib.contextmanager
def trusting(ca: Path) -> Iterator[None]:
    """requests (under tweepy) trusts ``ca`` while this lasts."""
    old = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = str(ca)
    try:
        yield
    finally:
        if old is None:
            del os.environ["REQUESTS_CA_BUNDLE"]
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = old


def tweepy_uploader(url: str, made: list[Any]) -> Callable[[Path, str], str]:
    """Upload one file with tweepy's ``API.media_upload``; one API per thread, each
    added to ``made`` so that its connections can be closed after the run."""
    import tweepy

    local = threading.local()
    host = url.removeprefix("https://")

    def upload(path: Path, category: str) -> str:
        api = getattr(local, "api", None)
        if api is None:
            auth = tweepy.OAuth1UserHandler(
                DEMO_USER.consumer_key,
                DEMO_USER.consumer_secret,
                DEMO_USER.access_token,
                DEMO_USER.access_token_secret,
            )
            api = local.api = tweepy.API(auth, upload_host=host)
            made.append(api)
        return str(api.media_upload(str(path), media_category=category).media_id_string)

    return upload


def run_threads(
    uploader: Uploader, url: str, ca: Path, work: Workload, threads: int
) -> dict[str, Any]:
    """Upload ``work`` with a synchronous peer, one file after another or in a pool of
    ``threads``; time it and count this process's CPU seconds."""
    clients: list[Any] = []
    upload = uploader(url, clients)
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    try:
        with trusting(ca):
            if threads == 1:
                ids = [upload(path, category) for path, category in work]
            else:
                with ThreadPoolExecutor(max_workers=threads) as pool:
                    ids = list(pool.map(lambda job: upload(*job), work))
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        for client in clients:  # a tweepy API or an xdk Client: both hold a session
            client.session.close()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    pairs = [(media_id, path) for media_id, (path, _) in zip(ids, work, strict=True)]
    return {"seconds": seconds, "cpu_seconds": cpu, "uploaded": pairs}


def run_bulkup(url: str, ca: Path, work: Workload, folder: Path) -> dict[str, Any]:
    """``bulkup upload`` with its defaults (v2, the demo user's OAuth 2.0 token): only
    the CA to trust and the report to read back are given."""
    listing = folder / "peers.jsonl"
    listing.write_text(
        "".join(json.dumps({"path": str(p), "media_category": c}) + "\n" for p, c in work)
    )
    report = folder / "report.jsonl"
    args = ["--ca-bundle", str(ca), "--report", str(report), str(listing)]
    run = run_cli(upload_command(url, args), upload_env())
    if run["exit"] != 0:
        raise SystemExit(f"bulkup upload failed: {run['stderr']}")
    return {**run, "uploaded": report_media_ids(report)}


def run_contestant(name: str, url: str, ca: Path, work: Workload, folder: Path) -> dict[str, Any]:
    if name == "bulkup":
        return run_bulkup(url, ca, work, folder)
    uploader = tweepy_uploader if name.startswith("tweepy") else xdk_uploader
    return run_threads(uploader, url, ca, work, THREADS if name.endswith("_threads") else 1)


def contest(name: str, folder: Path, work: Workload, storage: str = "discard") -> dict[str, Any]:
    """Run contestant ``name`` against a fresh TLS emulator; check every byte it sent."""
    ca = folder / f"ca-{name}.pem"
    with tls_emulator(PROFILE.format(storage=storage), ca) as url:
        run = run_contestant(name, url, ca, work, folder)
        exact = byte_exact(url, run["uploaded"], ca)
        requests = inspect(url, "stats", ca)["requests"]
    if exact["checked"] != len(work) or exact["mismatched"]:
        raise SystemExit(f"{name}: {exact['checked']} of {len(work)} uploaded, {exact}")
    return {
        "seconds": run["seconds"],
        "cpu_seconds": run["cpu_seconds"],
        "checked": exact["checked"],
        "requests": {endpoint: sum(counts.values()) for endpoint, counts in requests.items()},
        "responses_429": sum(counts.get("429", 0) for counts in requests.values()),
    }


PEERS = ("tweepy", "tweepy_threads", "xdk", "xdk_threads")
CONTESTANTS = (*PEERS, "bulkup")
LABELS = {
    "tweepy": "tweepy (v1.1), one file after another",
    "tweepy_threads": f"tweepy (v1.1), {THREADS} threads",
    "xdk": "xdk (v2), one file after another",
    "xdk_threads": f"xdk (v2), {THREADS} threads",
    "bulkup": "bulkup upload (v2), defaults",
}


def target(peer: str) -> float:
    return TARGET_VS_THREADS if peer.endswith("_threads") else TARGET_VS_SEQUENTIAL


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=32)
    parser.add_argument("--video-kib", type=int, default=8 << 10)
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--image-kib", type=int, default=1 << 10)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="every contestant, in turn")
    parser.add_argument(
        "--storage",
        choices=("discard", "disk"),
        default="discard",
        help="emulator storage: discard (hash as segments arrive) or disk (spool, assemble, probe)",
    )
    parser.add_argument("--json", type=Path, default=Path(__file__).with_suffix(".json"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        work = make_workload(folder, args)
        total = sum(path.stat().st_size for path, _ in work)
        rounds = [
            {name: contest(name, folder, work, args.storage) for name in CONTESTANTS}
            for _ in range(args.rounds)
        ]
    result = summary(args, total, rounds)
    print_table(result)
    write_json(args.json, result)
    print(f"chart: {charts.peers_chart(result, charts.beside(args.json, 'peers.png'))}")
    return result


def summary(args: argparse.Namespace, total: int, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rounds: each contestant's seconds, and each peer's time over
    bulkup's in the same round (the speed-up), beside its target."""
    gib = total / (1 << 30)
    times = {name: [r[name]["seconds"] for r in rounds] for name in CONTESTANTS}
    cpu = {name: statistics.median(r[name]["cpu_seconds"] for r in rounds) for name in CONTESTANTS}
    speedups = {}
    for peer in PEERS:
        ratios = [p / b for p, b in zip(times[peer], times["bulkup"], strict=True)]
        value = round(statistics.median(ratios), 2)
        speedups[peer] = {
            "value": value,
            "target": target(peer),
            "met": value >= target(peer),
            "rounds": [round(x, 2) for x in ratios],
        }
    last = rounds[-1]
    return {
        "videos": args.videos,
        "video_bytes": args.video_kib << 10,
        "images": args.images,
        "image_bytes": args.image_kib << 10,
        "bytes": total,
        "storage": args.storage,
        "rounds": len(rounds),
        "labels": LABELS,
        "seconds": {name: round(statistics.median(s), 2) for name, s in times.items()},
        "rounds_seconds": {name: [round(x, 2) for x in s] for name, s in times.items()},
        "cpu_s_per_gib": {name: round(c / gib, 2) for name, c in cpu.items()},
        "speedups": speedups,
        "meets_targets": all(s["met"] for s in speedups.values()),
        "requests": {name: run["requests"] for name, run in last.items()},
        "responses_429": {
            name: sum(r[name]["responses_429"] for r in rounds) for name in CONTESTANTS
        },
        "byte_exact": {name: run["checked"] for name, run in last.items()},
        "byte_exact_all": True,  # contest() stops the run at the first mismatch
    }


def print_table(r: dict[str, Any]) -> None:
    mib = 1 << 20
    print(
        f"against peers: {r['videos']} videos x {r['video_bytes'] / mib:g} MiB + {r['images']} "
        f"images x {r['image_bytes'] / mib:g} MiB ({r['bytes'] / mib:.0f} MiB), TLS, 30 ms, "
        f"12.5 MB/s per connection, {r['storage']} storage; median of {r['rounds']} rounds"
    )
    print(
        f"{'contestant':<40}{'seconds':>10}{'MiB/s':>10}{'CPU s/GiB':>12}{'requests':>10}"
        f"{'429s':>6}{'byte-exact':>12}"
    )
    for name in CONTESTANTS:
        seconds = r["seconds"][name]
        rate = r["bytes"] / mib / seconds
        requests = sum(r["requests"][name].values())
        print(
            f"{LABELS[name]:<40}{seconds:>10}{rate:>10.1f}{r['cpu_s_per_gib'][name]:>12}"
            f"{requests:>10}{r['responses_429'][name]:>6}{r['byte_exact'][name]:>12}"
        )
    print(figure_row("bulkup (defaults) over", "value", "target", "met"))
    for peer, figure in r["speedups"].items():
        label = LABELS[peer].replace(", one file after another", ", one at a time")
        ok = met(figure["value"], figure["target"])
        print(figure_row(label, f"{figure['value']}x", f">= {figure['target']:g}x", ok))
    spread = {peer: figure["rounds"] for peer, figure in r["speedups"].items()}
    print(f"speed-up in each round: {spread}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
