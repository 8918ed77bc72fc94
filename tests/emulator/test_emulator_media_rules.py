"""The emulator judges the bytes it assembled, as the real upload endpoint does.

Async categories (video, GIF) accept FINALIZE and then end ``failed`` in STATUS with the
real ``processing_info.error`` shape; synchronous ones (images, uploads without a
category) refuse at FINALIZE. Every sample is a real file from :mod:`bulkup.media.samples`.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from bulkup.emulator import Emulator
from bulkup.media import samples
from tests.apiclient import RawClient, Reply

pytestmark = pytest.mark.anyio

DIALECTS = ["v1.1", "v2"]
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rules")


def video_bytes(media_dir: Path, name: str, **kw: Any) -> bytes:
    options: dict[str, Any] = {"width": 64, "height": 64, "seconds": 1} | kw
    return samples.write_video(media_dir / f"{name}.mp4", **options).read_bytes()


async def upload(
    client: RawClient, dialect: str, data: bytes, media_type: str, category: str | None
) -> tuple[str, Reply]:
    """INIT and APPEND in 1 MiB chunks, then FINALIZE; returns the id and FINALIZE's reply."""
    v1 = dialect == "v1.1"
    init = await (client.v1_init if v1 else client.v2_init)(len(data), media_type, category)
    media_id: str = init.json["media_id_string"] if v1 else init.json["data"]["id"]
    for index, start in enumerate(range(0, len(data), MIB)):
        chunk = data[start : start + MIB]
        reply = await (client.v1_append if v1 else client.v2_append)(media_id, index, chunk)
        assert reply.status in (200, 204), reply.raw
    final = await (client.v1_finalize if v1 else client.v2_finalize)(media_id)
    return media_id, final


def body_of(reply: Reply, dialect: str) -> dict[str, Any]:
    body: dict[str, Any] = reply.json if dialect == "v1.1" else reply.json["data"]
    return body


def error_message(reply: Reply, dialect: str) -> str:
    message: str = reply.json["error"] if dialect == "v1.1" else reply.json["detail"]
    return message


async def processing_after_finalize(
    client: RawClient, dialect: str, data: bytes, media_type: str, category: str
) -> dict[str, Any]:
    """Upload as an async category and return STATUS's ``processing_info``."""
    media_id, final = await upload(client, dialect, data, media_type, category)
    assert final.status == 200, final.raw
    assert body_of(final, dialect)["processing_info"]["state"] == "pending"
    status = await (client.v1_status if dialect == "v1.1" else client.v2_status)(media_id)
    assert status.status == 200
    info: dict[str, Any] = body_of(status, dialect)["processing_info"]
    return info


# --- video -----------------------------------------------------------------------------
@pytest.mark.parametrize("dialect", DIALECTS)
async def test_valid_tweet_video_succeeds_with_its_facts(
    client: RawClient, emulator: Emulator, media_dir: Path, dialect: str
) -> None:
    data = video_bytes(media_dir, "ok", width=96, height=64)
    info = await processing_after_finalize(client, dialect, data, "video/mp4", "tweet_video")
    assert info == {"state": "succeeded", "progress_percent": 100}
    media = emulator.all_media()[0]
    assert (media["width"], media["height"]) == (96, 64)
    assert media["detected_type"] == "video/mp4"
    assert media["duration"] == pytest.approx(1.0, abs=0.1)


UNSUPPORTED_VIDEOS: dict[str, tuple[dict[str, Any], str]] = {
    "too-long": ({"width": 32, "height": 32, "seconds": 150, "fps": 2, "audio": False}, "Duration"),
    "too-short": ({"seconds": 0.2, "audio": False}, "shorter than min duration"),
    "too-wide": ({"width": 1296, "height": 432, "fps": 2, "audio": False}, "dimensions"),
    "too-small": ({"width": 16, "height": 16, "audio": False}, "dimensions"),
    "bad-aspect": ({"width": 200, "height": 32, "fps": 2, "audio": False}, "aspect ratio"),
    "yuv444p": ({"pix_fmt": "yuv444p", "audio": False}, "yuv444p"),
    "6-channel-audio": ({"audio_channels": 6}, "6 channels"),
    "too-fast": ({"fps": 90, "seconds": 0.6, "audio": False}, "Frame rate"),
}


@pytest.mark.parametrize("case", list(UNSUPPORTED_VIDEOS))
async def test_tweet_video_breaking_a_rule_ends_failed_unsupported_media(
    client: RawClient, emulator: Emulator, media_dir: Path, case: str
) -> None:
    options, phrase = UNSUPPORTED_VIDEOS[case]
    data = video_bytes(media_dir, case, **options)
    info = await processing_after_finalize(client, "v1.1", data, "video/mp4", "tweet_video")
    assert info["state"] == "failed"
    assert info["error"]["code"] == 3 and info["error"]["name"] == "UnsupportedMedia"
    assert phrase in info["error"]["message"]
    assert "check_after_secs" not in info
    assert emulator.all_media()[0]["state"] == "failed"


async def test_too_long_video_message_names_the_limit(client: RawClient, media_dir: Path) -> None:
    data = video_bytes(media_dir, "long", width=32, height=32, seconds=150, fps=2, audio=False)
    info = await processing_after_finalize(client, "v2", data, "video/mp4", "amplify_video")
    assert info["error"]["message"] == (
        "Duration 2.minutes+30.seconds exceeds max duration of 2.minutes+20.seconds"
    )


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_random_bytes_declared_mp4_end_failed_invalid_media(
    client: RawClient, media_dir: Path, dialect: str
) -> None:
    data = samples.write_bytes(media_dir / "noise.bin", 20_000, seed=1).read_bytes()
    info = await processing_after_finalize(client, dialect, data, "video/mp4", "tweet_video")
    assert info["state"] == "failed"
    assert info["error"]["code"] == 1 and info["error"]["name"] == "InvalidMedia"


async def test_truncated_video_ends_failed_invalid_media(
    client: RawClient, media_dir: Path
) -> None:
    data = video_bytes(media_dir, "cut")[:3000]
    info = await processing_after_finalize(client, "v2", data, "video/mp4", "tweet_video")
    assert info["error"]["code"] == 1 and info["error"]["name"] == "InvalidMedia"


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_video_without_category_over_30_seconds_is_refused_at_finalize(
    client: RawClient, emulator: Emulator, media_dir: Path, dialect: str
) -> None:
    data = video_bytes(media_dir, "sync-long", width=32, height=32, seconds=31, fps=1, audio=False)
    media_id, final = await upload(client, dialect, data, "video/mp4", None)
    assert final.status == 400
    assert "Duration" in error_message(final, dialect)
    info = emulator.media(media_id)
    assert info is not None and info["state"] == "expired"


def pad_mp4(data: bytes, size: int) -> bytes:
    """``data`` grown to ``size`` bytes by a trailing ``free`` box: still a valid MP4."""
    pad = size - len(data)
    return data + struct.pack(">I", pad) + b"free" + bytes(pad - 8)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_video_without_category_over_15mb_cannot_be_finalized_synchronously(
    client: RawClient, media_dir: Path, dialect: str
) -> None:
    data = pad_mp4(video_bytes(media_dir, "sync-big"), 15 * MIB + 1)
    _, final = await upload(client, dialect, data, "video/mp4", None)
    assert final.status == 400
    assert error_message(final, dialect) == "Large file can not be finalized synchronously."


async def test_video_over_15mb_with_category_is_processed(
    client: RawClient, emulator: Emulator, media_dir: Path
) -> None:
    data = pad_mp4(video_bytes(media_dir, "async-big"), 15 * MIB + 1)
    info = await processing_after_finalize(client, "v1.1", data, "video/mp4", "tweet_video")
    assert info["state"] == "succeeded"
    assert emulator.all_media()[0]["size"] == 15 * MIB + 1


# --- images and GIFs ---------------------------------------------------------------------
@pytest.mark.parametrize("dialect", DIALECTS)
async def test_tweet_image_over_5mb_is_refused_at_finalize(
    client: RawClient, media_dir: Path, dialect: str
) -> None:
    path = samples.write_image(media_dir / "big.jpg", fmt="jpeg", target_bytes=5 * MIB + 1)
    media_id, final = await upload(client, dialect, path.read_bytes(), "image/jpeg", "tweet_image")
    assert final.status == 400
    assert str(5 * MIB) in error_message(final, dialect)
    status = await (client.v1_status if dialect == "v1.1" else client.v2_status)(media_id)
    assert status.status == 400  # the refused id is gone (expired)


async def test_tweet_image_of_exactly_5mb_is_accepted(client: RawClient, media_dir: Path) -> None:
    data = samples.write_image(media_dir / "edge.png", target_bytes=5 * MIB).read_bytes()
    assert len(data) == 5 * MIB
    _, final = await upload(client, "v2", data, "image/png", "tweet_image")
    assert final.status == 200


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_tweet_gif_is_processed_with_its_facts(
    client: RawClient, emulator: Emulator, media_dir: Path, dialect: str
) -> None:
    path = samples.write_gif(media_dir / "g.gif", width=120, height=90, frames=6, frame_ms=200)
    data = path.read_bytes()
    media_id, final = await upload(client, dialect, data, "image/gif", "tweet_gif")
    body = body_of(final, dialect)
    assert body["media_key"] == f"16_{media_id}"
    assert body["image"] == {"image_type": "image/gif", "w": 120, "h": 90}
    status = await (client.v1_status if dialect == "v1.1" else client.v2_status)(media_id)
    assert body_of(status, dialect)["processing_info"]["state"] == "succeeded"
    info = emulator.media(media_id)
    assert info is not None
    assert (info["width"], info["height"]) == (120, 90)
    assert info["duration"] == pytest.approx(1.2)
    assert info["detected_type"] == "image/gif"


async def test_tweet_gif_over_350_frames_ends_failed(client: RawClient, media_dir: Path) -> None:
    data = samples.write_gif(media_dir / "many.gif", width=8, height=8, frames=351).read_bytes()
    info = await processing_after_finalize(client, "v1.1", data, "image/gif", "tweet_gif")
    assert info["error"]["code"] == 3
    assert "Frame count 351" in info["error"]["message"]


async def test_animated_gif_as_tweet_image_is_refused(client: RawClient, media_dir: Path) -> None:
    data = samples.write_gif(media_dir / "anim.gif", frames=3).read_bytes()
    _, final = await upload(client, "v1.1", data, "image/gif", "tweet_image")
    assert final.status == 400
    assert "gif" in final.json["error"].lower()


async def test_image_type_is_read_from_the_bytes(client: RawClient, media_dir: Path) -> None:
    data = samples.write_image(media_dir / "really.png", width=20, height=10).read_bytes()
    _, final = await upload(client, "v1.1", data, "image/jpeg", "tweet_image")
    assert final.status == 200
    assert final.json["image"] == {"image_type": "image/png", "w": 20, "h": 10}


# --- declared type versus bytes --------------------------------------------------------------
@pytest.mark.parametrize("dialect", DIALECTS)
async def test_png_declared_as_mp4_without_category_is_refused(
    client: RawClient, media_dir: Path, dialect: str
) -> None:
    data = samples.write_image(media_dir / "lie.png").read_bytes()
    _, final = await upload(client, dialect, data, "video/mp4", None)
    assert final.status == 400
    assert "does not match" in error_message(final, dialect)


async def test_png_declared_as_mp4_for_tweet_video_ends_failed_invalid_media(
    client: RawClient, media_dir: Path
) -> None:
    data = samples.write_image(media_dir / "lie.png").read_bytes()
    info = await processing_after_finalize(client, "v2", data, "video/mp4", "tweet_video")
    assert info["state"] == "failed"
    assert info["error"]["code"] == 1 and info["error"]["name"] == "InvalidMedia"


async def test_video_declared_as_image_is_refused(client: RawClient, media_dir: Path) -> None:
    data = video_bytes(media_dir, "as-image")
    _, final = await upload(client, "v1.1", data, "image/png", "tweet_image")
    assert final.status == 400


async def test_subtitles_category_refuses_an_image(client: RawClient, media_dir: Path) -> None:
    data = samples.write_image(media_dir / "sub.png").read_bytes()
    _, final = await upload(client, "v2", data, "text/srt", "subtitles")
    assert final.status == 400
    assert final.content_type == "application/problem+json"
