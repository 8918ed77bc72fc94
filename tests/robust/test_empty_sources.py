"""A source that gives nothing says so: a warning naming it (and the filter), exit 0.

An empty folder, a manifest without entries, or ``--include``/``--exclude`` patterns
that match no file of a folder (a typo, ``*.jpeg`` for ``.jpg`` files) used to end in
"0 items" and exit 0 without a word. Now each such source is one warning on standard
error (a structlog event, ``empty_source``, with the source and the reason), once per
run, and the exit status stays 0: nothing failed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bulkup.emulator import Emulator
from bulkup.media import samples
from tests.cli.test_cli_upload import Run, bulkup, check_succeeded, env_for
from tests.cli.test_cli_upload import upload_args as upload

pytestmark = pytest.mark.anyio


def png(path: Path, seed: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return samples.write_image(path, fmt="png", width=16, height=16, seed=seed)


def warnings(run: Run) -> list[dict[str, Any]]:
    """The ``empty_source`` events on standard error (JSON lines: it is not a terminal)."""
    assert "Traceback" not in run.err, run.err
    events = [json.loads(line) for line in run.err.splitlines() if line.startswith("{")]
    return [e for e in events if e["event"] == "empty_source" and e["level"] == "warning"]


async def upload_in(emu: Emulator, folder: Path, *args: str) -> Run:
    return await bulkup(*upload(emu, *args), env=env_for(emu), cwd=folder)


async def test_an_empty_folder_is_a_warning_naming_it_and_the_run_exits_0(
    emulator: Emulator, tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    photo = png(tmp_path / "a.png")

    run = await upload_in(emulator, tmp_path, "empty", "a.png")

    assert run.code == 0, run.err
    (warning,) = warnings(run)
    assert warning["source"] == "empty"
    assert "empty holds no files" in warning["reason"]
    (line,) = run.lines()
    check_succeeded(line, emulator, photo)


async def test_an_include_that_matches_nothing_names_the_folder_and_the_pattern(
    emulator: Emulator, tmp_path: Path
) -> None:
    png(tmp_path / "photos" / "a.png", 1)
    png(tmp_path / "photos" / "sub" / "b.png", 2)

    run = await upload_in(emulator, tmp_path, "photos", "--include", "*.jpeg")

    assert run.code == 0, run.err
    assert run.lines() == []
    assert "0 items" in run.err
    (warning,) = warnings(run)
    assert warning["source"] == "photos"
    assert "no file of photos passes" in warning["reason"]
    assert "--include '*.jpeg'" in warning["reason"]
    assert "2 files left out" in warning["reason"]
    assert emulator.all_media() == []


async def test_an_exclude_that_leaves_nothing_names_the_folder_and_the_pattern(
    emulator: Emulator, tmp_path: Path
) -> None:
    png(tmp_path / "photos" / "raw" / "a.png")

    run = await upload_in(emulator, tmp_path, "photos", "--exclude", "raw")

    assert run.code == 0, run.err
    (warning,) = warnings(run)
    assert warning["source"] == "photos"
    assert "--exclude 'raw'" in warning["reason"]


async def test_a_folder_of_hidden_files_says_how_to_include_them(
    emulator: Emulator, tmp_path: Path
) -> None:
    png(tmp_path / "photos" / ".a.png")

    run = await upload_in(emulator, tmp_path, "photos")

    assert run.code == 0, run.err
    (warning,) = warnings(run)
    assert "photos holds no files" in warning["reason"] and "--hidden" in warning["reason"]


async def test_a_manifest_without_entries_is_one_warning_naming_it(
    emulator: Emulator, tmp_path: Path
) -> None:
    (tmp_path / "list.jsonl").write_text("# nothing yet\n\n")
    (tmp_path / "rows.csv").write_text("path,alt_text\n")
    photo = png(tmp_path / "a.png")

    run = await upload_in(emulator, tmp_path, "list.jsonl", "rows.csv", "a.png")

    assert run.code == 0, run.err
    found = warnings(run)
    assert [w["source"] for w in found] == ["list.jsonl", "rows.csv"]  # once each
    assert all("has no entries" in w["reason"] for w in found)
    (line,) = run.lines()
    check_succeeded(line, emulator, photo)


async def test_sources_that_give_items_warn_nothing(emulator: Emulator, tmp_path: Path) -> None:
    png(tmp_path / "photos" / "a.png")
    (tmp_path / "list.jsonl").write_text('{"path": "photos/a.png", "id": "listed"}\n')

    run = await upload_in(emulator, tmp_path, "photos", "list.jsonl", "--include", "*.png")

    assert run.code == 0, run.err
    assert warnings(run) == []
    assert len(run.lines()) == 2
