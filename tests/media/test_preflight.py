"""Preflight names every broken rule in one exact line, before a byte is uploaded.

Files are real (from :mod:`bulkup.media.samples`, or PyAV with x264 options for GOP structure);
a rule the encoders cannot break on demand (HE-AAC, 300 million GIF pixels) is checked on
scaled facts, as in ``test_media.py``.
"""

from __future__ import annotations

import dataclasses
import os
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image, ImageDraw

from bulkup.core.items import Item
from bulkup.emulator import Emulator
from bulkup.media import samples
from bulkup.media.preflight import Preflight, category_for, preflight, violation_error
from bulkup.media.probe import GOP_SCAN_PACKETS, MediaFacts, Problem, check, probe
from tests.apiclient import RawClient

MIB = 1024 * 1024


def item(path: Path, **fields: Any) -> Item:
    return Item(id=path.name, path=path, **fields)


def judge(path: Path, **fields: Any) -> Preflight:
    return preflight(item(path, **fields))


def tiny_video(path: Path, **options: Any) -> Path:
    """A video of 64x64, 1 s at 10 fps unless told otherwise."""
    return samples.write_video(path, **({"width": 64, "height": 64, "fps": 10} | options))


def x264_video(path: Path, params: str, *, frames: int = 48, preset: str = "fast") -> Path:
    """64x64 H.264 at 25 fps encoded with ``x264-params`` (GOP structure, B-frames)."""
    with av.open(str(path), "w", format="mp4") as box:
        stream = box.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        stream.options = {"preset": preset, "x264-params": params}
        for index in range(frames):
            picture = Image.new("RGBA", (64, 64), (30, 60, 90, 255))
            x = (index * 3) % 48
            ImageDraw.Draw(picture).rectangle((x, 0, x + 16, 16), fill=(255, 255, 255, 255))
            frame = av.VideoFrame.from_bytes(picture.tobytes(), 64, 64, format="rgba")
            frame.pts = index
            box.mux(stream.encode(frame))
        box.mux(stream.encode(None))
    return path


def reorders(path: Path) -> bool:
    """Whether some packet is shown before one decoded earlier (the file has B-frames)."""
    with av.open(str(path)) as box:
        pts = [p.pts for p in box.demux(box.streams.video[0]) if p.pts is not None]
    return pts != sorted(pts)


OPEN_GOP = "open-gop=1:bframes=3:keyint=12:min-keyint=12:scenecut=0"
CLOSED_GOP = "open-gop=0:bframes=3:keyint=12:min-keyint=12:scenecut=0"


# --- one exact line per broken rule ------------------------------------------------
Maker = Callable[[Path], Path]
LINES: dict[str, tuple[Maker, str | None, list[str]]] = {
    "too-long": (
        lambda d: tiny_video(d / "a.mp4", seconds=150, fps=2, audio=False),
        None,
        ["duration 150.0 s exceeds 140 s for tweet_video"],
    ),
    "too-short": (
        lambda d: tiny_video(d / "a.mp4", seconds=0.3),
        None,
        ["duration 0.3 s is below 0.5 s for tweet_video"],
    ),
    "too-large": (
        lambda d: tiny_video(d / "a.mp4", width=1400, height=800, fps=2, seconds=0.5, audio=False),
        None,
        ["dimensions 1400x800 exceed 1280x1024 or 1024x1280 for tweet_video"],
    ),
    "too-small": (
        lambda d: tiny_video(d / "a.mp4", width=20, height=40, audio=False),
        None,
        ["dimensions 20x40 are below 32x32 for tweet_video"],
    ),
    "aspect-ratio": (
        lambda d: tiny_video(d / "a.mp4", width=32, height=100, audio=False),
        None,
        ["aspect ratio 32x100 (1:3.12) is outside 1:3..3:1 for tweet_video"],
    ),
    "frame-rate": (
        lambda d: tiny_video(d / "a.mp4", fps=61, seconds=0.6, audio=False),
        None,
        ["frame rate 61 fps exceeds 60 fps for tweet_video"],
    ),
    "yuv444p": (
        lambda d: tiny_video(d / "a.mp4", pix_fmt="yuv444p"),
        "dm_video",
        ["pixel format yuv444p is not yuv420p for dm_video"],
    ),
    "non-square-pixels": (
        lambda d: tiny_video(d / "a.mp4", sample_aspect_ratio=(4, 3)),
        None,
        ["sample aspect ratio 4:3 is not 1:1 for tweet_video"],
    ),
    "interlaced": (
        lambda d: tiny_video(d / "a.mp4", interlaced=True),
        None,
        ["scan interlaced is not progressive for tweet_video"],
    ),
    "mpeg4": (
        lambda d: tiny_video(d / "a.mp4", codec="mpeg4", audio=False),
        None,
        ["video codec mpeg4 is not H.264 for tweet_video"],
    ),
    "opus-audio": (
        lambda d: tiny_video(d / "a.mp4", audio_codec="libopus"),
        None,
        ["audio codec opus is not AAC for tweet_video"],
    ),
    "5.1-audio": (
        lambda d: tiny_video(d / "a.mp4", audio_channels=6),
        "amplify_video",
        ["audio channels 6 exceed 2 for amplify_video"],
    ),
    "open-gop": (
        lambda d: x264_video(d / "a.mp4", OPEN_GOP),
        None,
        ["GOP structure open is not closed for tweet_video"],
    ),
    "every-video-rule-at-once": (
        lambda d: tiny_video(d / "a.mp4", seconds=0.3, pix_fmt="yuv444p", audio_channels=6),
        None,
        [
            "duration 0.3 s is below 0.5 s for tweet_video",
            "pixel format yuv444p is not yuv420p for tweet_video",
            "audio channels 6 exceed 2 for tweet_video",
        ],
    ),
    "webm": (
        lambda d: tiny_video(d / "a.webm", container="webm", codec="libvpx", audio=False),
        None,
        ["type WebM is not one of MP4, MOV for tweet_video"],
    ),
    "gif-frames": (
        lambda d: samples.write_gif(d / "a.gif", width=4, height=4, frames=351),
        None,
        ["frames 351 exceed 350 for tweet_gif"],
    ),
    "gif-dimensions": (
        lambda d: samples.write_gif(d / "a.gif", width=1281, height=8, frames=2),
        "dm_gif",
        ["dimensions 1281x8 exceed 1280x1080 for dm_gif"],
    ),
    "animated-gif-as-image": (
        lambda d: samples.write_gif(d / "a.gif"),
        "tweet_image",
        ["type animated GIF is not a still image for tweet_image"],
    ),
    "image-size": (
        lambda d: samples.write_image(d / "a.jpg", fmt="jpeg", target_bytes=6 * MIB),
        None,
        ["size 6.0 MiB exceeds 5 MiB for tweet_image"],
    ),
    "image-size-by-a-byte": (
        lambda d: samples.write_image(d / "a.png", target_bytes=5 * MIB + 1),
        None,
        ["size 5242881 bytes exceeds 5242880 bytes for tweet_image"],
    ),
    "bmp": (
        lambda d: samples.write_image(d / "a.bmp", fmt="bmp"),
        None,
        ["type BMP is not one of JPEG, PNG, GIF, WEBP for tweet_image"],
    ),
    "subtitles-size": (
        lambda d: samples.write_srt(d / "a.srt", cues=30_000),
        None,
        ["size 1.4 MiB exceeds 1 MiB for subtitles"],
    ),
    "png-as-subtitles": (
        lambda d: samples.write_image(d / "a.png"),
        "subtitles",
        ["type PNG is not one of SRT, VTT for subtitles"],
    ),
    "random-bytes": (
        lambda d: samples.write_bytes(d / "a.jpg", 5000),
        None,
        [
            "type unrecognized is not one of JPEG, PNG, GIF, WEBP, MP4, MOV "
            "for uploads without media_category"
        ],
    ),
}


@pytest.mark.parametrize("case", list(LINES))
def test_each_broken_rule_is_one_exact_line(tmp_path: Path, case: str) -> None:
    make, category, lines = LINES[case]
    pre = preflight(item(make(tmp_path)), default_category=category)
    assert list(pre.lines) == lines
    assert not pre.ok
    assert all(problem.rule for problem in pre.violations)


def test_truncated_image_is_one_unreadable_line(tmp_path: Path) -> None:
    whole = samples.write_image(tmp_path / "a.png", width=120, height=90).read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole[: len(whole) // 2])
    (line,) = judge(cut).lines
    assert line.startswith("unreadable: corrupt or truncated PNG: ")


def test_missing_file_is_one_unreadable_line(tmp_path: Path) -> None:
    pre = judge(tmp_path / "gone.png")
    (line,) = pre.lines
    assert line.startswith("unreadable: cannot read file: ") and "gone.png" in line
    assert (pre.media_type, pre.facts.size) == (None, 0)


def test_rules_without_a_file_to_break_them_have_lines_too(tmp_path: Path) -> None:
    mp4 = probe(tiny_video(tmp_path / "a.mp4"))
    (profile,) = check(dataclasses.replace(mp4, audio_profile="HE-AAC"), "tweet_video")
    assert profile.line("tweet_video") == "audio profile HE-AAC is not LC for tweet_video"
    gif = probe(samples.write_gif(tmp_path / "a.gif", frames=2))
    big = dataclasses.replace(gif, width=1280, height=1080, frames=218)
    (pixels,) = check(big, "tweet_gif")
    assert pixels.line("tweet_gif") == (
        "width x height x frames 301,363,200 exceeds 300,000,000 for tweet_gif"
    )
    long = dataclasses.replace(mp4, duration=140.04)
    (duration,) = check(long, "tweet_video")
    assert duration.line("tweet_video") == "duration 140.040 s exceeds 140 s for tweet_video"
    (sync,) = check(dataclasses.replace(mp4, duration=31.0), None)
    assert sync.line(None) == "duration 31.0 s exceeds 30 s for uploads without media_category"


def test_problems_compare_by_what_the_api_says(tmp_path: Path) -> None:
    facts = probe(tiny_video(tmp_path / "a.mp4", pix_fmt="yuv444p", audio=False))
    (problem,) = check(facts, "tweet_video")
    assert problem == Problem(
        3, "UnsupportedMedia", "Unsupported pixel format yuv444p: use yuv420p"
    )
    assert (problem.rule, problem.value, problem.limit) == ("pixel_format", "yuv444p", "yuv420p")


def test_declared_type_of_another_family_is_a_violation(tmp_path: Path) -> None:
    pre = judge(samples.write_image(tmp_path / "a.png"), media_type="video/mp4")
    assert pre.lines == (
        "type PNG does not match the declared media_type video/mp4 for tweet_image",
    )


def test_violation_error_joins_the_lines(tmp_path: Path) -> None:
    pre = judge(tiny_video(tmp_path / "a.mp4", seconds=0.3, audio_channels=6))
    error = violation_error(pre)
    assert (error.kind, error.http_status, error.api_code) == ("preflight", None, None)
    assert error.message == (
        "duration 0.3 s is below 0.5 s for tweet_video; audio channels 6 exceed 2 for tweet_video"
    )


# --- type from the bytes, category by type ---------------------------------------------
def test_extension_that_disagrees_warns_and_the_bytes_win(tmp_path: Path) -> None:
    pre = judge(samples.write_image(tmp_path / "photo.jpg", fmt="png"))
    assert (pre.ok, pre.media_type, pre.category) == (True, "image/png", "tweet_image")
    assert pre.warnings == ("photo.jpg: the bytes are PNG; uploading as image/png",)


def test_mislabelled_video_is_judged_as_what_it_is(tmp_path: Path) -> None:
    pre = judge(tiny_video(tmp_path / "clip.gif", seconds=150, fps=2, audio=False))
    assert (pre.media_type, pre.category) == ("video/mp4", "tweet_video")
    assert pre.warnings == ("clip.gif: the bytes are MP4; uploading as video/mp4",)
    assert pre.lines == ("duration 150.0 s exceeds 140 s for tweet_video",)


@pytest.mark.parametrize(
    ("name", "options"),
    [("a.mov", {}), ("a.m4v", {"container": "mov"}), ("a.bin", {}), ("noext", {})],
)
def test_no_warning_for_mp4_and_mov_or_unknown_extensions(
    tmp_path: Path, name: str, options: dict[str, Any]
) -> None:
    pre = judge(tiny_video(tmp_path / name, **options))
    assert (pre.ok, pre.warnings) == (True, ())


def test_declared_type_that_disagrees_warns(tmp_path: Path) -> None:
    pre = judge(samples.write_image(tmp_path / "a.png"), media_type="image/jpeg")
    assert pre.ok
    assert pre.warnings == ("a.png: the bytes are PNG, not the declared image/jpeg",)


def test_category_is_picked_by_type(tmp_path: Path) -> None:
    made = {
        "tweet_image": [
            samples.write_image(tmp_path / "a.png"),
            samples.write_image(tmp_path / "a.jpg", fmt="jpeg"),
            samples.write_image(tmp_path / "a.webp", fmt="webp"),
            samples.write_gif(tmp_path / "still.gif", frames=1),
        ],
        "tweet_gif": [samples.write_gif(tmp_path / "anim.gif")],
        "tweet_video": [tiny_video(tmp_path / "a.mp4"), tiny_video(tmp_path / "a.mov")],
        "subtitles": [samples.write_srt(tmp_path / "a.srt"), samples.write_vtt(tmp_path / "a.vtt")],
    }
    for category, paths in made.items():
        for path in paths:
            pre = judge(path)
            assert (pre.category, pre.ok) == (category, True), path.name
            assert category_for(pre.facts) == category
    assert category_for(MediaFacts(mime=None, size=3)) is None


def test_named_category_wins_over_default_and_default_over_type(tmp_path: Path) -> None:
    path = tiny_video(tmp_path / "a.mp4")
    assert judge(path, media_category="dm_video").category == "dm_video"
    named = preflight(item(path, media_category="dm_video"), default_category="amplify_video")
    assert named.category == "dm_video"
    assert preflight(item(path), default_category="AmplifyVideo").category == "amplify_video"
    with pytest.raises(ValueError, match="unknown media_category"):
        preflight(item(path), default_category="films")


# --- alt text ----------------------------------------------------------------------
def test_alt_text_on_video_is_a_violation(tmp_path: Path) -> None:
    pre = judge(tiny_video(tmp_path / "a.mp4"), alt_text="a square")
    assert pre.lines == ("alt_text is only for images and GIFs",)


def test_alt_text_on_subtitles_is_a_violation(tmp_path: Path) -> None:
    assert not judge(samples.write_srt(tmp_path / "a.srt"), alt_text="words").ok


def test_alt_text_over_1000_characters_is_a_violation(tmp_path: Path) -> None:
    path = samples.write_image(tmp_path / "a.png")
    assert judge(path, alt_text="x" * 1000).ok
    pre = judge(path, alt_text="x" * 1001)
    assert pre.lines == ("alt_text 1001 characters exceeds 1000 characters",)


def test_alt_text_on_images_and_gifs_passes(tmp_path: Path) -> None:
    assert judge(samples.write_gif(tmp_path / "a.gif"), alt_text="dots").ok
    assert judge(samples.write_image(tmp_path / "a.jpg", fmt="jpeg"), alt_text="dots").ok


# --- open GOP ----------------------------------------------------------------------
def test_open_gop_is_detected(tmp_path: Path) -> None:
    path = x264_video(tmp_path / "open.mp4", OPEN_GOP)
    assert probe(path).open_gop is True


def test_closed_gop_with_b_frames_is_closed(tmp_path: Path) -> None:
    path = x264_video(tmp_path / "closed.mp4", CLOSED_GOP)
    assert reorders(path)  # B-frames are there: the test is not trivially closed
    assert probe(path).open_gop is False
    assert judge(path).ok


def test_single_gop_file_is_closed(tmp_path: Path) -> None:
    assert probe(tiny_video(tmp_path / "a.mp4")).open_gop is False


def test_gop_longer_than_the_scan_is_unknown_and_not_judged(tmp_path: Path) -> None:
    params = "keyint=1000:min-keyint=1000:scenecut=0"
    path = x264_video(tmp_path / "a.mp4", params, frames=GOP_SCAN_PACKETS + 20, preset="ultrafast")
    facts = probe(path)
    assert facts.open_gop is None
    assert check(facts, "tweet_video") == []


@pytest.mark.anyio
async def test_emulator_refuses_open_gop_like_preflight(
    client: RawClient, emulator: Emulator, tmp_path: Path
) -> None:
    data = x264_video(tmp_path / "open.mp4", OPEN_GOP).read_bytes()
    init = await client.v2_init(len(data), "video/mp4", "tweet_video")
    media_id = init.json["data"]["id"]
    assert (await client.v2_append(media_id, 0, data)).status in (200, 204)
    assert (await client.v2_finalize(media_id)).status == 200
    status = await client.v2_status(media_id)
    error = status.json["data"]["processing_info"]["error"]
    assert (error["code"], error["name"]) == (3, "UnsupportedMedia")
    assert error["message"] == "Unsupported GOP structure: open GOP; use closed GOPs"


# --- speed: metadata only ----------------------------------------------------------
def _bytes_read() -> int | None:
    try:
        with open("/proc/self/io") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("rchar:"))
    except OSError:
        return None


def test_preflight_of_a_500_mb_video_reads_only_metadata(tmp_path: Path) -> None:
    path = tiny_video(tmp_path / "big.mp4", width=320, height=240, seconds=2, fps=25)
    total = 500 * MIB
    with path.open("r+b") as f:  # a sparse trailing "free" box: 500 MiB, little disk
        f.seek(0, os.SEEK_END)
        f.write(struct.pack(">I4s", total - f.tell(), b"free"))
        f.truncate(total)
    before = _bytes_read()
    started = time.perf_counter()
    pre = judge(path)
    elapsed = time.perf_counter() - started
    after = _bytes_read()
    print(f"preflight of a {total / MIB:.0f} MiB video: {elapsed * 1000:.1f} ms")
    assert (pre.ok, pre.facts.size, pre.facts.open_gop) == (True, total, False)
    if before is not None and after is not None:
        assert after - before < 4 * MIB
