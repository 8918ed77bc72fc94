"""What the benchmarks share: an emulator in its own process, files, the CLI, RSS.

Every benchmark prints a table and writes JSON next to itself; figures are ratios
measured side by side in one run, because absolute times on a shared machine are
noisy.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from bulkup.emulator.config import DEMO_USER

BEARER = DEMO_USER.bearer_tokens[0]


def wire_profile(*, limits: str = "enabled = false", more: str = "") -> str:
    """An emulator that costs as little as possible: no latency, sizes and hashes only,
    any bytes accepted, processing done at once; ``limits`` is the body of its
    ``[limits]`` table (none by default), ``more`` adds tables."""
    return f"""
[storage]
mode = "discard"
check_media = false
[lifetimes]
processing_secs = 0
check_after_secs = 0
[limits]
{limits}
{more}"""


WIRE_PROFILE = wire_profile()


@contextlib.contextmanager
def emulator(profile: str) -> Iterator[str]:
    """Run ``bulkup serve`` with the TOML ``profile`` text; yield its base URL."""
    with _serve(profile, ()) as url:
        yield url


@contextlib.contextmanager
def tls_emulator(profile: str, ca_out: Path) -> Iterator[str]:
    """Like :func:`emulator`, serving https with a fresh CA written to ``ca_out``."""
    with _serve(profile, ("--tls-self-signed", "--ca-out", str(ca_out))) as url:
        yield url


@contextlib.contextmanager
def _serve(profile: str, extra: Sequence[str]) -> Iterator[str]:
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as fh:
        fh.write(profile)
    # --quiet: no line per request, so the banner alone is in the stderr pipe.
    serve = ("serve", "--port", "0", "--profile", fh.name, "--quiet", *extra)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bulkup", *serve],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "X_BEARER_TOKEN": ""},
    )
    try:
        url = served_url(proc)
        if url is None:
            raise SystemExit(f"the emulator did not start: {proc.communicate()[1]!r}")
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
        os.unlink(fh.name)


def served_url(proc: subprocess.Popen[str]) -> str | None:
    """The URL in ``bulkup serve``'s last export line, ``export BULKUP_ENDPOINT=...``,
    which it prints once it listens; None if it exits first."""
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("export BULKUP_ENDPOINT="):
            return shlex.split(line)[1].partition("=")[2]
    return None


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
    """Run ``bulkup upload`` to ``url`` with the demo bearer token, no preflight and no
    report; return wall time, peak RSS, CPU seconds and exit code (see :func:`run_cli`)."""
    extra = ["--no-preflight", "--report", os.devnull, *args]
    return run_cli(upload_command(url, extra), upload_env())


def write_json(path: Path, result: dict[str, Any]) -> None:
    path.write_text(json.dumps(result, indent=2) + "\n")


# --- added for benchmarks 1, 4, 5 and 6 ----------------------------------------------
#: The demo user's OAuth 1.0a credentials, as ``bulkup upload`` reads them.
OAUTH1_ENV = {
    "X_API_KEY": DEMO_USER.consumer_key,
    "X_API_SECRET": DEMO_USER.consumer_secret,
    "X_ACCESS_TOKEN": DEMO_USER.access_token,
    "X_ACCESS_TOKEN_SECRET": DEMO_USER.access_token_secret,
}
CREDENTIAL_VARS = (*OAUTH1_ENV, "X_BEARER_TOKEN")


def upload_command(url: str, args: Sequence[str]) -> list[str]:
    """``bulkup upload`` to ``url`` without progress display; ``args`` follow."""
    return [sys.executable, "-m", "bulkup", "upload", "--endpoint", url, "--no-progress", *args]


def upload_env(credentials: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment with only ``credentials`` (default: the demo bearer token) set."""
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARS}
    env.update(credentials if credentials is not None else {"X_BEARER_TOKEN": BEARER})
    return env


#: Runs the command as its own child and writes that child's exit, peak RSS and CPU time
#: to the file named first. The command is then forked from this small process, not
#: from the benchmark: a process's peak RSS (``ru_maxrss``) counts the memory it shared
#: with its parent between fork and exec, so a benchmark holding 100,000 paths made
#: every run it started look 30 MB bigger than it was.
_LAUNCHER = """
import json, os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump([os.waitstatus_to_exitcode(status), usage.ru_maxrss,
               usage.ru_utime + usage.ru_stime], out)
"""


def run_cli(command: Sequence[str], env: Mapping[str, str]) -> dict[str, Any]:
    """Run ``command``; return wall time, peak RSS, CPU seconds, exit code and stderr."""
    with tempfile.TemporaryDirectory() as tmp:
        usage_file = Path(tmp) / "usage.json"
        launcher = [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(usage_file)]
        started = time.perf_counter()
        proc = subprocess.Popen(
            [*launcher, *command], env=dict(env), stderr=subprocess.PIPE, text=True
        )
        assert proc.stderr is not None
        stderr = proc.stderr.read()  # read first: a full pipe would block the child
        proc.wait()
        elapsed = time.perf_counter() - started
        proc.stderr.close()
        code, maxrss_kib, cpu = json.loads(usage_file.read_text())
    return {
        "exit": code,
        "seconds": elapsed,
        "peak_rss_mb": maxrss_kib / 1024,
        "cpu_seconds": cpu,
        "stderr": stderr,
    }


def inspect(url: str, path: str, ca: Path | None = None) -> Any:
    """GET ``/_emulator/{path}`` (no authentication) and decode its JSON."""
    context = ssl.create_default_context(cafile=str(ca)) if ca is not None else None
    with urllib.request.urlopen(f"{url}/_emulator/{path}", context=context) as answer:
        return json.loads(answer.read())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def byte_exact(
    url: str, uploaded: Iterable[tuple[str, Path]], ca: Path | None = None
) -> dict[str, Any]:
    """Compare, for every (media id, file), the server's SHA-256 with the file's.

    Returns ``{"checked": n, "mismatched": [media ids]}``; a media id the server does
    not know, or whose state is not ``succeeded`` (processing failed), counts as
    mismatched.
    """
    checked, mismatched = 0, []
    for media_id, path in uploaded:
        checked += 1
        try:
            info = inspect(url, f"media/{media_id}", ca)
        except urllib.error.HTTPError:
            info = {}
        if info.get("state") != "succeeded" or info.get("sha256") != sha256_of(path):
            mismatched.append(media_id)
    return {"checked": checked, "mismatched": mismatched}


def report_media_ids(report: Path) -> list[tuple[str, Path]]:
    """(media id, file) of every succeeded line of a ``bulkup upload`` report."""
    pairs = []
    for line in report.read_text().splitlines():
        entry = json.loads(line)
        if entry["status"] == "succeeded":
            pairs.append((entry["media_id_string"], Path(entry["path"])))
    return pairs


def met(value: float, target: float, *, at_most: bool = False) -> str:
    """``yes`` or ``no`` for a figure against its target (at least, or at most)."""
    return "yes" if (value <= target if at_most else value >= target) else "no"


def figure_row(label: str, value: object, target: object, ok: str, width: int = 40) -> str:
    """One line of a benchmark's table of figures: label, value, target, met."""
    return f"{label:<{width}}{value!s:>12}{target!s:>12}{ok:>6}"


FIGURE_HEADER = figure_row("figure", "value", "target", "met")
