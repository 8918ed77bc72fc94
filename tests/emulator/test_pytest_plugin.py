"""The ``x_media_emulator`` fixture, used exactly as a user's test would use it."""

from __future__ import annotations

import hashlib
from importlib.metadata import entry_points
from pathlib import Path

import aiohttp
import pytest

from bulkup.auth import oauth1
from bulkup.emulator import Emulator
from bulkup.media import samples

pytestmark = pytest.mark.anyio


def test_the_plugin_is_registered_for_pytest() -> None:
    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert plugins.get("bulkup") == "bulkup.testing.pytest_plugin"


async def test_a_user_pipeline_uploads_to_the_fixture(
    x_media_emulator: Emulator, tmp_path: Path
) -> None:
    # A user's own minimal client: simple upload of a PNG with OAuth 1.0a.
    emu = x_media_emulator
    png = samples.write_image(tmp_path / "dot.png", fmt="png", width=8, height=8).read_bytes()
    creds = oauth1.Credentials(
        consumer_key=emu.user.consumer_key,
        consumer_secret=emu.user.consumer_secret,
        token=emu.user.access_token,
        token_secret=emu.user.access_token_secret,
    )
    url = emu.url + "/1.1/media/upload.json"
    form = aiohttp.FormData()
    form.add_field("media", png, filename="dot.png")
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": oauth1.sign("POST", url, creds)}
        async with http.post(url, data=form, headers=headers) as resp:
            body = await resp.json()
    assert resp.status == 200
    media = emu.media(body["media_id_string"])
    assert media is not None and media["sha256"] == hashlib.sha256(png).hexdigest()
    assert emu.stats()["requests"]["upload"] == {"200": 1}
