"""Finding 3 of issue [3/6]: a file changed during its upload is never reported uploaded.

A file is the same file while its size, modification time, status-change time (which
``touch -r`` cannot set back) and inode are: checked before INIT, before FINALIZE,
after a one-shot upload read it, and on resume.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import pytest

from bulkup.client.config import UploadConfig
from bulkup.client.uploader import Uploader
from bulkup.core.items import Item, Result
from bulkup.emulator import Emulator, EmulatorConfig, Network, Storage
from bulkup.run.checkpoint import Checkpoint, RunIdentity
from tests.client.test_uploader import config_for, run_all, upload_until_hang
from tests.conftest import FAST_LIFETIMES, KiB, file_sha256, oauth

pytestmark = pytest.mark.anyio

#: A scheduled latency spike holds one request this long: the file changes meanwhile.
#: Any bytes are media here: the files are synthetic, and only their hashes matter.
SPIKE = EmulatorConfig(
    lifetimes=FAST_LIFETIMES,
    network=Network(spike_ms=1_500),
    storage=Storage(check_media=False),
)


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return SPIKE


def rewrite_in_place_keeping_size_and_mtime(path: Path) -> None:
    """New bytes, same length, and ``touch -r`` back to the old modification time."""
    before = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2 :] = bytes(b ^ 0xFF for b in data[len(data) // 2 :])
    with path.open("r+b") as fh:  # in place: same inode
        fh.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )


def blob(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


async def upload_changing(
    emulator: Emulator, item: Item, endpoint: str, change: Path, **settings: Any
) -> list[Result]:
    """Upload ``item``; while the first request to ``endpoint`` is held, change the file."""
    emulator.faults.schedule("latency_spike", endpoint=endpoint, count=1)
    results: list[Result] = []
    config = UploadConfig(api="v2", endpoint=emulator.url, **settings)
    async with Uploader(config, auth=oauth(emulator)) as up, anyio.create_task_group() as tg:

        async def consume() -> None:
            results.extend(await run_all(up, [item]))

        tg.start_soon(consume)
        await emulator.wait_for_fault("latency_spike")
        rewrite_in_place_keeping_size_and_mtime(change)
    return results


async def test_a_still_image_rewritten_during_its_one_shot_upload_fails(
    emulator: Emulator, tmp_path: Path
) -> None:
    path = blob(tmp_path / "still.png", 64 * KiB)
    item = Item(id="still", path=path, media_type="image/png")
    [result] = await upload_changing(
        emulator, item, "upload", path, strategy="simple", preflight=False
    )
    assert result.status == "failed" and result.error and result.error.kind == "file_changed"
    assert result.media_id_string is None


async def test_a_chunked_upload_rewritten_in_place_with_its_mtime_restored_fails(
    emulator: Emulator, tmp_path: Path
) -> None:
    path = blob(tmp_path / "clip.mp4", 8 * KiB)
    item = Item(id="clip", path=path, media_type="video/mp4")
    [result] = await upload_changing(
        emulator,
        item,
        "append",
        path,
        chunk_size=1 * KiB,
        segments_per_file=1,
        preflight=False,
    )
    assert result.status == "failed" and result.error and result.error.kind == "file_changed"
    assert emulator.stats()["requests"].get("finalize") is None  # never finalized
    assert result.media_id_string is None  # an upload never finalized has no usable id


async def test_a_resume_after_such_a_rewrite_uploads_the_new_bytes(
    emulator: Emulator, tmp_path: Path
) -> None:
    path = blob(tmp_path / "clip.mp4", 8 * KiB)
    item = Item(id="clip", path=path, media_type="video/mp4")
    config = config_for(
        emulator, chunk_size=1 * KiB, segments_per_file=1, files_in_flight=1, preflight=False
    )
    checkpoint = tmp_path / "run.ckpt"
    await upload_until_hang(emulator, config, [item], checkpoint, appends=3)
    rewrite_in_place_keeping_size_and_mtime(path)

    async with Uploader(config, auth=oauth(emulator)) as up:
        (result,) = await run_all(up, [item], checkpoint)
    assert result.ok
    assert emulator.stats()["requests"]["initialize"] == {"200": 2}  # started over
    media = emulator.media(result.media_id_string or "")
    assert media is not None and media["sha256"] == file_sha256(path)


async def test_a_resume_reads_the_acknowledged_bytes_again_before_trusting_them(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Bytes already sent that changed although the file looks the same (a copy restored
    with its times, a filesystem whose ctime cannot be trusted): each acknowledged
    segment's SHA-256, recorded when it was sent, no longer matches: INIT again."""
    path = blob(tmp_path / "clip.mp4", 8 * KiB)
    item = Item(id="clip", path=path, media_type="video/mp4")
    config = config_for(
        emulator, chunk_size=1 * KiB, segments_per_file=1, files_in_flight=1, preflight=False
    )
    checkpoint = tmp_path / "run.ckpt"
    await upload_until_hang(emulator, config, [item], checkpoint, appends=3)
    with path.open("r+b") as fh:  # segment 0, already acknowledged, is rewritten
        fh.write(bytes(b ^ 0xFF for b in path.read_bytes()[:100]))
    now = path.stat()
    identity = RunIdentity(
        endpoint=config.base_url, dialect=config.api, account=oauth(emulator).account
    )
    with Checkpoint.open(checkpoint, identity) as ckpt:  # the record says: the same file
        record = ckpt.get("clip")
        assert record is not None and len(record.segment_sha256) == 3
        ckpt.update("clip", mtime_ns=now.st_mtime_ns, ctime_ns=now.st_ctime_ns)

    async with Uploader(config, auth=oauth(emulator)) as up:
        (result,) = await run_all(up, [item], checkpoint)
    assert result.ok
    assert emulator.stats()["requests"]["initialize"] == {"200": 2}  # not trusted: again
    media = emulator.media(result.media_id_string or "")
    assert media is not None and media["sha256"] == file_sha256(path)
