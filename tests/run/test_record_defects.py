"""Three defects of one design fault (issue [2/6]), end to end against the emulator.

Each was seen by a user killing a run mid-upload and running it again, or by naming a
file both in a folder and in a manifest:

- a video resumed from the checkpoint lost its subtitles and its post;
- an item reused from the checkpoint reported ``alt_text_applied: null``;
- the manifest's entry for a file also found in a folder was the one dropped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bulkup.client.uploader import Uploader
from bulkup.core.items import Item
from bulkup.emulator import Emulator, EmulatorConfig
from bulkup.media import samples
from bulkup.sources import iter_sources
from tests.cli.test_cli_upload import bulkup, env_for, upload_args
from tests.client.test_uploader import (
    acked,
    config_for,
    run_all,
    upload_until_hang,
)
from tests.conftest import HANG, KiB, answering, oauth

pytestmark = [pytest.mark.anyio, pytest.mark.answer_modes]


@pytest.fixture
def emulator_config(answers: str) -> EmulatorConfig:
    return answering(HANG, answers)


def manifest(folder: Path, *rows: dict[str, Any]) -> Path:
    path = folder / "clips.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def items_of(source: Path) -> list[Item]:
    entries = list(iter_sources([source]))
    assert all(isinstance(e, Item) for e in entries), entries
    return [e for e in entries if isinstance(e, Item)]


def subtitled_video(folder: Path) -> Path:
    """A manifest naming one video with subtitles, a post and a sensitive-media warning."""
    samples.write_video(folder / "clip.mp4", width=64, height=64, seconds=2)
    samples.write_srt(folder / "en.srt")
    return manifest(
        folder,
        {
            "path": "clip.mp4",
            "id": "clip",
            "post": "trip",
            "sensitive_media_warning": ["other"],
            "subtitles": [{"path": "en.srt", "language_code": "en", "display_name": "English"}],
        },
    )


async def test_a_video_resumed_from_the_checkpoint_keeps_its_subtitles_and_post(
    emulator: Emulator, tmp_path: Path
) -> None:
    source = subtitled_video(tmp_path)
    config = config_for(emulator, chunk_size=1 * KiB, segments_per_file=1, files_in_flight=1)
    checkpoint = tmp_path / "run.ckpt"
    await upload_until_hang(emulator, config, items_of(source), checkpoint, appends=4)
    assert acked(checkpoint, emulator, config, "clip")  # interrupted mid-upload

    async with Uploader(config, auth=oauth(emulator)) as up:
        (result,) = await run_all(up, items_of(source), checkpoint)

    assert result.ok, result.error
    assert result.post == "trip"
    assert [s["language_code"] for s in result.subtitles] == ["EN"]
    assert emulator.stats()["requests"]["initialize"]["200"] == 2  # the video once, the SRT once
    assert result.metadata_applied is True
    info = emulator.media(result.media_id_string)  # type: ignore[arg-type]
    assert info is not None and info["sensitive_media_warning"] == ["other"]
    assert [(s["language_code"], s["display_name"]) for s in info["subtitles"]] == [
        ("EN", "English")
    ]


async def test_an_item_reused_from_the_checkpoint_reports_the_line_it_finished_with(
    emulator: Emulator, tmp_path: Path
) -> None:
    source = subtitled_video(tmp_path)
    samples.write_image(tmp_path / "cat.png", fmt="png")
    with source.open("a") as f:
        f.write(json.dumps({"path": "cat.png", "alt_text": "A cat", "post": "trip"}) + "\n")
    config = config_for(emulator, chunk_size=4 * KiB)
    checkpoint = tmp_path / "run.ckpt"
    async with Uploader(config, auth=oauth(emulator)) as up:
        first = {r.id: r for r in await run_all(up, items_of(source), checkpoint)}
    assert all(r.ok for r in first.values()), first
    before = emulator.stats()["requests"]

    async with Uploader(config, auth=oauth(emulator)) as up:
        second = {r.id: r for r in await run_all(up, items_of(source), checkpoint)}

    assert emulator.stats()["requests"] == before  # nothing sent again
    assert second["cat.png"].alt_text_applied is True
    assert second["cat.png"].metadata_applied is True
    for item_id, line in second.items():
        assert line.as_json() == {
            **first[item_id].as_json(),
            "resumed": True,
            "from_checkpoint": True,
        }, item_id


async def test_a_file_in_a_folder_and_a_manifest_keeps_the_manifest_entry(
    emulator: Emulator, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    cat = samples.write_image(photos / "cat.png", fmt="png", seed=1)
    samples.write_image(photos / "dog.png", fmt="png", seed=2)
    (tmp_path / "captions.jsonl").write_text(
        json.dumps({"path": "photos/cat.png", "alt_text": "A cat asleep"}) + "\n"
    )

    run = await bulkup(
        *upload_args(emulator, "photos", "captions.jsonl"), env=env_for(emulator), cwd=tmp_path
    )

    lines = run.lines()
    assert len(lines) == 3, lines  # every entry accounted for: two files, one named twice
    by_id = {line["id"]: line for line in lines}
    kept = by_id["photos/cat.png"]
    assert kept["status"] == "succeeded" and kept["alt_text_applied"] is True, kept
    assert emulator.media(kept["media_id_string"])["alt_text"] == "A cat asleep"  # type: ignore[index]
    assert by_id["photos/dog.png"]["status"] == "succeeded"
    (loser,) = [line for line in lines if line["status"] == "failed"]
    assert loser["error"]["kind"] == "duplicate_id"
    assert loser["path"] == str(cat) and loser["id"] != "photos/cat.png"
    assert "captions.jsonl:1" in loser["error"]["message"]  # where the kept entry is
