"""``bulkup upload --shard I/N``: N runs of the same sources upload every item exactly once.

The runs are subprocesses (``python -m bulkup``) against the emulator in this process,
as an array job's tasks would be; what the emulator assembled is compared by SHA-256
with the files on disk.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest

from bulkup.cli.settings import resolve
from bulkup.emulator import Emulator
from bulkup.errors import ConfigError
from bulkup.media import samples
from bulkup.sources import iter_sources
from bulkup.sources.shard import Shard, shard_key, shard_of
from tests.cli.test_cli_upload import Run, bulkup, env_for, upload_args
from tests.conftest import file_sha256

pytestmark = pytest.mark.anyio

SHARDS = 4


def manifest(folder: Path) -> tuple[Path, dict[str, Path]]:
    """A manifest of 12 images (some chunked at 4 KiB), a post of 3, a bad line and a
    missing file; and the files by id."""
    files: dict[str, Path] = {}
    lines = []
    for n in range(12):
        size = 6 * 1024 if n % 3 == 0 else None  # a third take two chunks or more
        path = samples.write_image(folder / f"i{n}.png", seed=n, target_bytes=size)
        files[f"img-{n}"] = path
        lines.append({"id": f"img-{n}", "path": path.name})
    for n in range(3):
        path = samples.write_image(folder / f"p{n}.png", seed=100 + n, width=16, height=16)
        files[f"post-{n}"] = path
        lines.append({"id": f"post-{n}", "path": path.name, "post": "holiday"})
    text = "\n".join(json.dumps(line) for line in lines)
    text += '\n{"id": "broken", "path": \n{"id": "gone", "path": "nowhere.png"}\n'
    target = folder / "batch.jsonl"
    target.write_text(text)
    return target, files


async def run_shard(emu: Emulator, source: Path, shard: str, folder: Path) -> Run:
    name = shard.replace("/", "of")
    return await bulkup(
        *upload_args(emu, source),
        "--shard",
        shard,
        "--chunk-size",
        "4KiB",
        "--report",
        folder / f"report-{name}.jsonl",
        "--posts",
        folder / f"posts-{name}.jsonl",
        env=env_for(emu),
    )


async def test_four_shards_upload_every_item_exactly_once_byte_exact(
    emulator: Emulator, tmp_path: Path
) -> None:
    source, files = manifest(tmp_path)
    shards = [f"{i}/{SHARDS}" for i in range(1, SHARDS + 1)]
    runs: dict[str, Run] = {}

    async def one(shard: str) -> None:
        runs[shard] = await run_shard(emulator, source, shard, tmp_path)

    async with anyio.create_task_group() as tg:  # at once, as an array job's tasks run
        for shard in shards:
            tg.start_soon(one, shard)

    reports = {s: read_lines(tmp_path / f"report-{s.replace('/', 'of')}.jsonl") for s in shards}
    every = [line for lines in reports.values() for line in lines]
    counted = Counter(line["id"] for line in every)
    assert set(counted) == {*files, f"{source}:16", "gone"}  # items and bad lines
    assert max(counted.values()) == 1  # each reported by one shard only
    for line in every:
        if line["id"] in files:
            assert line["status"] == "succeeded", line
            media = emulator.media(line["media_id_string"])
            assert media is not None and media["sha256"] == file_sha256(files[line["id"]])
    assert len(emulator.all_media()) == len(files)  # nothing uploaded twice
    kept = 0
    for shard, run in runs.items():
        assert run.code in (0, 1), run.err  # 1: the shards that hold a bad line
        mine = len(reports[shard])
        assert f"shard {shard}: {mine} of 17 items" in run.err
        kept += mine
    assert kept == 17


async def test_a_post_lands_whole_in_one_shard_with_its_posts_file(
    emulator: Emulator, tmp_path: Path
) -> None:
    source, _ = manifest(tmp_path)
    home = shard_of("holiday", SHARDS)
    run = await run_shard(emulator, source, f"{home}/{SHARDS}", tmp_path)
    assert run.code in (0, 1), run.err
    (post,) = read_lines(tmp_path / f"posts-{home}of{SHARDS}.jsonl")
    assert post["post"] == "holiday" and len(post["media_ids"]) == 3, post


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def test_each_items_shard_is_the_same_in_every_run_and_process(tmp_path: Path) -> None:
    source, _ = manifest(tmp_path)
    planned: list[dict[str, str]] = []
    for seed in ("1", "2"):  # Python's own hash() would differ between these
        env = env_for(None) | {"PYTHONHASHSEED": seed}
        by_id: dict[str, str] = {}
        for i in range(1, SHARDS + 1):
            run = await bulkup("upload", source, "--dry-run", "--shard", f"{i}/{SHARDS}", env=env)
            lines = [json.loads(line) for line in run.out.splitlines()]
            by_id |= {line["id"]: f"{i}/{SHARDS}" for line in lines if "id" in line}
        planned.append(by_id)
    assert planned[0] == planned[1] and len(planned[0]) == 17
    entries = list(iter_sources([source]))
    assert {e.id: f"{shard_of(shard_key(e), SHARDS)}/{SHARDS}" for e in entries} == planned[0]
    assert {planned[0][f"post-{n}"] for n in range(3)} == {f"{shard_of('holiday', 4)}/4"}


def test_the_part_of_a_key_is_the_documented_sha256_formula() -> None:
    # int.from_bytes(sha256(key).digest()[:8], "big") % n + 1: reproducible anywhere
    assert [shard_of(key, 4) for key in ("img-0", "img-1", "holiday", "é")] == [1, 4, 1, 4]
    assert all(shard_of(f"x{n}", 1) == 1 for n in range(20))
    parts = Counter(shard_of(f"item-{n}", 4) for n in range(4000))
    assert set(parts) == {1, 2, 3, 4} and min(parts.values()) > 900  # evenly spread


@pytest.mark.parametrize(
    ("value", "why"),
    [("0/4", "I must be from 1 to 4"), ("5/4", "I must be from 1 to 4"), ("a/b", ""), ("3", "")],
)
async def test_a_bad_shard_exits_2_naming_the_option_and_the_form(
    tmp_path: Path, value: str, why: str
) -> None:
    source, _ = manifest(tmp_path)
    run = await bulkup("upload", source, "--dry-run", "--shard", value, env=env_for(None))
    assert run.code == 2 and run.out == ""
    assert "--shard: shard must be I/N, the I-th of N parts (I from 1 to N), such as 2/4; " in (
        run.err
    )
    assert f"got {value!r}" in run.err and why in run.err


def test_the_shard_is_read_from_the_environment_and_the_config_file(tmp_path: Path) -> None:
    assert resolve({}, environ={"BULKUP_SHARD": " 2 / 4 "}).shard == Shard(2, 4)
    config = tmp_path / "run.toml"
    config.write_text('[upload]\nshard = "3/4"\n')
    settings = resolve({}, environ={}, config_file=config)
    assert settings.shard == Shard(3, 4) and settings.values["shard"] == "3/4"
    assert resolve({"shard": "1/2"}, environ={}, config_file=config).shard == Shard(1, 2)
    assert resolve({}, environ={}).shard is None
    with pytest.raises(ConfigError, match=r"\$BULKUP_SHARD: shard must be I/N"):
        resolve({}, environ={"BULKUP_SHARD": "4/3"})
    config.write_text("[upload]\nshard = 3\n")
    with pytest.raises(ConfigError, match=r"run.toml \[upload\]: shard must be I/N.*got 3"):
        resolve({}, environ={}, config_file=config)


def test_one_shard_of_one_is_the_whole_run(tmp_path: Path) -> None:
    source, files = manifest(tmp_path)
    entries = list(iter_sources([source]))
    assert list(Shard(1, 1).take(entries)) == entries
    assert os.fspath(source).endswith(".jsonl") and len(entries) == len(files) + 2
