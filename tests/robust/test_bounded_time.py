"""Bounded time whatever the server does (issue #13, "Hung"): one test per case.

- A server that sends no rate-limit headers gets requests in parallel from the first
  one, and so does a window that has just turned over: the emulator holds requests
  until enough of them are held at once (``faults.gather``), so a client that sends one
  at a time never gets an answer and the hang guard fails the test.
- Connections refused, or never completed (a listening socket whose backlog is full):
  the run stops after three failed connections while nothing has answered; every item
  fails, and the requests made are counted, not timed.
- A server that accepts and never answers: ``--stall-timeout`` ends the run; every
  item is failed as ``stalled``, the exit status is 75 and the checkpoint resumes.
- A 429 whose reset is a day ahead: the run exits 75 at once instead of sleeping.

``anyio.fail_after`` bounds every run as a hang guard, never as a timed assertion.
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from bulkup.client.config import UploadConfig
from bulkup.client.uploader import Uploader
from bulkup.core.items import Item, Result
from bulkup.core.spec import Dialect
from bulkup.emulator import Answers, Emulator, EmulatorConfig, RateLimits
from bulkup.media import samples
from tests.cli.test_cli_upload import bulkup, env_for, upload_args
from tests.conftest import FAST, FAST_LIFETIMES, oauth

pytestmark = pytest.mark.anyio

#: A hang guard, far above what any run here needs; not a timed assertion.
GUARD_SECS = 60
NO_HEADERS = EmulatorConfig(lifetimes=FAST_LIFETIMES, answers=Answers(rate_headers=False))


def images(folder: Path, count: int) -> list[Item]:
    paths = [samples.write_image(folder / f"{i}.png", fmt="png", seed=i) for i in range(count)]
    return [Item(id=p.name, path=p) for p in paths]


async def run_all(up: Uploader, items: list[Item]) -> dict[str, Result]:
    with anyio.fail_after(GUARD_SECS):
        return {r.id: r async for r in up.upload_many(items)}


# --- in parallel -----------------------------------------------------------------------
@pytest.mark.parametrize("api", ["v1.1", "v2"])
async def test_without_rate_limit_headers_requests_go_in_parallel_from_the_first(
    tmp_path: Path, api: Dialect
) -> None:
    items = images(tmp_path, 20)
    async with Emulator(NO_HEADERS, environ={}) as emu:
        emu.faults.gather(16)  # answered only once 16 are at the server together
        config = UploadConfig(api=api, endpoint=emu.url, concurrency=16, files_in_flight=16)
        async with Uploader(config, auth=oauth(emu)) as up:
            results = await run_all(up, items)
        assert all(r.ok for r in results.values()), [r.error for r in results.values()]
        assert sum(sum(counts.values()) for counts in emu.stats()["requests"].values()) == 20


async def test_a_window_turning_over_never_serialises_requests(tmp_path: Path) -> None:
    first, *rest = images(tmp_path, 9)
    async with Emulator(FAST, environ={}) as emu:
        config = UploadConfig(endpoint=emu.url, concurrency=8, files_in_flight=8)
        # One clock for both sides: the window turns over for the client as for the server.
        async with Uploader(config, auth=oauth(emu), clock=emu.state.clock.now) as up:
            assert (await up.upload(first.path)).ok  # the window is announced
            emu.advance(905)  # and has turned over
            emu.faults.gather(8, endpoint="upload")
            results = await run_all(up, rest)
        assert all(r.ok for r in results.values()), [r.error for r in results.values()]
        assert emu.stats()["requests"]["upload"] == {"200": 9}


# --- a rate limit a day away ----------------------------------------------------------------
DAY = 24 * 3600.0


@pytest.mark.parametrize(
    "limits",
    [
        RateLimits(window_secs=DAY, per_window={"upload": 0}),  # x-rate-limit-reset a day ahead
        RateLimits(app_per_day={"upload": 0}),  # x-app-limit-24hour-reset a day ahead
    ],
    ids=["rate-limit-reset", "app-24-hour-cap"],
)
async def test_a_429_with_a_reset_a_day_ahead_exits_75_at_once(
    tmp_path: Path, limits: RateLimits
) -> None:
    (media := tmp_path / "media").mkdir()
    for i in range(3):
        samples.write_image(media / f"{i}.png", fmt="png", seed=i)
    config = EmulatorConfig(lifetimes=FAST_LIFETIMES, limits=limits)
    async with Emulator(config, environ={}) as emu:
        run = await bulkup(
            *upload_args(emu, "media"), "--checkpoint", "run.ckpt", env=env_for(emu), cwd=tmp_path
        )
        uploads = emu.stats()["requests"]["upload"]
    assert run.code == 75, run.err
    lines = run.lines()
    assert [line["status"] for line in lines] == ["skipped"] * 3
    for line in lines:
        assert line["error"]["kind"] == "rate_capped", line
        assert line["retry_after"] and line["retry_after"] in run.err  # says until when
    # The first 429 is the cap: no item waits for it, none tries again.
    assert set(uploads) == {"429"} and uploads["429"] <= 3, uploads
    assert json.loads((tmp_path / "run.ckpt").read_text())  # kept for the rerun
