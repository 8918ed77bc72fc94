"""The sweep: bulkup's throughput against its three knobs, to choose its defaults.

``bulkup upload`` (its CLI, v2, TLS, everything else at its defaults) is run over a
grid of requests in flight (``--concurrency``), files in flight (``--files-in-flight``)
and APPENDs in flight per file (``--segments-per-file``), on three corpora shaped like
benchmark 1's (``benchmarks/peers.py``): mixed (24 videos of 8 MiB and 48 PNG images of
1 MiB), images only (the 48 images) and videos only (the 24 videos).

The server is one emulator in its own process, over TLS, with benchmark 1's network
(30 ms +-5 ms a request, 12.5 MB/s per connection), 1 s of processing per video (STATUS
after 1 s), the full answers, and as little CPU as possible: discard storage, media
checks off, and budgets too large to bind (the rate headers are still sent). Every
point of the grid keeps the chunk buffers in bounds: ``concurrency x chunk size <=
64 MiB`` (4 MiB chunks: at most 16 requests in flight).

Points are measured side by side: each round runs every point on every corpus, in a
fresh shuffled order, and the figure of a point is its median over the rounds. The
best point is the one with the highest score, the geometric mean over the corpora of
its throughput divided by the best throughput measured on that corpus.

    python benchmarks/sweep.py                     # the grid, 3 rounds (about 18 min)
    python benchmarks/sweep.py --small             # a tiny corpus and grid (seconds)
    python benchmarks/sweep.py --point 16,8,2 --point 16,16,2 --rounds 5   # just these
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import os
import random
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import charts
from benchmarks._harness import run_cli, tls_emulator, upload_command, upload_env, write_json
from benchmarks.peers import padded_video
from bulkup.client import config
from bulkup.core.spec import ENDPOINTS
from bulkup.core.steps import DEFAULT_CHUNK_BYTES
from bulkup.media import samples

MIB = 1 << 20
#: Chunk buffers of a run stay at or under this: requests in flight x chunk size.
MEMORY_BOUND = 64 * MIB
ROUNDS = 3
BUDGETS = "\n".join(f"{endpoint} = 1000000" for endpoint in ENDPOINTS)
PROFILE = f"""
[lifetimes]
processing_secs = {{processing}}
check_after_secs = {{check_after}}
[limits]
enabled = true
[limits.per_window]
{BUDGETS}
[network]
latency_ms = {{latency}}
jitter_ms = {{jitter}}
bandwidth_bytes_per_sec = 12500000
[storage]
mode = "discard"
check_media = false
[answers]
minimal = false
"""


@dataclass(frozen=True, slots=True)
class Scale:
    """The corpora, the grid and the server's costs of one sweep."""

    videos: int
    video_mib: float
    images: int
    image_mib: float
    concurrency: tuple[int, ...]
    files_in_flight: tuple[int, ...]
    segments_per_file: tuple[int, ...]
    processing: int = 1
    latency: int = 30
    jitter: int = 5
    #: Measure only these points (``--point``) instead of the grid.
    only: tuple[tuple[int, int, int], ...] = ()

    def profile(self) -> str:
        return PROFILE.format(
            processing=self.processing,
            check_after=self.processing,
            latency=self.latency,
            jitter=self.jitter,
        )

    def points(self) -> list[tuple[int, int, int]]:
        """(concurrency, files in flight, segments per file) within the memory bound."""
        if self.only:
            return list(self.only)
        grid = itertools.product(self.concurrency, self.files_in_flight, self.segments_per_file)
        return [p for p in grid if p[0] * DEFAULT_CHUNK_BYTES <= MEMORY_BOUND]


FULL = Scale(
    videos=24,
    video_mib=8,
    images=48,
    image_mib=1,
    concurrency=(8, 12, 16),
    files_in_flight=(4, 8, 16, 32),
    segments_per_file=(1, 2),
)
SMALL = Scale(
    videos=2,
    video_mib=0.25,
    images=3,
    image_mib=0.0625,
    concurrency=(2, 4),
    files_in_flight=(2,),
    segments_per_file=(1,),
    processing=0,
    latency=0,
    jitter=0,
)
DEFAULTS = (
    config.DEFAULT_CONCURRENCY,
    config.DEFAULT_FILES_IN_FLIGHT,
    config.DEFAULT_SEGMENTS_PER_FILE,
)
Corpus = tuple[str, Path, int, int]  # name, listing, files, bytes


def write_corpora(folder: Path, scale: Scale) -> list[Corpus]:
    """The videos and images once; a listing for each corpus (mixed interleaves them)."""
    base = samples.write_video(folder / "base.mp4", width=320, height=240, seconds=1)
    base_bytes = base.read_bytes()
    videos = [
        padded_video(folder / f"v{i:03d}.mp4", base_bytes, int(scale.video_mib * MIB))
        for i in range(scale.videos)
    ]
    size = int(scale.image_mib * MIB)
    images = [
        samples.write_image(folder / f"i{i:03d}.png", target_bytes=size, seed=i)
        for i in range(scale.images)
    ]
    per_video = -(-len(images) // max(1, len(videos)))
    mixed: list[tuple[Path, str]] = []
    for i, video in enumerate(videos):
        mixed += [(video, "tweet_video")]
        mixed += [(p, "tweet_image") for p in images[i * per_video : (i + 1) * per_video]]
    mixed += [(p, "tweet_image") for p in images[len(videos) * per_video :]]
    chosen = {
        "mixed": mixed,
        "images": [(p, "tweet_image") for p in images],
        "videos": [(v, "tweet_video") for v in videos],
    }
    return [_listing(folder, name, work) for name, work in chosen.items()]


def _listing(folder: Path, name: str, work: list[tuple[Path, str]]) -> Corpus:
    listing = folder / f"{name}.jsonl"
    lines = (json.dumps({"path": str(p), "media_category": c}) + "\n" for p, c in work)
    listing.write_text("".join(lines))
    return name, listing, len(work), sum(p.stat().st_size for p, _ in work)


def upload(url: str, ca: Path, listing: Path, point: tuple[int, int, int]) -> float:
    """Seconds of one ``bulkup upload`` of ``listing`` at ``point``; stops on a failure."""
    concurrency, files, segments = point
    args = [
        *("--api", "v2", "--ca-bundle", str(ca), "--report", os.devnull),
        *("--concurrency", str(concurrency), "--files-in-flight", str(files)),
        *("--segments-per-file", str(segments), str(listing)),
    ]
    run = run_cli(upload_command(url, args), upload_env())
    if run["exit"] != 0:
        raise SystemExit(f"bulkup upload {listing.name} at {point} failed: {run['stderr']}")
    return float(run["seconds"])


def measure(scale: Scale, corpora: list[Corpus], rounds: int, folder: Path) -> dict[Any, Any]:
    """Seconds of every (corpus, point), one list per pair, ``rounds`` long."""
    seconds: dict[tuple[str, tuple[int, int, int]], list[float]] = {}
    jobs = [(corpus, point) for corpus in corpora for point in scale.points()]
    shuffle = random.Random(0)
    ca = folder / "ca.pem"
    with tls_emulator(scale.profile(), ca) as url:
        for number in range(rounds):
            shuffle.shuffle(jobs)
            for done, (corpus, point) in enumerate(jobs, 1):
                took = upload(url, ca, corpus[1], point)
                seconds.setdefault((corpus[0], point), []).append(took)
                print(f"\rround {number + 1}/{rounds}: {done}/{len(jobs)}", end="", flush=True)
    print()
    return seconds


def summary(scale: Scale, corpora: list[Corpus], seconds: dict[Any, Any]) -> dict[str, Any]:
    points = []
    for point in scale.points():
        per_corpus = {}
        for name, _, files, size in corpora:
            runs = seconds[(name, point)]
            median = statistics.median(runs)
            per_corpus[name] = {
                "seconds": [round(s, 3) for s in runs],
                "median_seconds": round(median, 3),
                "mib_per_s": round(size / MIB / median, 2),
                "files_per_s": round(files / median, 2),
                "spread": round((max(runs) - min(runs)) / median, 3),
            }
        points.append(_point(point, per_corpus))
    _score(points, [c[0] for c in corpora])
    best = max(points, key=lambda p: p["score"])
    return {
        "corpora": {name: {"files": files, "bytes": size} for name, _, files, size in corpora},
        "scale": json.loads(json.dumps(dataclasses.asdict(scale))),  # tuples as lists
        "chunk_bytes": DEFAULT_CHUNK_BYTES,
        "memory_bound_bytes": MEMORY_BOUND,
        "points": points,
        "best": _knobs(best),
        "defaults": dict(
            zip(("concurrency", "files_in_flight", "segments_per_file"), DEFAULTS, strict=True)
        ),
        "median_spread": round(statistics.median(_spreads(points)), 3),
        "max_spread": round(max(_spreads(points)), 3),
    }


def _point(point: tuple[int, int, int], per_corpus: dict[str, Any]) -> dict[str, Any]:
    concurrency, files, segments = point
    return {
        "concurrency": concurrency,
        "files_in_flight": files,
        "segments_per_file": segments,
        "chunk_buffers_mib": concurrency * DEFAULT_CHUNK_BYTES // MIB,
        "corpora": per_corpus,
    }


def _score(points: list[dict[str, Any]], names: list[str]) -> None:
    """Each point's score: the geometric mean of its throughput over the corpora, each
    relative to the best throughput measured on that corpus (1.0: best everywhere)."""
    best = {n: max(p["corpora"][n]["mib_per_s"] for p in points) for n in names}
    for p in points:
        logs = [math.log(p["corpora"][n]["mib_per_s"] / best[n]) for n in names]
        p["score"] = round(math.exp(sum(logs) / len(logs)), 3)


def _knobs(point: dict[str, Any]) -> dict[str, int]:
    return {k: point[k] for k in ("concurrency", "files_in_flight", "segments_per_file")}


def _spreads(points: list[dict[str, Any]]) -> list[float]:
    return [c["spread"] for p in points for c in p["corpora"].values()]


def print_table(r: dict[str, Any]) -> None:
    names = list(r["corpora"])
    shapes = ", ".join(
        f"{n} {c['files']} files / {c['bytes'] / MIB:.0f} MiB" for n, c in r["corpora"].items()
    )
    print(f"sweep: bulkup upload (v2, TLS, 30 ms, 12.5 MB/s per connection): {shapes}")
    print("MiB/s, median of the rounds; score: geometric mean of throughput / corpus best")
    header = f"{'requests':>9}{'files':>7}{'segs':>6}{'buffers':>9}"
    print(header + "".join(f"{n:>10}" for n in names) + f"{'score':>8}")
    ranked = sorted(r["points"], key=lambda p: -p["score"])
    for p in ranked:
        knobs = _knobs(p)
        mark = " best" if knobs == r["best"] else ""
        mark += " defaults" if knobs == r["defaults"] else ""
        row = f"{p['concurrency']:>9}{p['files_in_flight']:>7}{p['segments_per_file']:>6}"
        row += f"{p['chunk_buffers_mib']:>6}MiB"
        row += "".join(f"{p['corpora'][n]['mib_per_s']:>10}" for n in names)
        print(f"{row}{p['score']:>8}{mark}")
    print(
        f"best: {_flags(r['best'])}; defaults: {_flags(r['defaults'])}; noise: "
        f"(max - min) / median over the rounds {r['median_spread']} median, {r['max_spread']} max"
        f"; load average {r['load_average'][0]} before, {r['load_average'][1]} after"
    )


def _flags(knobs: dict[str, int]) -> str:
    return " ".join(f"--{k.replace('_', '-')} {v}" for k, v in knobs.items())


def _point_arg(text: str) -> tuple[int, int, int]:
    """``16,8,2``: requests, files and segments in flight, within the memory bound."""
    try:
        concurrency, files, segments = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give three whole numbers, e.g. 16,8,2"
        ) from None
    if concurrency * DEFAULT_CHUNK_BYTES > MEMORY_BOUND:
        bound = MEMORY_BOUND // DEFAULT_CHUNK_BYTES
        raise argparse.ArgumentTypeError(f"{text!r}: more than {bound} requests exceed 64 MiB")
    return concurrency, files, segments


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true", help="a tiny corpus and grid, 1 round")
    parser.add_argument("--rounds", type=int, help=f"default: {ROUNDS} (--small: 1)")
    parser.add_argument(
        "--point",
        type=_point_arg,
        action="append",
        metavar="C,F,S",
        help="measure only this point (requests, files, segments); repeat for more",
    )
    parser.add_argument("--json", type=Path, default=Path(__file__).with_suffix(".json"))
    args = parser.parse_args(argv)
    scale = SMALL if args.small else FULL
    if args.point:
        scale = dataclasses.replace(scale, only=tuple(args.point))
    rounds = args.rounds or (1 if args.small else ROUNDS)
    load = [round(os.getloadavg()[0], 2)]  # how busy the machine was: the noise
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        corpora = write_corpora(folder, scale)
        seconds = measure(scale, corpora, rounds, folder)
    load.append(round(os.getloadavg()[0], 2))
    result = {"rounds": rounds, "load_average": load, **summary(scale, corpora, seconds)}
    print_table(result)
    write_json(args.json, result)
    print(f"chart: {charts.sweep_chart(result, charts.beside(args.json, 'sweep.png'))}")
    return result


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
