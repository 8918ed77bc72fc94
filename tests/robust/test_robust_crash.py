"""``bulkup upload`` killed with SIGKILL at random points, then run again until it finishes.

The command runs as a subprocess against an emulator in this process. A seeded RNG
picks where each run dies: after a number of answered APPENDs (sometimes with the next
APPEND hung on the server, so the kill lands mid-transfer for sure), or while an INIT
or a FINALIZE hangs. After every kill the checkpoint must open and agree with the
server; the run is repeated with the same checkpoint (and a new report file, since a
killed run leaves a partial one) until one exits 0. Then every item is in the final
report exactly once, byte-exact on the server, and the APPENDs sent again stay within
what was in flight at the kills.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import signal
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from bulkup.emulator import Emulator
from bulkup.emulator.store import Media
from bulkup.media import samples
from bulkup.run.checkpoint import Checkpoint, summarize
from tests.apiclient import RawClient
from tests.cli.test_cli_upload import (
    PROCESS_LIMIT_S,
    check_succeeded,
    env_for,
    identity,
    requests,
    started,
    upload_args,
)
from tests.conftest import HANG, answering

pytestmark = pytest.mark.anyio

SEED = 20_241_123
KILLS = 4
CHUNK = 4 * 1024
CONCURRENCY, FILES_IN_FLIGHT, SEGMENTS_PER_FILE = 6, 3, 2
#: APPENDs that can be in flight at once: the most a kill can leave answered but unrecorded.
IN_FLIGHT = min(CONCURRENCY, FILES_IN_FLIGHT * SEGMENTS_PER_FILE)


def media(folder: Path) -> dict[str, Path]:
    """Ten files: still images (one request each), GIFs and videos of 4 to 15 segments."""
    folder.mkdir()
    videos = [(64, 64, 1), (64, 64, 2), (128, 96, 2), (160, 120, 3), (96, 96, 3)]
    files = [
        samples.write_video(folder / f"clip{i}.mp4", width=w, height=h, seconds=s, seed=i)
        for i, (w, h, s) in enumerate(videos)
    ]
    files += [
        samples.write_gif(folder / "loop0.gif", width=64, height=64, frames=6, seed=10),
        samples.write_gif(folder / "loop1.gif", width=80, height=60, frames=8, seed=11),
        samples.write_image(folder / "photo.png", fmt="png", width=48, height=32, seed=12),
        samples.write_image(folder / "photo.jpg", fmt="jpeg", width=64, height=48, seed=13),
        samples.write_image(folder / "square.webp", fmt="webp", width=40, height=40, seed=14),
    ]
    return {f"media/{path.name}": path for path in files}


def segments_needed(files: dict[str, Path]) -> int:
    chunked = [p for p in files.values() if p.suffix in (".mp4", ".gif")]
    return sum(-(-p.stat().st_size // CHUNK) for p in chunked)


@dataclass(frozen=True)
class KillPoint:
    """Where one run dies: after ``after`` more answers of ``endpoint``."""

    endpoint: str
    after: int
    #: Hang the next request to ``endpoint`` on the server and kill while it hangs.
    hang: bool

    @classmethod
    def draw(cls, rng: random.Random) -> KillPoint:
        endpoint = rng.choice(["append", "append", "append", "initialize", "finalize"])
        after = rng.randint(1, 6) if endpoint == "append" else rng.randint(0, 2)
        return cls(endpoint, after, hang=endpoint != "append" or rng.random() < 0.5)


async def first_of(
    wanted: Callable[[], Awaitable[None]], exited: Callable[[], Awaitable[Any]]
) -> bool:
    """True if ``wanted`` finished before ``exited`` (the process ended first: False)."""
    outcome: list[bool] = []
    async with anyio.create_task_group() as tg:

        async def run(awaitable: Callable[[], Awaitable[Any]], value: bool) -> None:
            await awaitable()
            outcome.append(value)
            tg.cancel_scope.cancel()

        tg.start_soon(run, wanted, True)
        tg.start_soon(run, exited, False)
    return outcome[0]


def report_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a (possibly partial) report; each must be whole JSON."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def check_checkpoint_agrees_with_server(checkpoint: Path, emu: Emulator) -> None:
    """Readable by ``bulkup status`` and by a resuming run; claims nothing the server lacks."""
    status = summarize(checkpoint)
    assert status["items"] <= 10
    with Checkpoint.open(checkpoint, identity(emu)) as ckpt:
        for record in ckpt:
            if record.media_id is None or not record.acked:
                continue
            info = emu.media(record.media_id)
            assert info is not None, record
            if not record.finalized:  # finalized media keep no segments to compare
                assert record.acked <= set(info["segments"]), (record.id, info["segments"])


@pytest.mark.answer_modes
async def test_killed_runs_resume_to_one_byte_exact_report_resending_only_what_was_in_flight(
    tmp_path: Path, answers: str
) -> None:
    files = media(tmp_path / "media")
    rng = random.Random(SEED)
    args = [
        "--checkpoint",
        "run.ckpt",
        "--chunk-size",
        "4KiB",
        "--concurrency",
        CONCURRENCY,
        "--files-in-flight",
        FILES_IN_FLIGHT,
        "--segments-per-file",
        SEGMENTS_PER_FILE,
    ]
    kills: list[KillPoint] = []
    reports: list[Path] = []
    code: int | None = None
    async with Emulator(answering(HANG, answers), environ={}) as emu:
        for run in range(KILLS + 5):
            point = KillPoint.draw(rng) if len(kills) < KILLS else None
            report = tmp_path / f"report-{run}.jsonl"
            reports.append(report)
            if point is not None and point.hang:
                emu.faults.schedule("latency_spike", endpoint=point.endpoint, after=point.after)
            answered = requests(emu).get(point.endpoint if point else "append", {})
            base = sum(answered.values())
            command = [*upload_args(emu, "media"), *args, "--report", report.name]
            async with started(*command, env=env_for(emu), cwd=tmp_path) as process:
                with anyio.fail_after(PROCESS_LIMIT_S):
                    if point is None:
                        code = await process.wait()
                        break
                    if point.hang:
                        injected = emu.faults.injected["latency_spike"]
                        reached = functools.partial(
                            emu.wait_for_fault, "latency_spike", injected + 1
                        )
                    else:
                        reached = functools.partial(
                            emu.wait_for_requests, point.endpoint, base + point.after
                        )
                    if not await first_of(reached, process.wait):
                        code = process.returncode
                        break  # it finished before reaching the point: nothing to kill
                    process.send_signal(signal.SIGKILL)
                    assert await process.wait() == -signal.SIGKILL
            kills.append(point)
            check_checkpoint_agrees_with_server(tmp_path / "run.ckpt", emu)

        err = (tmp_path / "stderr.txt").read_text()
        assert code == 0, err
        assert len(kills) >= 3, kills

        final = report_lines(reports[-1])
        assert sorted(line["id"] for line in final) == sorted(files)  # each item exactly once
        for line in final:
            check_succeeded(line, emu, files[line["id"]])
        assert len({line["media_id_string"] for line in final}) == len(files)

        by_id = {line["id"]: line["media_id_string"] for line in final}
        for earlier in reports[:-1]:  # a partial report never contradicts the final one
            for line in report_lines(earlier):
                if line["status"] == "succeeded":
                    assert by_id[line["id"]] == line["media_id_string"], line

        needed = segments_needed(files)
        appended = sum(n for status, n in requests(emu)["append"].items() if status[0] == "2")
        resent, bound = appended - needed, len(kills) * IN_FLIGHT
        print(f"{len(kills)} kills at {kills}: {appended} APPENDs for {needed} segments")
        print(f"re-sent {resent} APPENDs; bound {bound} ({len(kills)} kills x {IN_FLIGHT})")
        assert 0 <= resent <= bound


async def test_a_finalize_whose_client_went_away_can_be_finalized_again(
    emulator: Emulator, client: RawClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a SIGKILL during FINALIZE does to the server: the client retries it later."""
    data = samples.write_video(tmp_path / "v.mp4", width=64, height=64, seconds=1).read_bytes()
    init = await client.v2_init(len(data), "video/mp4", "tweet_video")
    media_id = init.json["data"]["id"]
    for index, start in enumerate(range(0, len(data), CHUNK)):
        reply = await client.v2_append(media_id, index, data[start : start + CHUNK])
        assert reply.status == 200, reply.raw
    store = emulator.state.store
    assembling, release, assembled = threading.Event(), threading.Event(), threading.Event()
    assemble = store._assemble

    def slow_assemble(media: Media, indices: list[int]) -> None:
        assembling.set()
        release.wait(PROCESS_LIMIT_S)
        try:
            assemble(media, indices)
        finally:
            assembled.set()

    monkeypatch.setattr(store, "_assemble", slow_assemble)
    media = store.peek(int(media_id))
    assert media is not None
    async with anyio.create_task_group() as tg:  # the FINALIZE of a client that is killed
        tg.start_soon(store.finalize, media)
        await anyio.to_thread.run_sync(assembling.wait, PROCESS_LIMIT_S)
        tg.cancel_scope.cancel()
    release.set()
    await anyio.to_thread.run_sync(assembled.wait, PROCESS_LIMIT_S)
    monkeypatch.setattr(store, "_assemble", assemble)

    reply = await client.v2_finalize(media_id)  # the resumed run finalizes again

    assert reply.status == 200, reply.raw
    info = emulator.media(media_id)
    assert info is not None and info["sha256"] == hashlib.sha256(data).hexdigest()
