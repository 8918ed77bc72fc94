"""bulkup.media.probe judges bytes like the upload endpoint: sniff, probe, check."""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bulkup.core.spec import CATEGORIES
from bulkup.media import samples
from bulkup.media.probe import (
    LIMITS,
    MAX_PROVE_BYTES,
    SNIFF_BYTES,
    MediaFacts,
    Problem,
    check,
    limits_for,
    probe,
    sniff,
)

MIB = 1024 * 1024
INVALID = (1, "InvalidMedia")
UNSUPPORTED = (3, "UnsupportedMedia")


def video(tmp_path: Path, name: str = "v.mp4", **kwargs: Any) -> MediaFacts:
    """Probe a tiny video: 64x64, 1 s, 10 fps unless told otherwise."""
    options: dict[str, Any] = {"width": 64, "height": 64, "seconds": 1.0, "fps": 10} | kwargs
    return probe(samples.write_video(tmp_path / name, **options))


def kinds(problems: list[Problem]) -> list[tuple[int, str]]:
    return [(p.code, p.name) for p in problems]


def head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(SNIFF_BYTES)


def pad_mp4(path: Path, total: int) -> Path:
    """Grow a valid MP4 to ``total`` bytes with a sparse top-level ``free`` box."""
    with path.open("r+b") as f:
        f.seek(0, 2)
        f.write(struct.pack(">I4s", total - f.tell(), b"free"))
        f.truncate(total)
    return path


# --- sniff -------------------------------------------------------------------------
Maker = Callable[[Path], Path]
GENERATED: list[tuple[str, Maker, str]] = [
    ("png", lambda p: samples.write_image(p / "a", fmt="png"), "image/png"),
    ("jpeg", lambda p: samples.write_image(p / "a", fmt="jpeg"), "image/jpeg"),
    ("gif", lambda p: samples.write_gif(p / "a"), "image/gif"),
    ("webp", lambda p: samples.write_image(p / "a", fmt="webp"), "image/webp"),
    ("bmp", lambda p: samples.write_image(p / "a", fmt="bmp"), "image/bmp"),
    ("tiff", lambda p: samples.write_image(p / "a", fmt="tiff"), "image/tiff"),
    ("mp4", lambda p: samples.write_video(p / "a", width=32, height=32), "video/mp4"),
    (
        "mov",
        lambda p: samples.write_video(p / "a", width=32, height=32, container="mov"),
        "video/quicktime",
    ),
    (
        "webm",
        lambda p: samples.write_video(
            p / "a", width=32, height=32, container="webm", codec="libvpx", audio=False
        ),
        "video/webm",
    ),
    (
        "ts",
        lambda p: samples.write_video(p / "a", width=32, height=32, container="mpegts"),
        "video/mp2t",
    ),
    ("srt", lambda p: samples.write_srt(p / "a"), "text/srt"),
    ("vtt", lambda p: samples.write_vtt(p / "a"), "text/vtt"),
]


@pytest.mark.parametrize(
    ("make", "mime"), [g[1:] for g in GENERATED], ids=[g[0] for g in GENERATED]
)
def test_sniff_names_every_generated_type(tmp_path: Path, make: Maker, mime: str) -> None:
    assert sniff(head(make(tmp_path))) == mime


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\0\0\0\0" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body


TS_PACKET = b"\x47" + bytes(187)


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (_ftyp(b"isom", b"isom", b"avc1"), "video/mp4"),
        (_ftyp(b"mp42", b"mp41"), "video/mp4"),
        (_ftyp(b"M4V ", b"M4V "), "video/mp4"),
        (_ftyp(b"3gp5", b"3gp5"), "video/mp4"),
        (_ftyp(b"qt  ", b"qt  "), "video/quicktime"),
        (_ftyp(b"zzzz", b"qt  "), "video/quicktime"),
        (_ftyp(b"zzzz", b"mp42"), "video/mp4"),
        (_ftyp(b"heic", b"mif1", b"heic"), None),  # HEIF still image: not video
        (_ftyp(b"zzzz", b"zzzz"), None),
        (b"\0\0\0\x08wide\0\0\0\x10mdat", "video/quicktime"),
        (b"\0\0\x01\0moov", "video/quicktime"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01", "video/webm"),
        (TS_PACKET * 3, "video/mp2t"),
        (TS_PACKET * 2 + b"\x00" + bytes(187), None),  # third sync byte missing
        (TS_PACKET[:100], None),  # too short to see a second packet
        (b"\xef\xbb\xbfWEBVTT\n\n00:00.000 --> 00:01.000\nhi\n", "text/vtt"),
        (b"WEBVTT", "text/vtt"),
        (b"WEBVTTX\n", None),
        (b"\xef\xbb\xbf1\r\n00:00:00,000 --> 00:00:01,000\r\nhi\r\n", "text/srt"),
        (b"\n1\n00:00:01,500 --> 00:00:02,000\nhi\n", "text/srt"),
        (b"1\nnot a timing line\n", None),
        (b"BM" + bytes(12) + struct.pack("<I", 40), "image/bmp"),
        (b"BMW is a car brand, not a bitmap", None),
        (b"II*\x00\x08\x00\x00\x00", "image/tiff"),
        (b"MM\x00*\x00\x00\x00\x08", "image/tiff"),
        (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp"),
        (b"RIFF\0\0\0\0WAVEfmt ", None),
        (b"\xff\xd8\xff", "image/jpeg"),  # a three-byte head is enough
        (b"GIF89a", "image/gif"),
        (b"GIF87a", "image/gif"),
        (b"\x89PNG", None),  # shorter than the signature
        (b"", None),
        (b"hello world", None),
        (b"%PDF-1.7\n", None),
    ],
)
def test_sniff_hand_made_heads(data: bytes, mime: str | None) -> None:
    assert sniff(data) == mime


def test_sniff_unknown_random_bytes(tmp_path: Path) -> None:
    assert sniff(head(samples.write_bytes(tmp_path / "r", 8192, seed=5))) is None


def test_lying_extension_is_ignored(tmp_path: Path) -> None:
    path = samples.write_image(tmp_path / "photo.jpg", fmt="png")
    facts = probe(path)
    assert sniff(head(path)) == facts.mime == "image/png"
    assert check(facts, "tweet_image", declared_type="image/jpeg") == []


# --- probe -------------------------------------------------------------------------
def test_probe_still_image_facts(tmp_path: Path) -> None:
    facts = probe(samples.write_image(tmp_path / "a.webp", fmt="webp", width=33, height=17))
    assert facts == MediaFacts(
        mime="image/webp",
        size=(tmp_path / "a.webp").stat().st_size,
        width=33,
        height=17,
        frames=1,
    )


def test_probe_animated_gif_facts(tmp_path: Path) -> None:
    facts = probe(samples.write_gif(tmp_path / "a.gif", width=30, height=20, frames=4))
    assert (facts.width, facts.height, facts.frames) == (30, 20, 4)
    assert (facts.animated, facts.error) == (True, None)
    assert facts.duration == pytest.approx(0.4)


def test_probe_animated_webp_is_animated(tmp_path: Path) -> None:
    from PIL import Image

    frames = [Image.new("RGB", (16, 16), (i * 60, 0, 0)) for i in range(3)]
    frames[0].save(tmp_path / "a.webp", save_all=True, append_images=frames[1:], duration=100)
    facts = probe(tmp_path / "a.webp")
    assert (facts.mime, facts.frames, facts.animated) == ("image/webp", 3, True)
    assert kinds(check(facts, "tweet_image")) == [INVALID]


def test_probe_mp4_facts(tmp_path: Path) -> None:
    facts = video(tmp_path, width=96, height=64, seconds=2.0, fps=25, audio_channels=1)
    assert (facts.mime, facts.width, facts.height) == ("video/mp4", 96, 64)
    assert (facts.fps, facts.frames) == (25.0, 50)
    assert facts.duration == pytest.approx(2.0)
    assert (facts.video_codec, facts.pix_fmt, facts.interlaced) == ("h264", "yuv420p", False)
    assert facts.sample_aspect_ratio in (None, (1, 1))
    assert (facts.audio_codec, facts.audio_profile, facts.audio_channels) == ("aac", "LC", 1)
    assert facts.error is None


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_truncated_image_sets_error_and_is_invalid(
    tmp_path: Path, fmt: samples.ImageFormat
) -> None:
    whole = samples.write_image(tmp_path / "a", fmt=fmt, width=120, height=90).read_bytes()
    cut = tmp_path / "cut"
    cut.write_bytes(whole[: len(whole) // 2])
    facts = probe(cut)
    assert facts.mime == f"image/{fmt}"
    assert facts.error is not None and "truncated" in facts.error
    assert kinds(check(facts, "tweet_image")) == [INVALID]


def test_truncated_gif_sets_error(tmp_path: Path) -> None:
    whole = samples.write_gif(tmp_path / "a.gif", frames=3).read_bytes()
    cut = tmp_path / "cut"
    cut.write_bytes(whole[: len(whole) - 40])
    assert probe(cut).error is not None


def test_huge_image_is_probed_without_reading_it_all(tmp_path: Path) -> None:
    path = samples.write_image(tmp_path / "a.png", target_bytes=MAX_PROVE_BYTES + 1)
    with path.open("r+b") as f:  # break a CRC: only a full read would notice
        f.seek(MAX_PROVE_BYTES // 2)
        f.write(b"\x00" * 8)
    facts = probe(path)
    assert (facts.width, facts.height, facts.error) == (64, 48, None)
    assert kinds(check(facts, "tweet_image")) == [UNSUPPORTED]


def test_corrupt_mp4_sets_error_and_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "bad.mp4"
    path.write_bytes(_ftyp(b"isom", b"isom") + b"\x00\x00\x10\x00moov" + bytes(64))
    facts = probe(path)
    assert facts.mime == "video/mp4" and facts.error is not None
    assert str(tmp_path) not in facts.error  # server paths never leak into messages
    assert kinds(check(facts, "tweet_video")) == [INVALID]


def test_random_bytes_are_invalid_media(tmp_path: Path) -> None:
    facts = probe(samples.write_bytes(tmp_path / "r.mp4", 100_000))
    assert facts == MediaFacts(mime=None, size=100_000)
    for category in (*CATEGORIES, None):
        assert check(facts, category) == [Problem(1, "InvalidMedia", "media type unrecognized.")]


def test_missing_file_does_not_raise(tmp_path: Path) -> None:
    facts = probe(tmp_path / "nope")
    assert facts.mime is None and facts.error is not None


def test_text_types_get_mime_and_size_only(tmp_path: Path) -> None:
    path = samples.write_vtt(tmp_path / "a.vtt")
    assert probe(path) == MediaFacts(mime="text/vtt", size=path.stat().st_size)


# --- check: accepting cases --------------------------------------------------------
def test_every_category_accepts_a_compliant_file(tmp_path: Path) -> None:
    png = probe(samples.write_image(tmp_path / "a.png"))
    jpeg = probe(samples.write_image(tmp_path / "a.jpg", fmt="jpeg"))
    webp = probe(samples.write_image(tmp_path / "a.webp", fmt="webp"))
    still_gif = probe(samples.write_gif(tmp_path / "s.gif", frames=1))
    gif = probe(samples.write_gif(tmp_path / "a.gif"))
    mp4, mov = video(tmp_path), video(tmp_path, "v.mov", container="mov")
    srt, vtt = (
        probe(samples.write_srt(tmp_path / "a.srt")),
        probe(samples.write_vtt(tmp_path / "v")),
    )
    accepted = {
        "tweet_image": [png, jpeg, webp, still_gif],
        "dm_image": [png, jpeg, webp, still_gif],
        "tweet_gif": [gif, still_gif],
        "dm_gif": [gif],
        "tweet_video": [mp4, mov],
        "dm_video": [mp4, mov],
        "amplify_video": [mp4, mov],
        "subtitles": [srt, vtt],
        None: [png, jpeg, webp, gif, mp4, mov],
    }
    assert set(accepted) == set(LIMITS)
    for category, files in accepted.items():
        for facts in files:
            assert check(facts, category) == [], (category, facts.mime)


def test_portrait_video_within_the_orientation_free_box_is_accepted(tmp_path: Path) -> None:
    facts = video(tmp_path, width=720, height=1280, fps=2, audio=False)
    assert check(facts, "tweet_video") == []


def test_sniffed_only_facts_are_judged_on_type_alone() -> None:
    # The emulator's discard mode keeps no bytes and knows only the sniffed type and size.
    assert check(MediaFacts(mime="video/mp4", size=10 * MIB), "tweet_video") == []
    assert check(MediaFacts(mime="image/png", size=10), "tweet_gif")[0].code == 1


# --- check: one rule each ----------------------------------------------------------
def test_image_over_5_mb(tmp_path: Path) -> None:
    facts = probe(samples.write_image(tmp_path / "a.png", target_bytes=5 * MIB + 1))
    problems = check(facts, "tweet_image")
    assert kinds(problems) == [UNSUPPORTED]
    assert "5242880" in problems[0].message
    assert check(dataclasses.replace(facts, size=5 * MIB), "tweet_image") == []


@pytest.mark.parametrize("fmt", ["bmp", "tiff"])
def test_image_type_outside_jpg_png_gif_webp(tmp_path: Path, fmt: samples.ImageFormat) -> None:
    facts = probe(samples.write_image(tmp_path / "a", fmt=fmt))
    assert kinds(check(facts, "dm_image")) == [INVALID]


def test_animated_gif_is_not_a_still_image(tmp_path: Path) -> None:
    facts = probe(samples.write_gif(tmp_path / "a.gif"))
    assert kinds(check(facts, "tweet_image")) == [INVALID]


def test_video_is_not_an_image(tmp_path: Path) -> None:
    assert kinds(check(video(tmp_path), "tweet_image")) == [INVALID]


def test_gif_category_takes_only_gif(tmp_path: Path) -> None:
    facts = probe(samples.write_image(tmp_path / "a.png"))
    assert kinds(check(facts, "tweet_gif")) == [INVALID]


def test_gif_over_15_mb(tmp_path: Path) -> None:
    facts = probe(samples.write_image(tmp_path / "a.gif", fmt="gif", target_bytes=15 * MIB + 1))
    assert facts.error is None
    assert kinds(check(facts, "tweet_gif")) == [UNSUPPORTED]


def test_gif_wider_than_1280(tmp_path: Path) -> None:
    facts = probe(samples.write_gif(tmp_path / "a.gif", width=1281, height=8, frames=2))
    problems = check(facts, "dm_gif")
    assert kinds(problems) == [UNSUPPORTED]
    assert "1281x8" in problems[0].message


def test_gif_taller_than_1080(tmp_path: Path) -> None:
    facts = probe(samples.write_gif(tmp_path / "a.gif", width=8, height=1081, frames=2))
    assert kinds(check(facts, "tweet_gif")) == [UNSUPPORTED]


def test_gif_more_than_350_frames(tmp_path: Path) -> None:
    facts = probe(samples.write_gif(tmp_path / "a.gif", width=4, height=4, frames=351))
    assert facts.frames == 351
    assert kinds(check(facts, "tweet_gif")) == [UNSUPPORTED]


def test_gif_over_300_million_pixels(tmp_path: Path) -> None:
    # 300 MP of GIF takes seconds to encode; the rule reads only the facts, so scale them.
    facts = probe(samples.write_gif(tmp_path / "a.gif", frames=2))
    big = dataclasses.replace(facts, width=1280, height=1080, frames=218)
    assert kinds(check(big, "tweet_gif")) == [UNSUPPORTED]
    assert check(dataclasses.replace(big, frames=217), "tweet_gif") == []


def test_video_over_512_mb(tmp_path: Path) -> None:
    path = pad_mp4(samples.write_video(tmp_path / "v.mp4", width=64, height=64), 512 * MIB + 1)
    facts = probe(path)
    assert facts.error is None and facts.size == 512 * MIB + 1
    assert kinds(check(facts, "amplify_video")) == [UNSUPPORTED]


def test_video_over_140_seconds(tmp_path: Path) -> None:
    facts = video(tmp_path, seconds=150, fps=2, audio=False)
    problems = check(facts, "tweet_video")
    assert problems == [
        Problem(
            3,
            "UnsupportedMedia",
            "Duration 2.minutes+30.seconds exceeds max duration of 2.minutes+20.seconds",
        )
    ]
    assert check(video(tmp_path, "ok.mp4", seconds=140, fps=1, audio=False), "dm_video") == []


def test_video_under_half_a_second(tmp_path: Path) -> None:
    facts = video(tmp_path, seconds=0.3)
    assert kinds(check(facts, "tweet_video")) == [UNSUPPORTED]


@pytest.mark.parametrize(("width", "height"), [(20, 40), (1400, 800), (1100, 1100)])
def test_video_dimensions_outside_32x32_to_1280x1024(
    tmp_path: Path, width: int, height: int
) -> None:
    facts = video(tmp_path, width=width, height=height, fps=2, audio=False)
    assert kinds(check(facts, "tweet_video")) == [UNSUPPORTED]


def test_video_aspect_ratio_beyond_1_to_3(tmp_path: Path) -> None:
    facts = video(tmp_path, width=32, height=100, fps=2, audio=False)
    problems = check(facts, "tweet_video")
    assert kinds(problems) == [UNSUPPORTED]
    assert "aspect ratio" in problems[0].message


def test_video_over_60_fps(tmp_path: Path) -> None:
    assert check(video(tmp_path, "ok.mp4", fps=60), "tweet_video") == []
    assert kinds(check(video(tmp_path, fps=61), "tweet_video")) == [UNSUPPORTED]


def test_video_codec_must_be_h264(tmp_path: Path) -> None:
    facts = video(tmp_path, codec="mpeg4")
    assert facts.video_codec == "mpeg4"
    assert kinds(check(facts, "tweet_video")) == [UNSUPPORTED]


def test_video_pixel_format_must_be_yuv420p(tmp_path: Path) -> None:
    facts = video(tmp_path, pix_fmt="yuv444p")
    assert kinds(check(facts, "tweet_video")) == [UNSUPPORTED]
    assert check(dataclasses.replace(facts, pix_fmt="yuvj420p"), "tweet_video") == []


def test_video_pixels_must_be_square(tmp_path: Path) -> None:
    facts = video(tmp_path, sample_aspect_ratio=(4, 3))
    assert kinds(check(facts, "tweet_video")) == [UNSUPPORTED]


def test_video_must_be_progressive(tmp_path: Path) -> None:
    facts = video(tmp_path, interlaced=True)
    assert facts.interlaced is True
    assert kinds(check(facts, "tweet_video")) == [UNSUPPORTED]


def test_audio_codec_must_be_aac(tmp_path: Path) -> None:
    facts = video(tmp_path, audio_codec="libopus")
    assert kinds(check(facts, "tweet_video")) == [UNSUPPORTED]


def test_audio_must_be_low_complexity_aac(tmp_path: Path) -> None:
    # FFmpeg's own AAC encoder writes only LC, so the HE-AAC file is simulated in the facts.
    facts = dataclasses.replace(video(tmp_path), audio_profile="HE-AAC")
    problems = check(facts, "tweet_video")
    assert kinds(problems) == [UNSUPPORTED]
    assert "HE-AAC" in problems[0].message


def test_audio_must_be_mono_or_stereo(tmp_path: Path) -> None:
    assert check(video(tmp_path, "mono.mp4", audio_channels=1), "tweet_video") == []
    assert kinds(check(video(tmp_path, audio_channels=6), "tweet_video")) == [UNSUPPORTED]


@pytest.mark.parametrize(
    "options",
    [
        {"container": "webm", "codec": "libvpx", "audio_codec": "libopus"},
        {"container": "mpegts"},
    ],
    ids=["webm", "mpegts"],
)
def test_video_container_must_be_mp4_or_mov(tmp_path: Path, options: dict[str, str]) -> None:
    problems = check(video(tmp_path, "v.bin", **options), "tweet_video")
    assert kinds(problems) == [INVALID]
    assert problems[0].message.startswith("Unsupported video format")


def test_every_broken_video_rule_is_listed(tmp_path: Path) -> None:
    facts = video(tmp_path, seconds=0.3, pix_fmt="yuv444p", audio_channels=6)
    assert kinds(check(facts, "tweet_video")) == [UNSUPPORTED] * 3


def test_declared_type_of_another_family_is_invalid(tmp_path: Path) -> None:
    png = probe(samples.write_image(tmp_path / "a.png"))
    assert kinds(check(png, None, declared_type="video/mp4")) == [INVALID]
    assert check(png, None, declared_type="image/pjpeg") == []
    assert check(png, None, declared_type="application/octet-stream") == []


def test_subtitles_take_srt_or_vtt_up_to_1_mb(tmp_path: Path) -> None:
    big = probe(samples.write_srt(tmp_path / "a.srt", cues=30_000))
    assert big.size > MIB
    assert kinds(check(big, "subtitles")) == [UNSUPPORTED]
    png = probe(samples.write_image(tmp_path / "a.png"))
    assert kinds(check(png, "subtitles")) == [INVALID]
    assert kinds(check(probe(samples.write_srt(tmp_path / "s.srt")), "tweet_video")) == [INVALID]


# --- check: no category (synchronous path) -----------------------------------------
def test_no_category_image_over_5_mb(tmp_path: Path) -> None:
    facts = probe(samples.write_image(tmp_path / "a.jpg", fmt="jpeg", target_bytes=5 * MIB + 1))
    assert kinds(check(facts, None)) == [UNSUPPORTED]


def test_no_category_video_over_30_seconds(tmp_path: Path) -> None:
    facts = video(tmp_path, seconds=31, fps=2, audio=False)
    assert kinds(check(facts, None)) == [UNSUPPORTED]
    assert check(facts, "tweet_video") == []


def test_no_category_video_over_15_mb(tmp_path: Path) -> None:
    facts = probe(
        pad_mp4(samples.write_video(tmp_path / "v.mp4", width=64, height=64), 15 * MIB + 1)
    )
    assert kinds(check(facts, None)) == [UNSUPPORTED]
    assert check(facts, "tweet_video") == []


# --- the limits table --------------------------------------------------------------
def test_limits_cover_every_category_and_are_read_only() -> None:
    assert set(LIMITS) == {*CATEGORIES, None}
    assert limits_for("tweet_gif").image is not None
    assert limits_for("tweet_gif").types == {"image/gif"}
    assert limits_for(None).types >= {"image/png", "video/mp4"}
    with pytest.raises(TypeError):
        LIMITS["tweet_image"] = LIMITS["dm_image"]  # type: ignore[index]
    with pytest.raises(ValueError, match="unknown media category"):
        limits_for("TweetImage")
