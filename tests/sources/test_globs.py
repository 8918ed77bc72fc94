"""``--include`` and ``--exclude``: each has its own example in ``--help``, and every example
does what the help says of it (run through ``bulkup validate``, which scans like upload)."""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bulkup.cli import build_parser, main
from bulkup.media import samples

#: The folder scanned; all JPEG bytes, whatever the name says.
FILES = (
    "a.jpg",
    "B.JPG",
    "drafts.jpg",
    "x.tmp",
    "2024/c.jpg",
    "2024/g.mp4",
    "2024/trip/d.mp4",
    "2024/drafts/f.jpg",
    "drafts/e.jpg",
)


@pytest.fixture
def photos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for number, rel in enumerate(FILES):
        (tmp_path / "photos" / rel).parent.mkdir(parents=True, exist_ok=True)
        samples.write_image(tmp_path / "photos" / rel, fmt="jpeg", seed=number)
    return tmp_path / "photos"


def scanned(*options: str) -> list[str]:
    """The files of ``photos/`` that ``bulkup validate photos OPTIONS`` judges."""
    assert main(["validate", "photos", *options, "--report", "r.jsonl"]) == 0
    lines = Path("r.jsonl").read_text().splitlines()
    return sorted(json.loads(line)["id"].removeprefix("photos/") for line in lines)


def examples(flag: str) -> list[str]:
    """The quoted examples in the ``upload --help`` text of ``flag``."""
    [commands] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    upload = commands.choices["upload"]
    [action] = [a for a in upload._actions if flag in a.option_strings]
    quoted = re.findall(r"'([^']*[*?][^']*)'", action.help or "")
    return [pattern for pattern in quoted if re.search(r"\w", pattern)]  # not '**' alone


def test_include_and_exclude_each_have_their_own_examples() -> None:
    include, exclude = examples("--include"), examples("--exclude")
    assert include == ["*.jpg", "2024/**/*.mp4"]
    assert exclude == ["**/drafts/**", "*.tmp"]


def test_the_include_examples_take_what_the_help_says(
    photos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    by_name, by_path = examples("--include")
    # A name at any depth, case-sensitive: B.JPG is not *.jpg.
    assert scanned("--include", by_name) == sorted(
        ["a.jpg", "drafts.jpg", "2024/c.jpg", "2024/drafts/f.jpg", "drafts/e.jpg"]
    )
    # A path inside the directory; ** crosses folders, and none.
    assert scanned("--include", by_path) == ["2024/g.mp4", "2024/trip/d.mp4"]


def test_the_exclude_examples_leave_out_what_the_help_says(
    photos: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folders, files = examples("--exclude")
    listed: list[str] = []
    real_scandir = os.scandir

    def spy(path: Any) -> Iterator[os.DirEntry[str]]:
        listed.append(os.path.relpath(path, photos))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", spy)
    every = sorted(FILES)
    drafts = ["2024/drafts/f.jpg", "drafts/e.jpg"]
    assert scanned("--exclude", folders) == [f for f in every if f not in drafts]
    assert not [folder for folder in listed if "drafts" in folder]  # not even entered
    assert scanned("--exclude", files) == [f for f in every if f != "x.tmp"]
    # --exclude wins over --include.
    include = examples("--include")[0]
    assert scanned("--include", include, "--exclude", folders) == [
        "2024/c.jpg",
        "a.jpg",
        "drafts.jpg",
    ]
