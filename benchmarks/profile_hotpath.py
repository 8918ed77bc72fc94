"""Profile bulkup's hot path: the library uploading files to a wire-speed emulator.

Runs :class:`bulkup.Uploader` in this process (no CLI start-up; benchmark 2's
``library_upload``) against an emulator in its own process (discard storage, no
latency), with benchmark 2's settings, and prints the client's CPU time per GiB,
then, with ``--profile``, the functions that cost the most (cProfile, sorted by own
time). ``--bare`` runs benchmark 2's bare aiohttp loop instead, to compare the two profiles.

    python benchmarks/profile_hotpath.py                      # 256 MiB + 50 x 1 MiB
    python benchmarks/profile_hotpath.py --profile --top 30
    python benchmarks/profile_hotpath.py --bare --profile
    python benchmarks/profile_hotpath.py --url http://127.0.0.1:8080 --folder /tmp/data

cProfile slows cheap Python calls more than system calls, so read its figures as a
ranking, and judge a change by the CPU time without ``--profile`` (or with py-spy:
``py-spy record -f raw -o out.raw -- python benchmarks/profile_hotpath.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import pstats
import resource
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks._harness import BEARER, WIRE_PROFILE, emulator, random_file
from benchmarks.wire import CHUNK, CONCURRENCY, bare_upload, library_upload


@contextlib.contextmanager
def _files(folder: Path | None, big_mib: int, small: int) -> Iterator[list[Path]]:
    if folder is not None and (folder / "big.bin").exists():
        yield sorted(folder.glob("*.bin"), key=lambda p: (p.name != "big.bin", p.name))
        return
    with tempfile.TemporaryDirectory() as tmp:
        where = folder or Path(tmp)
        files = [random_file(where / "big.bin", big_mib << 20)]
        files += [random_file(where / f"s{i}.bin", 1 << 20) for i in range(small)]
        yield files


@contextlib.contextmanager
def _server(url: str | None) -> Iterator[str]:
    if url is not None:
        yield url
        return
    with emulator(WIRE_PROFILE) as started:
        yield started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--big-mib", type=int, default=256)
    parser.add_argument("--small", type=int, default=50)
    parser.add_argument("--folder", type=Path, help="reuse (or create) the files here")
    parser.add_argument("--url", help="an emulator already running (default: start one)")
    parser.add_argument("--bare", action="store_true", help="profile the bare aiohttp loop")
    parser.add_argument("--profile", action="store_true", help="print a cProfile ranking")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    with _files(args.folder, args.big_mib, args.small) as files, _server(args.url) as url:
        total = sum(f.stat().st_size for f in files)
        profiler = cProfile.Profile() if args.profile else None
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        if args.bare:
            asyncio.run(bare_upload(url, BEARER, files, CONCURRENCY, CHUNK))
        else:
            asyncio.run(library_upload(url, BEARER, files))
        if profiler is not None:
            profiler.disable()
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    gib = total / (1 << 30)
    print(
        f"{'bare loop' if args.bare else 'bulkup library'}: {total / (1 << 20):.0f} MiB in "
        f"{seconds:.2f} s; CPU {(user + system) / gib:.2f} s/GiB "
        f"(user {user / gib:.2f}, system {system / gib:.2f})"
    )
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
