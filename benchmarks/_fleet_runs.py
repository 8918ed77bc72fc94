"""Benchmark 9's processes: emulator users and accounts, and the fleet's commands.

One user per account, all of the demo app; ``[accounts.NAME]`` tables for them; and
``bulkup submit``, ``bulkup worker`` x k at once, ``bulkup report`` as real processes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._harness import upload_env
from benchmarks.budget_day import Corpus
from bulkup.emulator.config import DEMO_USER
from bulkup.testing.redis_server import RedisServer


def user(n: int) -> dict[str, Any]:
    """The emulator's n-th user (0: the demo user), all of the demo app."""
    uid = f"10000000000000000{n + 1:02d}"
    return {
        "id": uid,
        "screen_name": f"bench{n}",
        "consumer_key": DEMO_USER.consumer_key,
        "consumer_secret": DEMO_USER.consumer_secret,
        "access_token": f"{uid}-bench9token" if n else DEMO_USER.access_token,
        "access_token_secret": f"bench9-secret-{n}" if n else DEMO_USER.access_token_secret,
        "bearer_tokens": list(DEMO_USER.bearer_tokens) if n == 0 else [],
    }


def toml_lines(table: dict[str, Any]) -> str:
    return "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items())


def accounts_config(folder: Path, count: int) -> Path:
    """A 0600 config file with ``[accounts.a0]`` … tables, one per emulator user."""
    path = folder / "accounts.toml"
    tables = []
    for n in range(count):
        u = user(n)
        keys = {
            "api_key": u["consumer_key"],
            "api_secret": u["consumer_secret"],
            "access_token": u["access_token"],
            "access_token_secret": u["access_token_secret"],
        }
        tables.append(f"[accounts.a{n}]\n{toml_lines(keys)}")
    path.write_text("\n".join(tables))
    path.chmod(0o600)
    return path


def with_accounts(corpus: Corpus, folder: Path, count: int) -> Path:
    """The corpus's manifest with its items spread round-robin over ``count`` accounts."""
    lines = [json.loads(line) for line in corpus.manifest.read_text().splitlines()]
    for i, line in enumerate(lines):
        line["account"] = f"a{i % count}"
    manifest = folder / f"manifest-{count}-accounts.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return manifest


def bulkup(*args: str) -> list[str]:
    return [sys.executable, "-m", "bulkup", *args]


def at_once(commands: Sequence[list[str]], env: dict[str, str]) -> dict[str, Any]:
    """Run ``commands`` at the same time; their exit codes, stderr tails and wall time."""
    started = time.perf_counter()
    procs = [
        subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for c in commands
    ]
    errs = [p.communicate()[1] for p in procs]
    seconds = time.perf_counter() - started
    return {"exits": [p.returncode for p in procs], "stderr": errs, "seconds": seconds}


def workers(
    queue: str, url: str, job: str, count: int, extra: Sequence[str] = ()
) -> dict[str, Any]:
    """``bulkup worker --exit-when-idle`` x ``count``, at once, on ``job``."""
    command = bulkup(
        "worker", "--queue", queue, "--job", job, "--exit-when-idle", "--endpoint", url,
        "--no-progress", "--no-preflight", *extra,
    )  # fmt: skip
    run = at_once([command] * count, upload_env())
    if any(run["exits"]):
        raise SystemExit(f"a worker failed: {run['exits']}: {run['stderr']}")
    return run


def submit_and_work(
    redis: RedisServer, url: str, manifest: Path, count: int, extra: Sequence[str]
) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    """Submit ``manifest`` as a fresh job (Redis emptied first), run ``count`` workers
    with ``extra`` options; the run, the job's report lines and its name."""
    redis.flush()
    job = f"bench9-{manifest.stem}-{count}"
    cli(bulkup("submit", "--queue", redis.url, "--job", job, str(manifest)))
    run = workers(redis.url, url, job, count, extra)
    report = cli(bulkup("report", "--queue", redis.url, "--job", job))
    lines = [json.loads(line) for line in report.splitlines() if line.strip()]
    return run, lines, job


def cli(command: list[str]) -> str:
    """Run a short ``bulkup`` command; its standard output (stop on failure)."""
    done = subprocess.run(command, env=upload_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[2:4])} failed: {done.stderr}")
    return done.stdout
