"""A directory scan tells media from other files by their first bytes, never by the name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bulkup.core.items import Item, SourceProblem
from bulkup.media import samples
from bulkup.sources import iter_sources, scan_directory

#: First bytes of images and videos that X does not take: media all the same.
OTHER_MEDIA = {
    "iphone.heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",
    "clip.avif": b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf",
    "old.avi": b"RIFF\x00\x10\x00\x00AVI LIST",
    "old.flv": b"FLV\x01\x05\x00\x00\x00\x09",
    "dvd.mpg": b"\x00\x00\x01\xba\x44\x00\x04\x00\x04\x01",
    "scan.jp2": b"\x00\x00\x00\x0cjP  \r\n\x87\n\x00\x00\x00\x14ftypjp2 ",
    "layers.psd": b"8BPS\x00\x01\x00\x00\x00\x00\x00\x00",
}


def outcome(entry: Item | SourceProblem) -> str:
    return "item" if isinstance(entry, Item) else f"{entry.status} {entry.kind}"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    samples.write_image(mixed / "photo.png", fmt="png")
    samples.write_image(mixed / "really-a-png.txt", fmt="png", seed=1)
    samples.write_gif(mixed / "anim.gif")
    (mixed / "fake.jpg").write_text("not a photo at all\n")
    (mixed / "notes.txt").write_text("pack the charger\n")
    (mixed / "data.json").write_text(json.dumps({"path": "photo.png"}))
    samples.write_srt(mixed / "en.srt")
    samples.write_vtt(mixed / "fr.vtt")
    for name, head in OTHER_MEDIA.items():
        (mixed / name).write_bytes(head + bytes(64))
    return mixed


def test_files_are_told_by_their_bytes_not_their_names(folder: Path) -> None:
    found = {entry.id.removeprefix("mixed/"): outcome(entry) for entry in scan_directory("mixed")}
    assert found["photo.png"] == found["anim.gif"] == "item"
    assert found["really-a-png.txt"] == "item"  # PNG bytes: media, whatever the name
    assert found["fake.jpg"] == found["notes.txt"] == found["data.json"] == "skipped not_media"


def test_subtitles_found_by_a_scan_are_skipped_and_say_how_they_attach(folder: Path) -> None:
    problems = {p.id: p for p in scan_directory("mixed") if isinstance(p, SourceProblem)}
    for name, fmt in (("en.srt", "SRT"), ("fr.vtt", "WebVTT")):
        problem = problems[f"mixed/{name}"]
        assert (problem.status, problem.kind) == ("skipped", "not_media")
        assert problem.message.startswith(f"subtitles ({fmt}), not an image, GIF or video")
        assert 'the "subtitles" field of its manifest entry' in problem.message
        assert problem.path == str(folder / name)


def test_images_and_videos_x_does_not_take_stay_items_to_fail_preflight(folder: Path) -> None:
    found = {entry.id.removeprefix("mixed/"): outcome(entry) for entry in scan_directory("mixed")}
    assert {name: found[name] for name in OTHER_MEDIA} == dict.fromkeys(OTHER_MEDIA, "item")


def test_a_file_named_alone_or_in_a_manifest_is_not_judged_by_its_bytes(folder: Path) -> None:
    manifest = folder.parent / "m.jsonl"
    manifest.write_text(json.dumps({"path": "mixed/notes.txt", "id": "listed"}) + "\n")
    entries = list(iter_sources(["mixed/fake.jpg", "m.jsonl"]))
    assert [(e.id, outcome(e)) for e in entries] == [("mixed/fake.jpg", "item"), ("listed", "item")]


def test_the_message_of_a_skipped_file_names_neither_place_nor_prefix_twice(folder: Path) -> None:
    [problem] = [p for p in scan_directory("mixed") if p.id == "mixed/notes.txt"]
    assert isinstance(problem, SourceProblem)
    assert problem.message == (
        "not an image, GIF or video (by its first bytes) — folders may hold other files: "
        "not uploaded"
    )
