"""Bounded time whatever the server does (issue #13, "Hung"): one test per case.

- A server that sends no rate-limit headers gets requests in parallel from the first
  one, and so does a window that has just turned over: the emulator holds requests
  until enough of them are held at once (``faults.gather``), so a client that sends one
  at a time never gets an answer and the hang guard fails the test.
- Connections refused, or never completed (a listening socket whose backlog is full):
  the run stops after three failed connections while nothing has answered; the items
  that tried fail, the others are skipped, not sent, and the requests made are
  counted, not timed.
- A server that accepts and never answers: ``--stall-timeout`` ends the run; every
  item that was sent is failed as ``stalled`` (the others skipped with that kind), the
  exit status is 75 and the checkpoint resumes; an item waiting to retry does not wait
  out its backoff.
- A 429 whose reset is a day ahead: the run exits 75 at once instead of sleeping.

``anyio.fail_after`` bounds every run as a hang guard, never as a timed assertion.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from bulkup.auth.credentials import BearerAuth
from bulkup.client.config import UploadConfig
from bulkup.client.uploader import Uploader
from bulkup.core.items import Item, Result
from bulkup.core.spec import Dialect
from bulkup.emulator import Answers, Emulator, EmulatorConfig, RateLimits
from bulkup.media import samples
from tests.cli.test_cli_upload import bulkup, env_for, upload_args
from tests.conftest import FAST, FAST_LIFETIMES, KiB, oauth
from tests.conftest import file_sha256 as sha256

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


# --- a server that cannot be reached -----------------------------------------------------
@pytest.fixture
def refusing() -> str:
    """A port of 127.0.0.1 where nothing listens: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def blackholed() -> Iterator[str]:
    """A listening socket whose backlog is full: a connection is never completed."""
    with socket.socket() as listener, socket.socket() as filler:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        filler.connect(listener.getsockname())  # takes the one place; later SYNs are dropped
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def failed_unreachable(results: dict[str, Result], count: int) -> int:
    """Every item failed (it tried) or skipped (not sent), for one reason; the failed."""
    assert len(results) == count
    for result in results.values():
        assert result.status in {"failed", "skipped"} and result.error is not None, result
        assert result.error.kind == "transport_error", result.error
        assert "no request of this run reached the server" in result.error.message
    assert len({r.error.message for r in results.values() if r.error}) == 1
    return sum(r.status == "failed" for r in results.values())


async def test_connections_refused_end_the_run_with_every_item_failed_and_few_requests(
    tmp_path: Path, refusing: str
) -> None:
    items = images(tmp_path, 20)
    config = UploadConfig(endpoint=refusing)  # default attempts and backoff
    async with Uploader(config, auth=BearerAuth("bearer-token-value")) as up:
        results = await run_all(up, items)
        requests = up.stats["requests"]
    tried = failed_unreachable(results, 20)
    assert "nothing is listening at 127.0.0.1" in results["0.png"].error.message  # type: ignore[union-attr]
    # Three refused connections stop the run: the items in flight had one each, and an
    # item refused early may have tried again before the third (a busy machine).
    assert requests <= 3 + config.files_in_flight - 1
    assert 1 <= tried <= config.files_in_flight  # the others were never sent: skipped


async def test_a_blackholed_address_ends_the_run_after_three_connect_timeouts(
    tmp_path: Path, blackholed: str
) -> None:
    items = images(tmp_path, 6)
    config = UploadConfig(endpoint=blackholed, connect_timeout=1.0, files_in_flight=1)
    async with Uploader(config, auth=BearerAuth("bearer-token-value")) as up:
        results = await run_all(up, items)
        requests = up.stats["requests"]
    assert failed_unreachable(results, 6) == 1  # the first; the other five never sent
    assert "could not connect within 1 s" in results["0.png"].error.message  # type: ignore[union-attr]
    assert requests == 3  # one item at a time: its three attempts, then nothing more


# --- a server that never answers -----------------------------------------------------------
async def test_a_server_that_never_answers_is_stopped_by_the_stall_timeout(
    tmp_path: Path,
) -> None:
    (media := tmp_path / "media").mkdir()
    for i in range(6):
        samples.write_image(media / f"{i}.png", fmt="png", seed=i, target_bytes=12 * KiB)
    args = ["--checkpoint", "run.ckpt", "--strategy", "chunked", "--chunk-size", "4KiB"]
    args += ["--files-in-flight", "4"]  # fewer than the files: two are never started
    async with Emulator(FAST, environ={}) as emu:
        emu.faults.schedule("hang", endpoint="append", count=1000)  # INIT is answered
        first = await bulkup(
            *upload_args(emu, "media"),
            *args,
            "--stall-timeout",
            "2s",
            env=env_for(emu),
            cwd=tmp_path,
        )
        assert first.code == 75, first.err
        inits = emu.stats()["requests"]["initialize"]
        lines = first.lines()
        assert len(lines) == 6
        for line in lines:
            assert line["error"]["kind"] == "stalled", line
            assert "--stall-timeout" in line["error"]["message"], line
        statuses = [line["status"] for line in lines]
        assert sorted(statuses) == ["failed"] * 4 + ["skipped"] * 2  # two never sent
        assert "left for a later run: 6 items" in first.err
        assert inits == {"200": 4}  # files in flight; the other two were never started

        emu.faults.clear()  # the server answers again: the checkpoint resumes the four
        second = await bulkup(*upload_args(emu, "media"), *args, env=env_for(emu), cwd=tmp_path)
        assert second.code == 0, second.err
        assert [line["status"] for line in second.lines()] == ["succeeded"] * 6
        assert emu.stats()["requests"]["initialize"] == {"200": 6}


async def test_a_stop_ends_the_items_waiting_to_retry_at_once(tmp_path: Path) -> None:
    items = images(tmp_path, 2)
    async with Emulator(FAST, environ={}) as emu:
        emu.faults.schedule("error_503", endpoint="upload")  # one item backs off...
        emu.faults.schedule("hang", endpoint="upload", count=100)  # ...the other hangs
        # A backoff of up to an hour: without the stop waking it, the item that got the
        # 503 would most likely sleep past the hang guard.
        config = UploadConfig(
            endpoint=emu.url, stall_timeout=2.0, backoff_base=3600.0, backoff_cap=3600.0
        )
        async with Uploader(config, auth=oauth(emu), seed=1) as up:
            results = await run_all(up, items)
    assert len(results) == 2
    for result in results.values():
        assert result.status == "failed" and result.error is not None, result
        assert result.error.kind == "stalled", result.error


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
        args = ["--checkpoint", "run.ckpt", "--strategy", "simple"]  # one-shot only
        run = await bulkup(*upload_args(emu, "media"), *args, env=env_for(emu), cwd=tmp_path)
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


async def test_with_the_one_shot_day_cap_spent_auto_sends_the_images_chunked(
    tmp_path: Path,
) -> None:
    (media := tmp_path / "media").mkdir()
    for i in range(3):
        samples.write_image(media / f"{i}.png", fmt="png", seed=i)
    limits = RateLimits(app_per_day={"upload": 0})  # one-shot capped until tomorrow
    async with Emulator(EmulatorConfig(lifetimes=FAST_LIFETIMES, limits=limits), environ={}) as emu:
        args = ["--checkpoint", "run.ckpt"]  # --strategy auto
        run = await bulkup(*upload_args(emu, "media"), *args, env=env_for(emu), cwd=tmp_path)
        requests = emu.stats()["requests"]
        lines = {line["id"]: line for line in run.lines()}
        for line in lines.values():
            if line["status"] == "succeeded":
                info = emu.media(line["media_id_string"])
                assert info is not None and info["sha256"] == sha256(Path(line["path"]))
    # The images sent one-shot before the cap was known met it and went again chunked;
    # those chosen after it went chunked at once. None is left for tomorrow.
    assert [line["status"] for line in lines.values()] == ["succeeded"] * 3
    assert set(requests["upload"]) == {"429"} and requests["initialize"] == {"200": 3}
    assert run.code == 0, run.err


async def test_a_rerun_after_exit_75_starts_from_the_budgets_kept_and_draws_no_429(
    tmp_path: Path,
) -> None:
    (media := tmp_path / "media").mkdir()
    for i in range(4):
        samples.write_image(media / f"{i}.png", fmt="png", seed=i)
    limits = RateLimits(per_window={"upload": 2})  # two one-shots per 15 minutes
    args = ["--checkpoint", "run.ckpt", "--strategy", "simple", "--max-wait", "1m"]
    args += ["--files-in-flight", "1"]  # the first request announces the window
    async with Emulator(EmulatorConfig(lifetimes=FAST_LIFETIMES, limits=limits), environ={}) as emu:
        first = await bulkup(*upload_args(emu, "media"), *args, env=env_for(emu), cwd=tmp_path)
        second = await bulkup(*upload_args(emu, "media"), *args, env=env_for(emu), cwd=tmp_path)
        uploads = emu.stats()["requests"]["upload"]
    assert first.code == second.code == 75, (first.err, second.err)
    statuses = sorted(line["status"] for line in first.lines())
    assert statuses == ["skipped", "skipped", "succeeded", "succeeded"]
    # The rerun knew the window was spent until its reset: it asked nothing of it.
    assert uploads == {"200": 2}, uploads
    assert json.loads((tmp_path / "run.ckpt").read_text())["budgets"]["upload"]
