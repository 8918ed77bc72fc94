"""``bulkup validate``: preflight alone, offline, a table, the upload report format, exit codes."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bulkup.cli import main
from bulkup.cli.validate import Row, print_table
from bulkup.media import samples

MIB = 1024 * 1024


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``media/`` with a valid PNG, a PNG named .jpg, a 6 MiB JPEG and SRT subtitles."""
    monkeypatch.chdir(tmp_path)
    media = tmp_path / "media"
    media.mkdir()
    samples.write_image(media / "a.png")
    samples.write_image(media / "photo.jpg", fmt="png", seed=1)
    samples.write_image(media / "big.jpg", fmt="jpeg", target_bytes=6 * MIB)
    samples.write_srt(media / "subs.srt")
    return media


def report_rows(path: Path) -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return {row["id"]: row for row in rows}


def test_table_shows_every_file_with_its_verdict(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "media", "nope.png"]) == 1
    out = capsys.readouterr().out
    where = Path.cwd() / "nope.png"
    assert out.splitlines() == [
        "FILE             TYPE        CATEGORY     SIZE     RESULT",
        "media/a.png      image/png   tweet_image  9.1 KiB  ok",
        "media/big.jpg    image/jpeg  tweet_image  6.0 MiB  "
        "failed: size 6.0 MiB exceeds 5 MiB for tweet_image",
        "media/photo.jpg  image/png   tweet_image  9.1 KiB  ok",
        "                                                   "
        "warning: photo.jpg: the bytes are PNG; uploading as image/png",
        "media/subs.srt   -           -            -        "
        "skipped: subtitles (SRT), not an image, GIF or video (by its first bytes) — folders "
        'may hold other files: subtitles attach to a video through the "subtitles" field of '
        "its manifest entry",
        f"nope.png         -           -            -        "
        f"failed: no such file or directory: {where} — check the path",
        "bulkup validate: 5 files: 2 valid, 2 invalid, 1 skipped",
    ]


def test_report_has_a_row_per_file_in_the_upload_format(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "media", "nope.png", "--report", "out.jsonl"]) == 1
    rows = report_rows(Path("out.jsonl"))
    assert list(rows) == [
        "media/a.png",
        "media/big.jpg",
        "media/photo.jpg",
        "media/subs.srt",
        "nope.png",
    ]
    ok = rows["media/a.png"]
    assert (ok["status"], ok["error"], ok["media_type"]) == ("succeeded", None, "image/png")
    assert (ok["media_category"], ok["size"]) == ("tweet_image", (folder / "a.png").stat().st_size)
    assert ok["path"] == str(folder / "a.png")
    assert rows["media/photo.jpg"]["media_type"] == "image/png"
    big = rows["media/big.jpg"]
    assert big["status"] == "failed"
    assert big["error"] == {
        "kind": "preflight",
        "message": "size 6.0 MiB exceeds 5 MiB for tweet_image",
        "http_status": None,
        "api_code": None,
    }
    assert rows["nope.png"]["status"] == "failed"
    assert rows["nope.png"]["error"]["kind"] == "missing_file"
    assert set(ok) >= {"media_id_string", "attempts", "elapsed_s", "resumed"}
    assert os.stat("out.jsonl").st_mode & 0o777 == 0o600


def test_every_violation_of_a_video_is_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = samples.write_video(
        tmp_path / "clip.mp4", width=64, height=64, seconds=0.3, pix_fmt="yuv444p", audio_channels=6
    )
    report = tmp_path / "r.jsonl"
    assert main(["validate", str(clip), "--report", str(report)]) == 1
    out = capsys.readouterr().out
    assert "failed: duration 0.3 s is below 0.5 s for tweet_video\n" in out
    assert "  failed: pixel format yuv444p is not yuv420p for tweet_video\n" in out
    assert "  failed: audio channels 6 exceed 2 for tweet_video\n" in out
    (row,) = report_rows(report).values()
    assert row["error"]["message"] == (
        "duration 0.3 s is below 0.5 s for tweet_video; "
        "pixel format yuv444p is not yuv420p for tweet_video; "
        "audio channels 6 exceed 2 for tweet_video"
    )


def test_all_valid_exits_0(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "media", "--exclude", "big.jpg"]) == 0
    out = capsys.readouterr().out
    assert out.endswith("bulkup validate: 3 files: 2 valid, 0 invalid, 1 skipped\n")


def test_include_exclude_and_hidden_filter_directories(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    samples.write_bytes(folder / ".junk", 100)
    assert main(["validate", "media", "--include", "*.png", "--include", "*.srt"]) == 0
    assert "media/a.png" in capsys.readouterr().out
    assert main(["validate", "media", "--exclude", "*.jpg", "--hidden"]) == 0
    out = capsys.readouterr().out
    assert "media/photo.jpg" not in out
    [junk] = [line for line in out.splitlines() if line.startswith("media/.junk")]
    assert "skipped: not an image, GIF or video" in junk  # random bytes: not media


def test_category_option_applies_to_items_without_one(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "media/a.png", "--category", "TweetGif", "--report", "r.jsonl"]) == 1
    (row,) = report_rows(Path("r.jsonl")).values()
    assert row["media_category"] == "tweet_gif"
    assert row["error"]["message"] == "type PNG is not GIF for tweet_gif"


def test_manifest_fields_are_judged(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    samples.write_video(folder / "clip.mp4", width=64, height=64)
    manifest = tmp_path / "m.jsonl"
    entries = [
        {"path": "media/clip.mp4", "alt_text": "a square"},
        {"path": "media/a.png", "alt_text": "noise", "media_category": "dm_image"},
    ]
    manifest.write_text("".join(json.dumps(entry) + "\n" for entry in entries))
    assert main(["validate", str(manifest), "--report", "r.jsonl"]) == 1
    rows = report_rows(Path("r.jsonl"))
    message = rows["media/clip.mp4"]["error"]["message"]
    assert message == f"{manifest}:1: alt_text is only for images and GIFs"  # the entry's line
    assert rows["media/a.png"]["status"] == "succeeded"
    assert rows["media/a.png"]["media_category"] == "dm_image"


def test_validate_opens_no_socket(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("validate must not touch the network")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    assert main(["validate", "media", "--exclude", "big.jpg"]) == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "media", "--category", "films"],
        ["validate", "media", "--report", "no/such/folder/r.jsonl"],
    ],
)
def test_usage_errors_exit_2(
    folder: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("bulkup validate: ")


def test_missing_sources_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["validate"])
    assert exit_info.value.code == 2


def test_rich_table_when_fancy() -> None:
    rows = [
        Row("a.png", "image/png", "tweet_image", "9.1 KiB", True, ("ok",)),
        Row("[b].mp4", "video/mp4", "tweet_video", "1.0 MiB", False, ("failed: x", "failed: y")),
    ]
    out = io.StringIO()
    print_table(rows, out, fancy=True)
    text = out.getvalue()
    assert "┃ FILE" in text and "│ [b].mp4" in text  # names are text, not rich markup
    assert "failed: x" in text and "failed: y" in text


def test_command_runs_without_credentials(folder: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("X_")}
    done = subprocess.run(
        [sys.executable, "-m", "bulkup", "validate", "media/a.png"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("bulkup validate: 1 file: 1 valid, 0 invalid\n")
