"""End-to-end uploads over real sockets in both dialects, checked by SHA-256."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bulkup.emulator import Emulator
from bulkup.media import samples
from tests.apiclient import RawClient

pytestmark = pytest.mark.anyio


@pytest.fixture
def video(tmp_path: Path) -> bytes:
    return samples.write_video(tmp_path / "v.mp4", width=64, height=64, seconds=1).read_bytes()


async def test_v1_chunked_video_assembles_byte_exact(
    client: RawClient, emulator: Emulator, video: bytes
) -> None:
    media_id = await client.v1_upload(video, "video/mp4", "tweet_video", chunk=4096)
    status = await client.v1_status(media_id)
    assert status.json["processing_info"]["state"] == "succeeded"
    info = emulator.media(media_id)
    assert info is not None
    assert info["sha256"] == hashlib.sha256(video).hexdigest()
    assert info["size"] == len(video)


async def test_v2_chunked_video_assembles_byte_exact(
    client: RawClient, emulator: Emulator, video: bytes
) -> None:
    media_id = await client.v2_upload(video, "video/mp4", "amplify_video", chunk=5000)
    status = await client.v2_status(media_id)
    assert status.json["data"]["processing_info"]["state"] == "succeeded"
    info = emulator.media(media_id)
    assert info is not None and info["sha256"] == hashlib.sha256(video).hexdigest()
    assert info["media_key"] == f"13_{media_id}"
