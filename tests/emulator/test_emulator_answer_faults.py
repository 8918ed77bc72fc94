"""Faults that rewrite a performed request's success answer, as the contract reads it.

A 2xx means the server acted (DESIGN decision 10): ``missing_fields`` and
``garbage_200`` perform the request, then answer without the fields the published
contract requires (``{"data": {}}`` in v2, ``{}`` in v1.1) or with a success cut short
(not JSON). ``missing_fields`` applies only where a field is required; an error answer
is left alone. The INIT cases are in ``test_robust_server.py`` with the other kinds.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bulkup.emulator import Emulator
from bulkup.media import samples
from tests.apiclient import Part, RawClient

pytestmark = pytest.mark.anyio

DIALECTS = ["v1.1", "v2"]


@pytest.mark.parametrize("api", DIALECTS)
async def test_garbage_200_on_append_and_metadata_stores_what_was_sent(
    client: RawClient, emulator: Emulator, tmp_path: Path, api: str
) -> None:
    png = samples.write_image(tmp_path / "a.png").read_bytes()
    v1 = api == "v1.1"
    init = await (client.v1_init if v1 else client.v2_init)(len(png), "image/png", "tweet_image")
    media_id = init.json["media_id_string"] if v1 else init.json["data"]["id"]
    emulator.faults.schedule("garbage_200", endpoint="append")
    emulator.faults.schedule("garbage_200", endpoint="metadata")
    append = await (client.v1_append if v1 else client.v2_append)(media_id, 0, png)
    assert append.status == 200 and append.raw.startswith(b"{") and append.raw[-1:] != b"}"
    assert (emulator.media(media_id) or {})["segments"] == [0]
    assert (await (client.v1_finalize if v1 else client.v2_finalize)(media_id)).status == 200
    if v1:
        body = {"media_id": media_id, "alt_text": {"text": "stored"}}
        reply = await client.request("POST", "/1.1/media/metadata/create.json", json_body=body)
    else:
        body = {"id": media_id, "metadata": {"alt_text": {"text": "stored"}}}
        reply = await client.request("POST", "/2/media/metadata", json_body=body)
    assert reply.status == 200
    assert (emulator.media(media_id) or {})["alt_text"] == "stored"
    assert emulator.stats()["faults"] == {"garbage_200": 2}


async def test_garbage_200_leaves_an_error_answer_alone(
    client: RawClient, emulator: Emulator
) -> None:
    emulator.faults.schedule("garbage_200", endpoint="finalize")
    reply = await client.v2_finalize("1234")  # unknown id: 400, not a success to garble
    assert reply.status == 400 and reply.json["status"] == 400
    assert emulator.stats()["faults"] == {}


@pytest.mark.parametrize("api", DIALECTS)
async def test_missing_fields_on_finalize_and_status_finalizes_and_answers_no_id(
    client: RawClient, emulator: Emulator, tmp_path: Path, api: str
) -> None:
    gif = samples.write_gif(tmp_path / "a.gif", frames=3).read_bytes()
    empty: dict[str, object] = {} if api == "v1.1" else {"data": {}}
    v1 = api == "v1.1"
    init = await (client.v1_init if v1 else client.v2_init)(len(gif), "image/gif", "tweet_gif")
    media_id = init.json["media_id_string"] if v1 else init.json["data"]["id"]
    assert (await (client.v1_append if v1 else client.v2_append)(media_id, 0, gif)).status < 300
    emulator.faults.schedule("missing_fields", endpoint="finalize")
    emulator.faults.schedule("missing_fields", endpoint="status")
    final = await (client.v1_finalize if v1 else client.v2_finalize)(media_id)
    assert (final.status, final.json) == (200, empty)
    status = await (client.v1_status if v1 else client.v2_status)(media_id)
    assert (status.status, status.json) == (200, empty)
    assert (emulator.media(media_id) or {})["state"] == "succeeded"


@pytest.mark.parametrize("api", DIALECTS)
async def test_missing_fields_on_a_one_request_upload_stores_the_media(
    client: RawClient, emulator: Emulator, tmp_path: Path, api: str
) -> None:
    png = samples.write_image(tmp_path / "a.png").read_bytes()
    emulator.faults.schedule("missing_fields", endpoint="upload")
    path = "/1.1/media/upload.json" if api == "v1.1" else "/2/media/upload"
    parts = [Part("media_category", "tweet_image"), Part("media", png, filename="a.png")]
    reply = await client.request("POST", path, parts=parts)
    assert (reply.status, reply.json) == (200, {} if api == "v1.1" else {"data": {}})
    [stored] = emulator.all_media()
    assert stored["sha256"] == hashlib.sha256(png).hexdigest()


async def test_missing_fields_on_v2_metadata_sets_it_and_answers_no_id(
    client: RawClient, emulator: Emulator, tmp_path: Path
) -> None:
    png = samples.write_image(tmp_path / "a.png").read_bytes()
    media_id = await client.v2_upload(png, "image/png", "tweet_image")
    emulator.faults.schedule("missing_fields", endpoint="metadata")
    body = {"id": media_id, "metadata": {"alt_text": {"text": "set anyway"}}}
    reply = await client.request("POST", "/2/media/metadata", json_body=body)
    assert (reply.status, reply.json) == (200, {"data": {}})
    assert (emulator.media(media_id) or {})["alt_text"] == "set anyway"


@pytest.mark.parametrize("api", DIALECTS)
async def test_missing_fields_skips_answers_that_require_no_field(
    client: RawClient, emulator: Emulator, tmp_path: Path, api: str
) -> None:
    # APPEND (both dialects), v1.1 metadata: nothing in their answers is required, so
    # the fault does not apply; a fault for any endpoint waits for one it applies to.
    png = samples.write_image(tmp_path / "a.png").read_bytes()
    emulator.faults.schedule("missing_fields", endpoint="append")
    emulator.faults.schedule("missing_fields")
    v1 = api == "v1.1"
    init = await (client.v1_init if v1 else client.v2_init)(len(png), "image/png", "tweet_image")
    assert init.status in (200, 202) and init.json in ({}, {"data": {}})  # the fault, any endpoint
    [stored] = emulator.all_media()
    media_id = stored["media_id"]
    append = await (client.v1_append if v1 else client.v2_append)(media_id, 0, png)
    if v1:
        assert (append.status, append.raw) == (204, b"")
        meta = {"media_id": media_id, "alt_text": {"text": "a"}}
        reply = await client.request("POST", "/1.1/media/metadata/create.json", json_body=meta)
        assert (reply.status, reply.raw) == (200, b"")
    else:
        assert append.status == 200 and "expires_at" in append.json["data"]
    assert emulator.stats()["faults"] == {"missing_fields": 1}


async def test_missing_fields_skips_v2_subtitles(
    client: RawClient, emulator: Emulator, tmp_path: Path
) -> None:
    video = samples.write_video(tmp_path / "v.mp4", width=64, height=64, seconds=1)
    vtt = samples.write_vtt(tmp_path / "s.vtt").read_bytes()
    video_id = await client.v2_upload(video.read_bytes(), "video/mp4", "tweet_video")
    subtitle_id = await client.v2_upload(vtt, "text/vtt", "subtitles")
    emulator.faults.schedule("missing_fields", endpoint="subtitles_create")
    entry = {"id": subtitle_id, "language_code": "EN", "display_name": "English"}
    body = {"id": video_id, "media_category": "TweetVideo", "subtitles": entry}
    reply = await client.request("POST", "/2/media/subtitles", json_body=body)
    assert reply.status == 200 and reply.json["data"]["id"] == video_id
    assert emulator.stats()["faults"] == {}
