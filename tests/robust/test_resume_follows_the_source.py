"""Finding 2 of issue [3/6]: the source decides what a run uploads.

An upload killed mid-way is resumed first by the next run only if a source still names
its id, and with the entry the source gives now: an entry that now names another file
is a new upload of that file; an entry deleted from the manifest is not uploaded (the
run's statistics count it as dropped).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bulkup.client.uploader import Uploader
from bulkup.core.items import Item
from bulkup.emulator import Emulator, EmulatorConfig
from bulkup.media import samples
from bulkup.sources import iter_sources
from tests.client.test_uploader import acked, config_for, run_all, upload_until_hang
from tests.conftest import HANG, KiB, file_sha256, oauth

pytestmark = pytest.mark.anyio


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return HANG


def manifest(folder: Path, *rows: dict[str, str]) -> list[Item]:
    path = folder / "run.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    entries = list(iter_sources([path]))
    assert all(isinstance(e, Item) for e in entries), entries
    return [e for e in entries if isinstance(e, Item)]


async def interrupted(emulator: Emulator, tmp_path: Path) -> tuple[Path, Path]:
    """``old.mp4`` uploaded as id ``x`` until its fourth APPEND hangs; the checkpoint."""
    samples.write_video(tmp_path / "old.mp4", width=64, height=64, seconds=2, seed=1)
    config = config_for(emulator, chunk_size=1 * KiB, segments_per_file=1, files_in_flight=1)
    checkpoint = tmp_path / "run.ckpt"
    items = manifest(tmp_path, {"path": "old.mp4", "id": "x"})
    await upload_until_hang(emulator, config, items, checkpoint, appends=4)
    assert acked(checkpoint, emulator, config, "x")  # interrupted mid-upload
    return checkpoint, tmp_path / "old.mp4"


async def test_an_id_whose_entry_now_names_another_file_uploads_that_file(
    emulator: Emulator, tmp_path: Path
) -> None:
    checkpoint, _ = await interrupted(emulator, tmp_path)
    new = samples.write_image(tmp_path / "new.png", fmt="png", width=32, height=32, seed=3)
    items = manifest(tmp_path, {"path": "new.png", "id": "x"})
    config = config_for(emulator, chunk_size=1 * KiB, segments_per_file=1, files_in_flight=1)
    async with Uploader(config, auth=oauth(emulator)) as up:
        (result,) = await run_all(up, items, checkpoint)
    assert result.ok and result.path == str(new) and not result.resumed
    media = emulator.media(result.media_id_string or "")
    assert media is not None and media["sha256"] == file_sha256(new)


async def test_an_entry_deleted_before_resuming_is_not_uploaded(
    emulator: Emulator, tmp_path: Path
) -> None:
    checkpoint, _ = await interrupted(emulator, tmp_path)
    other = samples.write_image(tmp_path / "other.png", fmt="png", width=16, height=16, seed=4)
    before = emulator.stats()["requests"].get("append", {})
    items = manifest(tmp_path, {"path": "other.png", "id": "y"})
    config = config_for(emulator, chunk_size=1 * KiB, segments_per_file=1, files_in_flight=1)
    async with Uploader(config, auth=oauth(emulator)) as up:
        results = await run_all(up, items, checkpoint)
        dropped = up.stats["dropped_from_checkpoint"]
    assert [r.id for r in results] == ["y"] and results[0].path == str(other)
    assert dropped == 1
    assert emulator.stats()["requests"].get("append", {}) == before  # x's bytes: not sent


async def test_an_entry_still_named_resumes_first_and_continues_its_upload(
    emulator: Emulator, tmp_path: Path
) -> None:
    checkpoint, old = await interrupted(emulator, tmp_path)
    samples.write_image(tmp_path / "a.png", fmt="png", width=16, height=16, seed=5)
    items = manifest(tmp_path, {"path": "a.png", "id": "a"}, {"path": "old.mp4", "id": "x"})
    config = config_for(emulator, chunk_size=1 * KiB, segments_per_file=1, files_in_flight=1)
    async with Uploader(config, auth=oauth(emulator)) as up:
        results = await run_all(up, items, checkpoint)
    assert [r.id for r in results] == ["x", "a"]  # the unfinished upload first
    x = results[0]
    # One INIT in all, the first run's: x continued its upload (a.png went one-shot).
    assert x.ok and emulator.stats()["requests"]["initialize"] == {"200": 1}
    media = emulator.media(x.media_id_string or "")
    assert media is not None and media["sha256"] == file_sha256(old)
