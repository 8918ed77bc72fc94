"""A preflight failure of a manifest's entry names the manifest's file and line, once.

A run over a long manifest that fails a file for its bytes ("type unrecognized", "size
exceeds") must say which entry to fix: the message starts with ``manifest.jsonl:7: ``,
as the other problems of an entry do, in ``bulkup upload``'s report and summary and in
``bulkup validate``'s report. Items of a folder or named on the command line keep the
message as it was: their id is the file already.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bulkup.cli import main
from bulkup.emulator import Emulator
from bulkup.media import samples
from tests.cli.test_cli_upload import bulkup, check_succeeded, env_for
from tests.cli.test_cli_upload import upload_args as upload

pytestmark = pytest.mark.anyio


@pytest.fixture
def listed(tmp_path: Path) -> Path:
    """``manifest.jsonl``: six good images, then (line 7) a file of no known type; and
    ``rows.csv`` whose line 3 declares a PNG a video."""
    media = tmp_path / "media"
    media.mkdir()
    lines = []
    for n in range(1, 7):
        samples.write_image(media / f"p{n}.png", fmt="png", width=16, height=16, seed=n)
        lines.append(json.dumps({"path": f"media/p{n}.png"}))
    samples.write_bytes(media / "notes.bin", 3000, seed=7)
    lines.append(json.dumps({"path": "media/notes.bin", "id": "notes"}))
    (tmp_path / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "rows.csv").write_text(
        "path,id,media_category\nmedia/p1.png,as-image,\nmedia/p2.png,as-video,tweet_video\n"
    )
    return tmp_path


def preflight_error(line: dict[str, Any], place: str) -> str:
    assert line["status"] == "failed", line
    assert line["error"]["kind"] == "preflight", line["error"]
    message: str = line["error"]["message"]
    assert message.startswith(f"{place}: "), message
    assert message.count(place) == 1, message  # named once, not doubled
    return message


async def test_a_preflight_failure_names_the_manifest_line_in_the_report_and_summary(
    emulator: Emulator, listed: Path
) -> None:
    run = await bulkup(
        *upload(emulator, "manifest.jsonl", "rows.csv"), env=env_for(emulator), cwd=listed
    )

    assert run.code == 1, run.err
    lines = {line["id"]: line for line in run.lines()}
    assert len(lines) == 9
    message = preflight_error(lines["notes"], "manifest.jsonl:7")
    assert "type unrecognized" in message
    message = preflight_error(lines["as-video"], "rows.csv:3")
    assert "tweet_video" in message
    check_succeeded(lines["media/p6.png"], emulator, listed / "media" / "p6.png")
    check_succeeded(lines["as-image"], emulator, listed / "media" / "p1.png")
    assert "failed notes: manifest.jsonl:7: type unrecognized" in run.err


async def test_a_preflight_failure_of_a_folder_or_a_named_file_is_unchanged(
    emulator: Emulator, listed: Path
) -> None:
    samples.write_bytes(listed / "other.bin", 3000, seed=8)

    run = await bulkup(*upload(emulator, "media", "other.bin"), env=env_for(emulator), cwd=listed)

    lines = {line["id"]: line for line in run.lines()}
    message = lines["other.bin"]["error"]["message"]
    assert message.startswith("type unrecognized"), message
    # A folder's file that is not media is left out, not failed (issue [4/6]).
    notes = lines["media/notes.bin"]
    assert (notes["status"], notes["error"]["kind"]) == ("skipped", "not_media"), notes


def test_validate_names_the_manifest_line_too(
    listed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(listed)

    assert main(["validate", "manifest.jsonl", "--report", "r.jsonl"]) == 1

    lines = [json.loads(line) for line in (listed / "r.jsonl").read_text().splitlines()]
    (bad,) = [line for line in lines if line["status"] == "failed"]
    preflight_error(bad, "manifest.jsonl:7")
