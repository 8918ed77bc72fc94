"""bulkup.media.samples writes real media that bulkup.media.probe reads back as asked."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from bulkup.media import samples
from bulkup.media.probe import probe, sniff

MIB = 1024 * 1024
IMAGE_FORMATS = ["png", "jpeg", "webp", "gif", "bmp", "tiff"]


@pytest.mark.parametrize("fmt", IMAGE_FORMATS)
def test_write_image_has_requested_format_and_size(
    tmp_path: Path, fmt: samples.ImageFormat
) -> None:
    path = samples.write_image(tmp_path / f"x.{fmt}", fmt=fmt, width=80, height=30)
    facts = probe(path)
    expected = "image/jpeg" if fmt == "jpeg" else f"image/{fmt}"
    assert (facts.mime, facts.width, facts.height, facts.error) == (expected, 80, 30, None)
    assert (facts.frames, facts.animated) == (1, False)


@pytest.mark.parametrize("fmt", IMAGE_FORMATS)
def test_write_image_pads_to_target_bytes_and_stays_valid(
    tmp_path: Path, fmt: samples.ImageFormat
) -> None:
    target = 6 * MIB + 3
    path = samples.write_image(tmp_path / f"big.{fmt}", fmt=fmt, target_bytes=target)
    facts = probe(path)
    assert abs(path.stat().st_size - target) <= 16
    assert (facts.error, facts.width, facts.height) == (None, 64, 48)


def test_write_image_never_shrinks_below_its_natural_size(tmp_path: Path) -> None:
    plain = samples.write_image(tmp_path / "a.png")
    small_target = samples.write_image(tmp_path / "b.png", target_bytes=10)
    assert plain.read_bytes() == small_target.read_bytes()


def test_write_image_is_deterministic_per_seed(tmp_path: Path) -> None:
    a = samples.write_image(tmp_path / "a.jpg", fmt="jpeg", seed=7, target_bytes=200_000)
    b = samples.write_image(tmp_path / "b.jpg", fmt="jpeg", seed=7, target_bytes=200_000)
    c = samples.write_image(tmp_path / "c.jpg", fmt="jpeg", seed=8, target_bytes=200_000)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()


def test_write_gif_is_animated_with_requested_frames_and_timing(tmp_path: Path) -> None:
    path = samples.write_gif(tmp_path / "a.gif", width=40, height=20, frames=6, frame_ms=50)
    facts = probe(path)
    assert (facts.mime, facts.width, facts.height) == ("image/gif", 40, 20)
    assert (facts.frames, facts.animated) == (6, True)
    assert facts.duration == pytest.approx(0.3)


def test_write_video_default_is_a_compliant_one_second_h264_aac_clip(tmp_path: Path) -> None:
    facts = probe(samples.write_video(tmp_path / "v.mp4"))
    assert (facts.mime, facts.width, facts.height) == ("video/mp4", 320, 240)
    assert (facts.fps, facts.frames) == (25.0, 25)
    assert facts.duration == pytest.approx(1.0)
    assert (facts.video_codec, facts.pix_fmt, facts.interlaced) == ("h264", "yuv420p", False)
    assert (facts.audio_codec, facts.audio_profile, facts.audio_channels) == ("aac", "LC", 2)


def test_write_video_covers_at_least_the_requested_seconds(tmp_path: Path) -> None:
    facts = probe(samples.write_video(tmp_path / "v.mp4", width=64, height=64, seconds=0.5))
    assert facts.duration is not None and facts.duration >= 0.5


def test_write_video_without_audio_has_no_audio_stream(tmp_path: Path) -> None:
    path = samples.write_video(tmp_path / "v.mp4", width=64, height=64, audio=False)
    facts = probe(path)
    assert (facts.audio_codec, facts.audio_channels) == (None, None)


def test_write_video_rule_breaking_parameters_show_in_the_file(tmp_path: Path) -> None:
    path = samples.write_video(
        tmp_path / "bad.mov",
        container="mov",
        width=96,
        height=64,
        pix_fmt="yuv444p",
        audio_channels=6,
        sample_aspect_ratio=(4, 3),
        interlaced=True,
    )
    facts = probe(path)
    assert (facts.mime, facts.pix_fmt, facts.audio_channels) == ("video/quicktime", "yuv444p", 6)
    assert (facts.sample_aspect_ratio, facts.interlaced) == ((4, 3), True)


def test_write_video_webm_with_vp8_and_opus(tmp_path: Path) -> None:
    path = samples.write_video(
        tmp_path / "v.webm",
        container="webm",
        codec="libvpx",
        audio_codec="libopus",
        width=64,
        height=64,
        audio_channels=1,
    )
    facts = probe(path)
    assert (facts.mime, facts.video_codec, facts.audio_codec) == ("video/webm", "vp8", "opus")
    assert facts.audio_channels == 1


def test_write_video_mpegts_container(tmp_path: Path) -> None:
    path = samples.write_video(tmp_path / "v.ts", container="mpegts", width=64, height=64)
    assert probe(path).mime == "video/mp2t"


def test_write_video_long_low_fps_file_is_quick_to_make(tmp_path: Path) -> None:
    path = samples.write_video(
        tmp_path / "long.mp4", width=64, height=64, seconds=150, fps=2, audio=False
    )
    assert probe(path).duration == pytest.approx(150.0)


def test_write_video_is_deterministic_per_seed(tmp_path: Path) -> None:
    a = samples.write_video(tmp_path / "a.mp4", width=64, height=64, seed=3)
    b = samples.write_video(tmp_path / "b.mp4", width=64, height=64, seed=3)
    c = samples.write_video(tmp_path / "c.mp4", width=64, height=64, seed=4)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()


def test_write_video_rejects_unknown_channel_count_and_non_audio_codec(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="audio_channels"):
        samples.write_video(tmp_path / "a.mp4", audio_channels=7)
    with pytest.raises(ValueError, match="not an audio encoder"):
        samples.write_video(tmp_path / "b.mp4", audio_codec="libx264")


def test_write_bytes_is_exact_deterministic_and_unrecognized(tmp_path: Path) -> None:
    a = samples.write_bytes(tmp_path / "a.bin", 3 * MIB + 5, seed=1)
    b = samples.write_bytes(tmp_path / "b.bin", 3 * MIB + 5, seed=1)
    assert a.stat().st_size == 3 * MIB + 5
    assert a.read_bytes() == b.read_bytes()
    assert probe(a).mime is None


def test_write_bytes_memory_stays_near_one_block(tmp_path: Path) -> None:
    tracemalloc.start()
    try:
        samples.write_bytes(tmp_path / "big.bin", 16 * MIB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MIB  # one block and its making, not the 16 MiB


def test_write_srt_and_vtt_are_sniffed_with_their_cues(tmp_path: Path) -> None:
    srt = samples.write_srt(tmp_path / "a.srt", cues=4)
    vtt = samples.write_vtt(tmp_path / "a.vtt", cues=2)
    assert sniff(srt.read_bytes()) == "text/srt"
    assert sniff(vtt.read_bytes()) == "text/vtt"
    assert srt.read_text().count("-->") == 4
    assert vtt.read_text().count("-->") == 2
