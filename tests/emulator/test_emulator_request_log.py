"""``Emulator(request_log=...)``: one line per request, faults named, credentials never shown."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest

from bulkup.emulator import Emulator
from bulkup.media import samples
from tests.apiclient import RawClient
from tests.conftest import FAST

pytestmark = pytest.mark.anyio

LINE = re.compile(r"^\d\d:\d\d:\d\d (GET|POST|DELETE) (\S+) (\d{3}|dropped) \d+ ms( fault=\S+)?$")


def secrets(emu: Emulator) -> list[str]:
    user = emu.user
    return [user.consumer_secret, user.access_token, user.access_token_secret, user.consumer_key]


async def test_each_request_logs_one_line_with_method_path_status_and_ms(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    lines: list[str] = []
    png = samples.write_image(tmp_path / "a.png").read_bytes()
    async with Emulator(FAST, environ={}, request_log=lines.append) as emu:
        client = RawClient(http, emu)
        await client.v1_upload(png, "image/png")
        status = await client.request("GET", "/2/media/upload", query={"media_id": "12"})
    assert len(lines) == 4, lines
    assert all(LINE.match(line) for line in lines), lines
    assert [line.split(" ", 1)[1].rsplit(" ", 3)[:2] for line in lines] == [
        ["POST /1.1/media/upload.json", "202"],
        ["POST /1.1/media/upload.json", "204"],
        ["POST /1.1/media/upload.json", "200"],
        ["GET /2/media/upload?media_id=12", str(status.status)],
    ]


async def test_an_injected_fault_is_named_on_its_line(http: aiohttp.ClientSession) -> None:
    lines: list[str] = []
    async with Emulator(FAST, environ={}, request_log=lines.append) as emu:
        emu.faults.schedule("error_503", endpoint="initialize")
        emu.faults.schedule("drop_response", endpoint="initialize")
        client = RawClient(http, emu)
        assert (await client.v2_init(1000, "image/png", "tweet_image")).status == 503
        with pytest.raises(aiohttp.ClientError):
            await client.v2_init(1000, "image/png", "tweet_image")
        assert (await client.v2_init(1000, "image/png", "tweet_image")).status == 200
    assert lines[0].endswith(" fault=error_503") and " 503 " in lines[0], lines
    assert " dropped " in lines[1] and lines[1].endswith(" fault=drop_response"), lines
    assert "fault=" not in lines[2], lines


async def test_credentials_in_the_query_never_reach_the_log(http: aiohttp.ClientSession) -> None:
    lines: list[str] = []
    async with Emulator(FAST, environ={}, request_log=lines.append) as emu:
        client = RawClient(http, emu)
        query = {
            "command": "STATUS",
            "media_id": "1",
            "oauth_token": emu.user.access_token,
            "oauth_signature": "c2lnbmF0dXJl",
            "note": emu.user.consumer_secret,
        }
        await client.request("GET", "/1.1/media/upload.json", query=query)
    text = "\n".join(lines)
    assert "command=STATUS&media_id=1&oauth_token=***&oauth_signature=***&note=***" in text
    assert not [s for s in [*secrets(emu), "c2lnbmF0dXJl"] if s in text], text


async def test_an_emulator_logs_nothing_unless_asked(
    http: aiohttp.ClientSession, capsys: pytest.CaptureFixture[str]
) -> None:
    async with Emulator(FAST, environ={}) as emu:
        await RawClient(http, emu).v2_init(1000, "image/png", "tweet_image")
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "")


async def test_a_request_the_client_left_is_logged_dropped_with_its_fault() -> None:
    lines: list[str] = []
    async with Emulator(FAST, environ={}, request_log=lines.append) as emu:
        emu.faults.schedule("hang", endpoint="initialize")
        timeout = aiohttp.ClientTimeout(sock_read=0.2)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            with pytest.raises(TimeoutError):
                await RawClient(http, emu).v2_init(1000, "image/png", "tweet_image")
        await emu.wait_for_requests("initialize", 1, status=0)
    assert len(lines) == 1 and LINE.match(lines[0]), lines
    assert " POST /2/media/upload/initialize dropped " in lines[0], lines
    assert lines[0].endswith(" fault=hang"), lines


async def test_every_request_of_a_429_burst_names_the_burst(http: aiohttp.ClientSession) -> None:
    lines: list[str] = []
    async with Emulator(FAST, environ={}, request_log=lines.append) as emu:
        emu.faults.schedule("burst_429", endpoint="initialize")
        client = RawClient(http, emu)
        statuses = [(await client.v2_init(1000, "image/png", "tweet_image")).status for _ in "1234"]
    assert statuses == [429, 429, 429, 200]  # burst_429_length = 3
    assert [line.rpartition(" ms")[2] for line in lines] == [" fault=burst_429"] * 3 + [""]
