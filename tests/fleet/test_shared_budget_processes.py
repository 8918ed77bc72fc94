"""Two ``bulkup upload`` processes on one account: with ``--budget`` they draw no 429.

Both processes (``python -m bulkup``) upload their own images at once, to one emulator
in this process whose budgets are X's in form but small, with 15-minute windows scaled
to a second and a half and a 24-hour app cap announced in every answer. Sharing the
budget on the suite's Redis server, together they never go past a window: not one
429, every item byte-exact. Without it, each spends what it thinks is the whole
window, and together they draw 429s (so the first test can fail).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from bulkup.emulator import Emulator, EmulatorConfig, Lifetimes, RateLimits
from bulkup.media import samples
from bulkup.testing.redis_server import RedisServer
from tests.cli.test_cli_upload import Run, bulkup, env_for, upload_args
from tests.conftest import file_sha256

pytestmark = pytest.mark.anyio

WINDOW_SECS = 1.5
#: Per account per (scaled) 15 minutes: X's budgets in form, small enough that two
#: processes of 2 requests in flight each never pass one before its first answer.
BUDGETS = {"upload": 4, "initialize": 4, "append": 8, "finalize": 4, "status": 8}
#: Per app per (scaled) 24 hours: announced in every answer, never reached here.
APP_CAPS = {"upload": 1000, "initialize": 1000, "append": 1000, "finalize": 1000}
IMAGES = 10


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    limits = RateLimits(time_scale=900 / WINDOW_SECS, per_window=BUDGETS, app_per_day=APP_CAPS)
    config = EmulatorConfig(
        lifetimes=Lifetimes(processing_secs=0, check_after_secs=0), limits=limits
    )
    async with Emulator(config, environ={}) as emulator:
        yield emulator


def images(folder: Path, name: str) -> Path:
    """A manifest of IMAGES still images (some large enough to go chunked at 4 KiB)."""
    folder.mkdir()
    lines = []
    for n in range(IMAGES):
        size = 6 * 1024 if n % 3 == 0 else None
        path = samples.write_image(
            folder / f"{name}{n}.png", seed=hash(name) % 97 + n, target_bytes=size
        )
        lines.append(json.dumps({"id": f"{name}-{n}", "path": path.name}))
    manifest = folder / "batch.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


async def two_processes(emu: Emulator, tmp_path: Path, *budget: str) -> dict[str, Run]:
    runs: dict[str, Run] = {}

    async def one(name: str) -> None:
        manifest = images(tmp_path / name, name)
        runs[name] = await bulkup(
            *upload_args(emu, manifest),
            *budget,
            "--chunk-size",
            "4KiB",
            "--concurrency",
            "2",
            "--files-in-flight",
            "2",
            "--report",
            tmp_path / f"{name}.jsonl",
            env=env_for(emu),
        )

    async with anyio.create_task_group() as tg:  # at once, on one account
        for name in ("a", "b"):
            tg.start_soon(one, name)
    return runs


def statuses(emu: Emulator) -> dict[str, dict[str, int]]:
    return {endpoint: dict(counts) for endpoint, counts in emu.stats()["requests"].items()}


def too_many(emu: Emulator) -> int:
    return sum(counts.get("429", 0) for counts in statuses(emu).values())


async def test_two_processes_sharing_a_budget_draw_no_429_and_upload_every_item_byte_exact(
    emu: Emulator, redis_server: RedisServer, tmp_path: Path
) -> None:
    runs = await two_processes(emu, tmp_path, "--budget", redis_server.url)
    for name, run in runs.items():
        assert run.code == 0, run.err
        lines = [json.loads(line) for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
        assert len(lines) == IMAGES
        for line in lines:
            assert line["status"] == "succeeded", line
            info = emu.media(line["media_id_string"])
            path = tmp_path / name / f"{name}{line['id'].rsplit('-', 1)[1]}.png"
            assert info is not None and info["sha256"] == file_sha256(path)
    assert too_many(emu) == 0, statuses(emu)
    peaks = emu.stats()["rate_window_peak"]
    assert sum(peaks.values()) > 0 and all(peaks[e] <= BUDGETS[e] for e in peaks), peaks
    requests = statuses(emu)
    sent = sum(requests.get("upload", {}).values()) + sum(requests.get("initialize", {}).values())
    assert sent >= 2 * IMAGES  # each image once: the windows were passed together, not alone


async def test_without_a_shared_budget_two_processes_on_one_account_draw_429s(
    emu: Emulator, tmp_path: Path
) -> None:
    runs = await two_processes(emu, tmp_path)
    assert all(run.code in (0, 75) for run in runs.values()), [r.err for r in runs.values()]
    assert too_many(emu) > 0, statuses(emu)
