"""Folders hold other files: what ``bulkup upload`` and ``bulkup validate`` do with them.

A file met by a directory scan whose first bytes are not an image, a GIF or a video
(``notes.txt``, ``Thumbs.db``, subtitles) is one ``skipped`` line of kind ``not_media``
and leaves the exit status alone; the same file named on the command line or in a
manifest still fails. Each test runs the command as a subprocess, the uploads against
an emulator in this process on a real socket.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import anyio
import pytest

from bulkup.emulator import Emulator
from bulkup.media import samples
from tests.cli.test_cli_upload import PROCESS_LIMIT_S, Run, command, env_for, upload_args
from tests.conftest import FAST
from tests.conftest import file_sha256 as sha256

pytestmark = pytest.mark.anyio

OTHER_FILES = ("photos/Thumbs.db", "photos/notes.txt", "photos/subs.srt")


def holiday_folder(root: Path) -> Path:
    """``photos/``: two JPEGs, a text note, a Windows thumbnail cache and subtitles."""
    photos = root / "photos"
    photos.mkdir()
    samples.write_image(photos / "a.jpg", fmt="jpeg", seed=1)
    samples.write_image(photos / "b.jpg", fmt="jpeg", seed=2)
    (photos / "notes.txt").write_text("pack the charger\n")
    # An OLE2 compound file, as Windows writes Thumbs.db.
    (photos / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    samples.write_srt(photos / "subs.srt")
    return photos


async def run_upload(emu: Emulator, root: Path, *sources: str) -> Run:
    args = [*upload_args(emu, *sources), "--report", "r.jsonl", "--no-progress"]
    with anyio.fail_after(PROCESS_LIMIT_S):
        done = await anyio.run_process(command(*args), env=env_for(emu), cwd=root, check=False)
    report = (root / "r.jsonl").read_text(encoding="utf-8")
    return Run(done.returncode, report, done.stderr.decode())


async def test_a_folder_with_other_files_uploads_its_media_skips_the_rest_and_exits_0(
    tmp_path: Path,
) -> None:
    photos = holiday_folder(tmp_path)
    async with Emulator(FAST, environ={}) as emu:
        run = await run_upload(emu, tmp_path, "photos")
        stored = {m["media_id"]: m for m in emu.all_media()}
    assert run.code == 0, run.err
    lines = {line["id"]: line for line in run.lines()}
    assert sorted(lines) == sorted(["photos/a.jpg", "photos/b.jpg", *OTHER_FILES])
    for name in ("a.jpg", "b.jpg"):
        line = lines[f"photos/{name}"]
        assert line["status"] == "succeeded", line
        assert stored[line["media_id_string"]]["sha256"] == sha256(photos / name)
    for item_id in OTHER_FILES:
        line = lines[item_id]
        assert (line["status"], line["error"]["kind"]) == ("skipped", "not_media"), line
        assert "not an image, GIF or video (by its first bytes)" in line["error"]["message"]
        assert "folders may hold other files" in line["error"]["message"]
        assert line["path"] == str(tmp_path / item_id)
    assert "manifest" in lines["photos/subs.srt"]["error"]["message"]  # how subtitles attach
    assert '"subtitles"' in lines["photos/subs.srt"]["error"]["message"]
    assert "2 succeeded" in run.err and "0 failed" in run.err and "3 skipped" in run.err
    assert len(stored) == 2  # nothing else was sent


async def test_a_file_that_is_not_media_named_on_the_command_line_still_fails(
    tmp_path: Path,
) -> None:
    holiday_folder(tmp_path)
    async with Emulator(FAST, environ={}) as emu:
        run = await run_upload(emu, tmp_path, "photos/notes.txt", "photos/a.jpg")
    assert run.code == 1, run.err
    lines = {line["id"]: line for line in run.lines()}
    assert lines["photos/notes.txt"]["status"] == "failed"
    assert lines["photos/notes.txt"]["error"]["kind"] == "preflight"
    assert lines["photos/a.jpg"]["status"] == "succeeded"


async def test_a_file_that_is_not_media_named_in_a_manifest_still_fails(tmp_path: Path) -> None:
    holiday_folder(tmp_path)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"path": "photos/Thumbs.db", "id": "thumbs"}) + "\n")
    async with Emulator(FAST, environ={}) as emu:
        run = await run_upload(emu, tmp_path, "m.jsonl")
    assert run.code == 1, run.err
    [line] = run.lines()
    assert (line["id"], line["status"], line["error"]["kind"]) == ("thumbs", "failed", "preflight")


def test_validate_of_a_folder_skips_the_files_that_are_not_media_and_exits_0(
    tmp_path: Path,
) -> None:
    holiday_folder(tmp_path)
    args = command("validate", "photos", "--report", "v.jsonl")
    done = subprocess.run(
        args, env=env_for(None), cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    report = (tmp_path / "v.jsonl").read_text().splitlines()
    lines = {line["id"]: line for line in map(json.loads, report)}
    assert [lines[i]["status"] for i in ("photos/a.jpg", "photos/b.jpg")] == ["succeeded"] * 2
    assert [(lines[i]["status"], lines[i]["error"]["kind"]) for i in OTHER_FILES] == [
        ("skipped", "not_media")
    ] * 3
    table = done.stdout
    for item_id in OTHER_FILES:
        row = next(row for row in table.splitlines() if row.startswith(item_id))
        assert "skipped: " in row and "not an image, GIF or video (by its first" in row, table
    assert "2 valid, 0 invalid, 3 skipped" in table
