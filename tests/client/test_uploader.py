"""The uploader against the emulator over real sockets: bytes, resume, expiry, changes."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from bulkup.auth.credentials import BearerAuth
from bulkup.client.config import UploadConfig
from bulkup.client.uploader import Uploader
from bulkup.core.items import Item, Result
from bulkup.emulator import Emulator, EmulatorConfig
from bulkup.media import samples
from bulkup.run.checkpoint import Checkpoint, RunIdentity
from tests.conftest import HANG, KiB, answering, oauth
from tests.conftest import file_sha256 as sha256

pytestmark = [pytest.mark.anyio, pytest.mark.answer_modes]


def clock_ahead(seconds: float) -> Callable[[], float]:
    return lambda: time.time() + seconds


def mixed_files(folder: Path, count: int) -> list[Path]:
    """Images, animated GIFs and short videos, some large enough for many segments."""
    makers: list[Callable[[int], Path]] = [
        lambda i: samples.write_image(folder / f"p{i}.png", fmt="png", width=48, height=32, seed=i),
        lambda i: samples.write_image(
            folder / f"j{i}.jpg", fmt="jpeg", width=64, height=48, seed=i
        ),
        lambda i: samples.write_image(
            folder / f"w{i}.webp", fmt="webp", width=40, height=40, seed=i
        ),
        lambda i: samples.write_gif(folder / f"g{i}.gif", width=32, height=32, frames=3, seed=i),
        lambda i: samples.write_video(folder / f"v{i}.mp4", width=64, height=64, seconds=1, seed=i),
        lambda i: samples.write_image(
            folder / f"big{i}.png", fmt="png", width=64, height=64, seed=i, target_bytes=300 * KiB
        ),
    ]
    return [makers[i % len(makers)](i) for i in range(count)]


def items_for(paths: list[Path]) -> list[Item]:
    return [Item(id=p.name, path=p) for p in paths]


async def run_all(up: Uploader, items: list[Item], checkpoint: Path | None = None) -> list[Result]:
    return [r async for r in up.upload_many(items, checkpoint=checkpoint)]


def config_for(emu: Emulator, api: str = "v2", **kw: object) -> UploadConfig:
    return UploadConfig(api=api, endpoint=emu.url, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("api", ["v1.1", "v2"])
async def test_sixty_mixed_files_land_byte_exact(
    emulator: Emulator, tmp_path: Path, api: str
) -> None:
    paths = mixed_files(tmp_path, 60)
    config = config_for(emulator, api, chunk_size=4 * KiB, concurrency=8, files_in_flight=6)
    async with Uploader(config, auth=oauth(emulator)) as up:
        results = await run_all(up, items_for(paths))

    assert len(results) == 60 and {r.id for r in results} == {p.name for p in paths}
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert len({r.media_id_string for r in results}) == 60
    for result in results:
        info = emulator.media(result.media_id_string)  # type: ignore[arg-type]
        assert info is not None
        assert info["sha256"] == sha256(tmp_path / result.id), result.id
        assert result.expires_at is not None  # given, or assumed (24 h) when not
        assert result.media_key in (info["media_key"], None)  # optional in the answers
    requests = emulator.stats()["requests"]
    chunked = sum(requests["finalize"].values())
    assert chunked == 20  # GIFs and videos; the still images went by simple upload
    assert sum(requests["append"].values()) > 2 * chunked  # several segments each


async def test_an_id_given_twice_to_upload_many_is_uploaded_once(
    emulator: Emulator, tmp_path: Path
) -> None:
    first, second = (samples.write_image(tmp_path / f"{n}.png", fmt="png", seed=n) for n in (1, 2))
    items = [Item(id="same", path=first), Item(id="same", path=second)]
    async with Uploader(config_for(emulator), auth=oauth(emulator)) as up:
        results = await run_all(up, items)

    assert [(r.id, r.ok) for r in results] == [("same", True)]
    assert emulator.media(results[0].media_id_string)["sha256"] == sha256(first)  # type: ignore[arg-type,index]
    assert emulator.stats()["requests"]["upload"] == {"200": 1}


async def test_bearer_token_uploads_on_v2(emulator: Emulator, tmp_path: Path) -> None:
    path = samples.write_video(tmp_path / "v.mp4", width=64, height=64, seconds=1)
    auth = BearerAuth(emulator.user.bearer_tokens[0])
    async with Uploader(config_for(emulator, chunk_size=8 * KiB), auth=auth) as up:
        result = await up.upload(path)
    assert result.ok and emulator.media(result.media_id_string)["sha256"] == sha256(path)  # type: ignore[arg-type,index]


async def test_small_images_use_simple_upload_in_auto_strategy(
    emulator: Emulator, tmp_path: Path
) -> None:
    path = samples.write_image(tmp_path / "a.png", fmt="png")
    async with Uploader(config_for(emulator), auth=oauth(emulator)) as up:
        result = await up.upload(path)
    assert result.ok
    requests = emulator.stats()["requests"]
    assert requests.get("upload") == {"200": 1} and "initialize" not in requests


async def test_failed_processing_is_reported_with_code_name_and_message(
    emulator: Emulator, tmp_path: Path, answers: str
) -> None:
    path = samples.write_video(tmp_path / "wide.mp4", width=2000, height=64, seconds=1)
    config = config_for(emulator, chunk_size=8 * KiB, preflight=False)
    async with Uploader(config, auth=oauth(emulator)) as up:
        result = await up.upload(path)
    assert result.status == "failed" and result.error is not None
    assert result.error.kind == "processing_failed"
    if answers == "minimal":  # the answer says only "failed": so does the report
        assert result.error.message == "processing failed" and result.error.api_code is None
    else:
        assert result.error.api_code == 3 and "UnsupportedMedia" in result.error.message
    assert result.media_id_string is not None


async def test_preflight_refuses_a_file_before_any_request(
    emulator: Emulator, tmp_path: Path
) -> None:
    path = samples.write_video(tmp_path / "wide.mp4", width=2000, height=64, seconds=1)
    async with Uploader(config_for(emulator), auth=oauth(emulator)) as up:
        result = await up.upload(path)
    assert result.status == "failed" and result.error is not None
    assert result.error.kind == "preflight"
    assert "dimensions 2000x64 exceed" in result.error.message
    assert emulator.stats()["requests"] == {}


async def test_one_bad_item_does_not_stop_the_others(emulator: Emulator, tmp_path: Path) -> None:
    good = samples.write_image(tmp_path / "good.png", fmt="png")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    items = [
        Item(id="missing", path=tmp_path / "nope.png"),
        Item(id="empty", path=empty),
        Item(id="good", path=good),
    ]
    async with Uploader(config_for(emulator), auth=oauth(emulator)) as up:
        results = {r.id: r for r in await run_all(up, items)}
    assert results["good"].ok
    assert results["missing"].error.kind == "missing_file"  # type: ignore[union-attr]
    assert results["empty"].error.kind == "empty_file"  # type: ignore[union-attr]


# --- checkpoint and resume ----------------------------------------------------------
@pytest.fixture
def emulator_config(answers: str) -> EmulatorConfig:
    return answering(HANG, answers)


async def upload_until_hang(
    emu: Emulator, config: UploadConfig, items: list[Item], checkpoint: Path, appends: int
) -> None:
    """Run until ``appends`` APPENDs were answered, the next one hangs; then cancel."""
    emu.faults.schedule("latency_spike", endpoint="append", after=appends, count=1)
    async with Uploader(config, auth=oauth(emu)) as up, anyio.create_task_group() as tg:

        async def consume() -> None:
            async for _ in up.upload_many(items, checkpoint=checkpoint):
                pass

        tg.start_soon(consume)
        await emu.wait_for_fault("latency_spike")  # the next APPEND hangs on the server
        tg.cancel_scope.cancel()


def acked(checkpoint: Path, emu: Emulator, config: UploadConfig, item_id: str) -> set[int]:
    identity = RunIdentity(endpoint=config.base_url, dialect=config.api, account=oauth(emu).account)
    with Checkpoint.open(checkpoint, identity) as ckpt:
        record = ckpt.get(item_id)
        assert record is not None
        return set(record.acked)


def appends(emu: Emulator) -> int:
    """APPENDs the server acknowledged (any 2xx: minimal answers include 204s)."""
    counts = emu.stats()["requests"].get("append", {})
    return sum(int(n) for status, n in counts.items() if status.startswith("2"))


async def test_a_cancelled_upload_resumes_sending_only_the_missing_segments(
    emulator: Emulator, tmp_path: Path
) -> None:
    path = samples.write_video(tmp_path / "clip.mp4", width=64, height=64, seconds=2)
    size = path.stat().st_size
    config = config_for(emulator, chunk_size=1 * KiB, segments_per_file=1, files_in_flight=1)
    segments = -(-size // (1 * KiB))
    checkpoint = tmp_path / "run.ckpt"
    items = [Item(id="clip", path=path)]

    await upload_until_hang(emulator, config, items, checkpoint, appends=segments // 2)
    done_before = acked(checkpoint, emulator, config, "clip")
    assert len(done_before) >= segments // 2 - 1
    sent_before = appends(emulator)

    async with Uploader(config, auth=oauth(emulator)) as up:
        (result,) = await run_all(up, items, checkpoint)

    assert result.ok, result.error
    assert appends(emulator) - sent_before == segments - len(done_before)
    assert emulator.stats()["requests"]["initialize"] == {"200": 1}  # the same session went on
    assert emulator.media(result.media_id_string)["sha256"] == sha256(path)  # type: ignore[arg-type,index]


async def test_a_session_expired_on_the_server_restarts_with_init(
    emulator: Emulator, tmp_path: Path
) -> None:
    path = samples.write_video(tmp_path / "v.mp4", width=64, height=64, seconds=2)
    config = config_for(emulator, chunk_size=1 * KiB, segments_per_file=1, files_in_flight=1)
    checkpoint = tmp_path / "run.ckpt"
    items = [Item(id="v", path=path)]
    await upload_until_hang(emulator, config, items, checkpoint, appends=5)

    emulator.advance(2_000_000)  # past INIT's expires_after_secs on the server only

    async with Uploader(config, auth=oauth(emulator)) as up:
        (result,) = await run_all(up, items, checkpoint)
    assert result.ok, result.error
    assert emulator.stats()["requests"]["initialize"] == {"200": 2}
    assert result.attempts >= 2
    assert emulator.media(result.media_id_string)["sha256"] == sha256(path)  # type: ignore[arg-type,index]


async def test_a_session_past_its_deadline_on_the_client_clock_starts_over(
    emulator: Emulator, tmp_path: Path
) -> None:
    path = samples.write_video(tmp_path / "v.mp4", width=64, height=64, seconds=2)
    config = config_for(emulator, chunk_size=1 * KiB, segments_per_file=1, files_in_flight=1)
    checkpoint = tmp_path / "run.ckpt"
    items = [Item(id="v", path=path)]
    await upload_until_hang(emulator, config, items, checkpoint, appends=5)
    sent_before = appends(emulator)

    async with Uploader(config, auth=oauth(emulator), clock=clock_ahead(10_000_000)) as up:
        (result,) = await run_all(up, items, checkpoint)
    assert result.ok
    assert emulator.stats()["requests"]["initialize"] == {"200": 2}
    segments = -(-path.stat().st_size // KiB)
    assert appends(emulator) - sent_before == segments  # every segment again, for the new id


async def test_a_changed_file_restarts_with_init(emulator: Emulator, tmp_path: Path) -> None:
    path = samples.write_video(tmp_path / "v.mp4", width=64, height=64, seconds=2, seed=1)
    config = config_for(emulator, chunk_size=1 * KiB, segments_per_file=1, files_in_flight=1)
    checkpoint = tmp_path / "run.ckpt"
    items = [Item(id="v", path=path)]
    await upload_until_hang(emulator, config, items, checkpoint, appends=5)

    samples.write_video(path, width=64, height=64, seconds=2, seed=2)
    os.utime(path, ns=(1, 1))  # a different modification time for sure

    async with Uploader(config, auth=oauth(emulator)) as up:
        (result,) = await run_all(up, items, checkpoint)
    assert result.ok
    assert emulator.stats()["requests"]["initialize"] == {"200": 2}
    assert emulator.media(result.media_id_string)["sha256"] == sha256(path)  # type: ignore[arg-type,index]


async def test_a_second_run_over_a_finished_checkpoint_makes_no_upload_requests(
    emulator: Emulator, tmp_path: Path
) -> None:
    paths = mixed_files(tmp_path, 8)
    config = config_for(emulator, chunk_size=64 * KiB)
    checkpoint = tmp_path / "run.ckpt"
    async with Uploader(config, auth=oauth(emulator)) as up:
        first = await run_all(up, items_for(paths), checkpoint)
    before = emulator.stats()["requests"]

    async with Uploader(config, auth=oauth(emulator)) as up:
        second = await run_all(up, items_for(paths), checkpoint)

    assert emulator.stats()["requests"] == before
    assert all(r.ok and r.resumed for r in second)
    by_id = {r.id: r.media_id_string for r in first}
    assert {r.id: r.media_id_string for r in second} == by_id


async def test_media_expired_between_runs_is_uploaded_again(
    emulator: Emulator, tmp_path: Path
) -> None:
    path = samples.write_image(tmp_path / "a.png", fmt="png")
    config = config_for(emulator)
    checkpoint = tmp_path / "run.ckpt"
    async with Uploader(config, auth=oauth(emulator)) as up:
        (first,) = await run_all(up, [Item(id="a", path=path)], checkpoint)
    # Media ids live 86400 s: a day later by the client's clock, the id is gone.
    async with Uploader(config, auth=oauth(emulator), clock=clock_ahead(90_000)) as up:
        (second,) = await run_all(up, [Item(id="a", path=path)], checkpoint)
    assert second.ok and not second.resumed
    assert second.media_id_string != first.media_id_string


async def test_resumed_sessions_go_first(emulator: Emulator, tmp_path: Path) -> None:
    videos = [
        samples.write_video(tmp_path / f"v{i}.mp4", width=64, height=64, seconds=1, seed=i)
        for i in range(3)
    ]
    config = config_for(emulator, chunk_size=1 * KiB, segments_per_file=1, files_in_flight=1)
    checkpoint = tmp_path / "run.ckpt"
    await upload_until_hang(emulator, config, [Item(id="v2", path=videos[2])], checkpoint, 3)

    order = [Item(id=f"v{i}", path=videos[i]) for i in range(3)]
    async with Uploader(dataclasses.replace(config, files_in_flight=1), auth=oauth(emulator)) as up:
        results = await run_all(up, order, checkpoint)
    assert results[0].id == "v2"
    assert all(r.ok for r in results)
