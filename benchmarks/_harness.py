"""What the benchmarks share: an emulator in its own process, files, the CLI, RSS.

Every benchmark prints a table and writes JSON next to itself; figures are ratios
measured side by side in one run, because absolute times on a shared machine are
noisy.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bulkup.emulator.config import DEMO_USER

BEARER = DEMO_USER.bearer_tokens[0]
#: An emulator that costs as little as possible: no latency, sizes and hashes only,
#: any bytes accepted, processing done at once, no rate limits.
WIRE_PROFILE = """
[storage]
mode = "discard"
check_media = false
[lifetimes]
processing_secs = 0
check_after_secs = 0
[limits]
enabled = false
"""


@contextlib.contextmanager
def emulator(profile: str) -> Iterator[str]:
    """Run ``bulkup serve`` with the TOML ``profile`` text; yield its base URL."""
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as fh:
        fh.write(profile)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bulkup", "serve", "--port", "0", "--profile", fh.name],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "X_BEARER_TOKEN": ""},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        if "listening on" not in first:
            raise SystemExit(f"the emulator did not start: {first!r}")
        yield first.split("listening on ")[1].split(" ")[0]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
        os.unlink(fh.name)


def sparse_file(path: Path, size: int) -> Path:
    """A file of ``size`` bytes that takes no disk space (reads as zeros)."""
    with path.open("wb") as out:
        out.truncate(size)
    return path


def random_file(path: Path, size: int) -> Path:
    with path.open("wb") as out:
        left = size
        while left:
            block = os.urandom(min(left, 1 << 20))
            out.write(block)
            left -= len(block)
    return path


def manifest(folder: Path, files: Sequence[Path], media_type: str, category: str) -> Path:
    target = folder / "manifest.jsonl"
    lines = [
        json.dumps({"path": str(f), "media_type": media_type, "media_category": category})
        for f in files
    ]
    target.write_text("\n".join(lines) + "\n")
    return target


def run_upload(url: str, args: Sequence[str]) -> dict[str, Any]:
    """Run ``bulkup upload`` to ``url``; return wall time, peak RSS and exit code."""
    env = {**os.environ, "X_BEARER_TOKEN": BEARER}
    for name in ("X_API_KEY", "X_API_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET"):
        env.pop(name, None)
    command = [
        sys.executable,
        "-m",
        "bulkup",
        "upload",
        "--endpoint",
        url,
        "--no-progress",
        "--no-preflight",
        "--report",
        os.devnull,
        *args,
    ]
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "exit": proc.returncode,
        "seconds": elapsed,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "stderr": stderr,
    }


def write_json(path: Path, result: dict[str, Any]) -> None:
    path.write_text(json.dumps(result, indent=2) + "\n")
