"""examples/upload_service.py runs: a file POSTed to it lands byte-exact on the emulator."""

from __future__ import annotations

import hashlib
import importlib.util
import warnings
from pathlib import Path
from types import ModuleType

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bulkup.emulator import Emulator
from bulkup.media import samples
from tests.conftest import FAST

EXAMPLE = Path(__file__).parents[2] / "examples" / "upload_service.py"

pytestmark = pytest.mark.anyio


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("upload_service", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def service(monkeypatch: pytest.MonkeyPatch):
    """The example's app, configured from the environment as the CLI is, on a real port."""
    async with Emulator(FAST, environ={}) as emu:
        user = emu.user
        for name, value in {
            "X_API_KEY": user.consumer_key,
            "X_API_SECRET": user.consumer_secret,
            "X_ACCESS_TOKEN": user.access_token,
            "X_ACCESS_TOKEN_SECRET": user.access_token_secret,
            "BULKUP_ENDPOINT": emu.url,
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("X_BEARER_TOKEN", raising=False)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # aiohttp's NotAppKeyWarning, among others
            app = load_example().make_app()
        async with TestClient(TestServer(app)) as client:
            yield emu, client


async def test_a_posted_jpeg_is_uploaded_and_its_media_id_answered(service, tmp_path) -> None:
    emu, client = service
    photo = samples.write_image(tmp_path / "photo.jpg", fmt="jpeg", width=64, height=48)
    form = aiohttp.FormData()
    form.add_field("file", photo.read_bytes(), filename="photo.jpg", content_type="image/jpeg")
    form.add_field("alt_text", "A test photo")
    resp = await client.post("/upload", data=form)
    body = await resp.json()
    assert resp.status == 200, body
    assert body["status"] == "succeeded" and body["alt_text_applied"] is True
    info = emu.media(body["media_id_string"])
    assert info is not None
    assert info["sha256"] == hashlib.sha256(photo.read_bytes()).hexdigest()
    assert info["alt_text"] == "A test photo"


async def test_a_request_without_a_file_part_is_refused_with_400(service) -> None:
    _, client = service
    form = aiohttp.FormData()
    form.add_field("path", "/etc/passwd")  # a server path is never read
    resp = await client.post("/upload", data=form)
    assert resp.status == 400
    assert "'file'" in await resp.text()
    assert service[0].all_media() == []
