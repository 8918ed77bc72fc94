"""tweepy, a real client nobody here wrote, uploads to the emulator over TLS.

tweepy always speaks https and sends INIT/FINALIZE url-encoded and APPEND as
multipart, signing with oauthlib: if the emulator accepts it and assembles the
same bytes, the emulator is faithful where real clients depend on it.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from bulkup.emulator import Emulator
from bulkup.media import samples
from tests.conftest import FAST

tweepy = pytest.importorskip("tweepy")

pytestmark = pytest.mark.anyio


@pytest.fixture
async def tls_emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    ca = tmp_path / "ca.pem"
    async with Emulator(FAST, tls="self-signed", ca_path=ca, environ={}) as emu:
        # requests ignores session.verify when this is set, so it is how tweepy trusts us.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
        yield emu


def _api(emu: Emulator) -> Any:
    user = emu.user
    auth = tweepy.OAuth1UserHandler(
        user.consumer_key, user.consumer_secret, user.access_token, user.access_token_secret
    )
    return tweepy.API(auth, upload_host=f"127.0.0.1:{emu.port}")


async def test_tweepy_simple_upload_of_png_lands_byte_exact(
    tls_emulator: Emulator, tmp_path: Path
) -> None:
    path = samples.write_image(tmp_path / "photo.png", fmt="png", width=120, height=80)
    api = _api(tls_emulator)

    media = await anyio.to_thread.run_sync(lambda: api.media_upload(str(path)))

    info = tls_emulator.media(media.media_id_string)
    assert info is not None
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (media.image["w"], media.image["h"]) == (120, 80)
    assert tls_emulator.stats()["requests"]["upload"] == {"200": 1}


async def test_tweepy_chunked_mp4_with_status_polling_lands_byte_exact(
    tls_emulator: Emulator, tmp_path: Path
) -> None:
    path = samples.write_video(tmp_path / "clip.mp4", width=96, height=64, seconds=1)
    api = _api(tls_emulator)

    def upload() -> object:
        return api.media_upload(
            str(path), chunked=True, media_category="tweet_video", chunk_size=8 * 1024
        )

    media = await anyio.to_thread.run_sync(upload)

    assert media.processing_info["state"] == "succeeded"  # type: ignore[attr-defined]
    info = tls_emulator.media(media.media_id_string)  # type: ignore[attr-defined]
    assert info is not None
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    requests = tls_emulator.stats()["requests"]
    assert requests["append"]["204"] == len(info["segments"]) > 1
    assert requests["status"]["200"] >= 1  # tweepy polled STATUS until succeeded
