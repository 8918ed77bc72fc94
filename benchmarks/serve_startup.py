"""How long `bulkup serve` takes from process start to answering requests.

Target (issue [1/6]): under 2 s. Prints a table and writes JSON next to this file.

    python benchmarks/serve_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

TARGET_SECS = 2.0


def one_run() -> float:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bulkup", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # the banner; the export lines are on stdout
        text=True,
    )
    assert proc.stdout is not None
    line = ""
    while not line.startswith("export BULKUP_ENDPOINT="):  # printed once it listens
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"bulkup serve exited with {proc.wait()} before listening")
    url = shlex.split(line)[1].partition("=")[2]
    with urllib.request.urlopen(url + "/_emulator/health", timeout=10) as resp:
        resp.read()
    elapsed = time.perf_counter() - started
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=20)
    if proc.returncode != 0:
        raise SystemExit(f"bulkup serve exited with {proc.returncode} on SIGINT")
    return elapsed


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path, default=Path(__file__).with_suffix(".json"))
    args = parser.parse_args(argv)
    times = [one_run() for _ in range(args.runs)]
    result = {
        "runs": args.runs,
        "median_secs": statistics.median(times),
        "max_secs": max(times),
        "target_secs": TARGET_SECS,
        "ratio_to_target": max(times) / TARGET_SECS,
    }
    print(f"{'bulkup serve start-up':<28}{'median':>10}{'max':>10}{'target':>10}")
    print(
        f"{'process start -> first answer':<28}{result['median_secs']:>9.2f}s"
        f"{result['max_secs']:>9.2f}s{TARGET_SECS:>9.2f}s"
    )
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
