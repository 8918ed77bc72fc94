"""Benchmark 6, resume: bytes sent again after a SIGKILL at half of a 1 GiB upload.

``bulkup upload --checkpoint`` uploads one file of random bytes to an emulator in
its own process (discard storage, any bytes accepted). The benchmark watches the
emulator's ``bytes_received`` (bytes of the segments it stored) and kills the upload
with SIGKILL once half the file has arrived, then runs the same command again, which
resumes from the checkpoint. Bytes the server received across both runs, less the
file's size, are the bytes sent twice: segments the server stored but whose
acknowledgement did not reach the checkpoint before the kill. (Bodies the killed
process had already handed to the kernel can still arrive and be stored after it
died, so the split between the two runs is approximate; the total is exact.)

Target (issue [5/6]): bytes sent again beyond the remainder at most segments per
file x chunk size (what can be in flight for one file). The resumed upload must keep
its media id (one INIT in all) and land SHA-256-exact.

    python benchmarks/resume.py                  # 1 GiB, 4 MiB chunks, 4 segments in flight
    python benchmarks/resume.py --size-mib 8 --chunk-kib 256 --bandwidth-mib 4   # seconds
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._harness import (
    BEARER,
    FIGURE_HEADER,
    byte_exact,
    emulator,
    figure_row,
    inspect,
    manifest,
    met,
    random_file,
    report_media_ids,
    upload_command,
    upload_env,
    wire_profile,
    write_json,
)
from bulkup.run.checkpoint import summarize

SEGMENTS_PER_FILE = 4
#: How often the emulator's byte counter is read while waiting for the kill point.
POLL_SECS = 0.01


def profile(bandwidth: int) -> str:
    """Discard storage, no processing, no limits; ``bandwidth`` bytes/s per connection."""
    return wire_profile(more=f"[network]\nbandwidth_bytes_per_sec = {bandwidth}\n")


def received(url: str) -> int:
    return int(inspect(url, "stats")["bytes_received"])


def kill_at(url: str, command: list[str], threshold: int) -> dict[str, Any]:
    """Run ``command``; SIGKILL it once the server holds ``threshold`` bytes."""
    started = time.perf_counter()
    env = upload_env({"X_BEARER_TOKEN": BEARER})
    proc = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    try:
        while proc.poll() is None and received(url) < threshold:
            time.sleep(POLL_SECS)  # a benchmark watching a counter in another process
        finished = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    if finished:
        raise SystemExit("the upload finished before the kill point: use a larger --size-mib")
    return {"seconds": time.perf_counter() - started, "bytes": received(url)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--chunk-kib", type=int, default=4096)
    parser.add_argument("--bandwidth-mib", type=float, default=0, help="per connection; 0 = none")
    parser.add_argument("--kill-at", type=float, default=0.5, help="fraction of the file")
    parser.add_argument("--json", type=Path, default=Path(__file__).with_suffix(".json"))
    args = parser.parse_args(argv)
    size, chunk = args.size_mib << 20, args.chunk_kib << 10
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        file = random_file(folder / "big.mp4", size)
        checkpoint, report = folder / "run.ckpt", folder / "report.jsonl"
        command = upload_command(
            "",
            [
                str(manifest(folder, [file], "video/mp4", "amplify_video")),
                "--checkpoint",
                str(checkpoint),
                "--report",
                str(report),
                "--chunk-size",
                f"{args.chunk_kib}KiB",
                "--segments-per-file",
                str(SEGMENTS_PER_FILE),
                "--no-preflight",
            ],
        )
        with emulator(profile(int(args.bandwidth_mib * (1 << 20)))) as url:
            command[command.index("--endpoint") + 1] = url
            first = kill_at(url, command, int(size * args.kill_at))
            acked = summarize(checkpoint)["bytes_acknowledged"]
            started = time.perf_counter()
            env = upload_env({"X_BEARER_TOKEN": BEARER})
            second = subprocess.run(command, env=env, stderr=subprocess.PIPE, text=True)
            second_secs = time.perf_counter() - started
            if second.returncode != 0:
                raise SystemExit(f"the resumed upload failed: {second.stderr}")
            stats = inspect(url, "stats")
            exact = byte_exact(url, report_media_ids(report))
    total = int(stats["bytes_received"])
    resent = total - size
    bound = SEGMENTS_PER_FILE * chunk
    inits = sum(stats["requests"]["initialize"].values())
    result = {
        "size_bytes": size,
        "chunk_bytes": chunk,
        "segments_per_file": SEGMENTS_PER_FILE,
        "killed_after_secs": round(first["seconds"], 2),
        "bytes_at_kill": first["bytes"],
        "killed_at_fraction": round(first["bytes"] / size, 3),
        "bytes_acknowledged_in_checkpoint": acked,
        "bytes_second_run": total - first["bytes"],
        "bytes_received_total": total,
        "bytes_sent_again": resent,
        "bytes_sent_again_target": bound,
        "resumed_secs": round(second_secs, 2),
        "initialize_requests": inits,
        "byte_exact": {"checked": exact["checked"], "mismatched": len(exact["mismatched"])},
        "meets_targets": 0 <= resent <= bound and inits == 1 and not exact["mismatched"],
    }
    print_table(result)
    write_json(args.json, result)
    return result


def print_table(r: dict[str, Any]) -> None:
    mib = 1 << 20
    print(
        f"resume: {r['size_bytes'] / mib:g} MiB, chunks of {r['chunk_bytes'] / mib:g} MiB, "
        f"{r['segments_per_file']} segments in flight; killed at "
        f"{r['killed_at_fraction']:.1%} after {r['killed_after_secs']} s"
    )
    print(f"{'bytes':<40}{'MiB':>12}")
    for label, key in (
        ("received when the killed run was reaped", "bytes_at_kill"),
        ("acknowledged in the checkpoint", "bytes_acknowledged_in_checkpoint"),
        ("received after that", "bytes_second_run"),
        ("received in all", "bytes_received_total"),
    ):
        print(f"{label:<40}{r[key] / mib:>12.2f}")
    resent, bound = r["bytes_sent_again"], r["bytes_sent_again_target"]
    inits = r["initialize_requests"]
    print(FIGURE_HEADER)
    ok = met(resent, bound, at_most=True)
    print(
        figure_row(
            "sent again beyond the remainder (MiB)",
            f"{resent / mib:.2f}",
            f"<= {bound / mib:g}",
            ok,
        )
    )
    print(
        figure_row(
            "INIT requests (same media id resumed)", inits, "= 1", "yes" if inits == 1 else "no"
        )
    )
    exact = r["byte_exact"]
    print(f"byte-exact: {exact['checked'] - exact['mismatched']} of {exact['checked']} media ids")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
