"""Every request encoding real clients send, accepted by the emulator alike.

v1.1: url-encoded bodies, multipart fields in any order, parameters only in the query
string, base64 ``media_data`` with or without ``Content-Transfer-Encoding``, and media
categories in any case style. v2: multipart in either field order and JSON with base64
``media``; what v2's published contract refuses (forms, query parameters, other
spellings) is ``test_emulator_contract_chunked.py``.
Each test checks what the server assembled against the SHA-256 of the bytes sent.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest

from bulkup.emulator import Emulator
from bulkup.media import samples
from tests.apiclient import Part, RawClient, Reply, raw_multipart

pytestmark = pytest.mark.anyio

V1 = "/1.1/media/upload.json"
V2_UPLOAD = "/2/media/upload"
V2_INITIALIZE = "/2/media/upload/initialize"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def png(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("enc") / "i.png"
    return samples.write_image(path, width=50, height=40, seed=3).read_bytes()


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("enc") / "v.mp4"
    return samples.write_video(path, width=64, height=64, seconds=1).read_bytes()


def assemble_ok(emulator: Emulator, media_id: str, data: bytes) -> None:
    info = emulator.media(media_id)
    assert info is not None
    assert info["state"] == "succeeded", info["error"]
    assert info["sha256"] == hashlib.sha256(data).hexdigest()


async def v1_init(client: RawClient, data: bytes, media_type: str = "image/png") -> str:
    reply = await client.v1_init(len(data), media_type, "tweet_image")
    assert reply.status == 202, reply.raw
    media_id: str = reply.json["media_id_string"]
    return media_id


async def send_raw_multipart(client: RawClient, path: str, parts: list[Part]) -> Reply:
    body, content_type = raw_multipart(parts)
    return await client.request("POST", path, raw_body=body, headers={"Content-Type": content_type})


# --- url-encoded ---------------------------------------------------------------------
async def test_v1_whole_upload_url_encoded_with_base64_media_data(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    media_id = await v1_init(client, png)
    half = len(png) // 2
    for index, chunk in enumerate((png[:half], png[half:])):
        form = {
            "command": "APPEND",
            "media_id": media_id,
            "segment_index": str(index),
            "media_data": b64(chunk),
        }
        reply = await client.request("POST", V1, form=form)
        assert reply.status == 204, reply.raw
    final = await client.request("POST", V1, form={"command": "FINALIZE", "media_id": media_id})
    assert final.status == 200
    assemble_ok(emulator, media_id, png)


async def test_v1_simple_upload_url_encoded_media_data(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    reply = await client.request("POST", V1, form={"media_data": b64(png)})
    assert reply.status == 200
    assert reply.json["image"] == {"image_type": "image/png", "w": 50, "h": 40}
    assemble_ok(emulator, reply.json["media_id_string"], png)


# --- multipart field order ---------------------------------------------------------------
async def test_v1_multipart_media_before_segment_index_and_command(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    media_id = await v1_init(client, png)
    half = len(png) // 2
    for index, chunk in ((1, png[half:]), (0, png[:half])):
        parts = [
            Part("media", chunk, filename="blob"),
            Part("segment_index", str(index)),
            Part("media_id", media_id),
            Part("command", "APPEND"),
        ]
        assert (await client.request("POST", V1, parts=parts)).status == 204
    assert (await client.v1_finalize(media_id)).status == 200
    assemble_ok(emulator, media_id, png)


async def test_v2_multipart_media_before_segment_index(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    media_id = (await client.v2_init(len(png), "image/png", "tweet_image")).json["data"]["id"]
    parts = [Part("media", png, filename="blob"), Part("segment_index", "0")]
    path = f"/2/media/upload/{media_id}/append"
    assert (await client.request("POST", path, parts=parts)).status == 200
    assert (await client.v2_finalize(media_id)).status == 200
    assemble_ok(emulator, media_id, png)


async def test_v1_multipart_init_and_finalize(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    init = [
        Part("media_type", "image/png"),
        Part("command", "INIT"),
        Part("total_bytes", str(len(png))),
    ]
    reply = await client.request("POST", V1, parts=init)
    assert reply.status == 202
    media_id = reply.json["media_id_string"]
    assert (await client.v1_append(media_id, 0, png)).status == 204
    final = [Part("media_id", media_id), Part("command", "FINALIZE")]
    assert (await client.request("POST", V1, parts=final)).status == 200
    assemble_ok(emulator, media_id, png)


# --- query string ------------------------------------------------------------------------
async def test_v1_every_command_with_parameters_only_in_the_query_string(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    query = {
        "command": "INIT",
        "total_bytes": str(len(png)),
        "media_type": "image/png",
        "media_category": "tweet_image",
    }
    init = await client.request("POST", V1, query=query)
    assert init.status == 202, init.raw
    media_id = init.json["media_id_string"]
    append_query = {"command": "APPEND", "media_id": media_id, "segment_index": "0"}
    parts = [Part("media", png, filename="blob")]
    append = await client.request("POST", V1, query=append_query, parts=parts)
    assert append.status == 204, append.raw
    final = await client.request("POST", V1, query={"command": "FINALIZE", "media_id": media_id})
    assert final.status == 200
    assemble_ok(emulator, media_id, png)


async def test_v1_query_and_body_parameters_combine(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    media_id = await v1_init(client, png)
    parts = [Part("segment_index", "0"), Part("media", png, filename="blob")]
    query = {"command": "APPEND", "media_id": media_id}
    assert (await client.request("POST", V1, query=query, parts=parts)).status == 204
    form = {"media_id": media_id}
    reply = await client.request("POST", V1, query={"command": "FINALIZE"}, form=form)
    assert reply.status == 200
    assemble_ok(emulator, media_id, png)


# --- base64 media_data ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "headers"),
    [
        ("media_data", {}),
        ("media_data", {"Content-Transfer-Encoding": "base64"}),
        ("media", {"Content-Transfer-Encoding": "base64"}),
        ("media_data", {"Content-Transfer-Encoding": "BASE64", "Content-Type": "text/plain"}),
    ],
    ids=["media_data", "media_data+cte", "media+cte", "media_data+cte-upper"],
)
async def test_v1_base64_media_part_with_or_without_transfer_encoding(
    client: RawClient, emulator: Emulator, png: bytes, name: str, headers: dict[str, str]
) -> None:
    media_id = await v1_init(client, png)
    parts = [
        Part("command", "APPEND"),
        Part("media_id", media_id),
        Part(name, b64(png).encode(), headers=headers),
        Part("segment_index", "0"),
    ]
    reply = await send_raw_multipart(client, V1, parts)
    assert reply.status == 204, reply.raw
    assert (await client.v1_finalize(media_id)).status == 200
    assemble_ok(emulator, media_id, png)


async def test_v1_base64_with_line_breaks_is_decoded(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    encoded = b64(png)
    wrapped = "\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    media_id = await v1_init(client, png)
    form = {"command": "APPEND", "media_id": media_id, "segment_index": "0", "media_data": wrapped}
    assert (await client.request("POST", V1, form=form)).status == 204
    assert (await client.v1_finalize(media_id)).status == 200
    assemble_ok(emulator, media_id, png)


async def test_v1_simple_upload_multipart_media_data(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    parts = [Part("media_data", b64(png)), Part("media_category", "tweet_image")]
    reply = await client.request("POST", V1, parts=parts)
    assert reply.status == 200
    assemble_ok(emulator, reply.json["media_id_string"], png)


async def test_v1_two_media_parts_are_refused(client: RawClient, png: bytes) -> None:
    media_id = await v1_init(client, png)
    parts = [
        Part("command", "APPEND"),
        Part("media_id", media_id),
        Part("segment_index", "0"),
        Part("media", png, filename="a"),
        Part("media_data", b64(png)),
    ]
    reply = await client.request("POST", V1, parts=parts)
    assert reply.status == 400
    assert reply.json["request"] == V1


# --- v2 JSON -------------------------------------------------------------------------------
async def test_v2_json_append_with_base64_media(
    client: RawClient, emulator: Emulator, video: bytes
) -> None:
    media_id = (await client.v2_init(len(video), "video/mp4", "tweet_video")).json["data"]["id"]
    third = len(video) // 3 + 1
    for index in (2, 0, 1):
        chunk = video[index * third : (index + 1) * third]
        reply = await client.v2_append(media_id, index, chunk, as_json=True)
        assert reply.status == 200, reply.raw
    assert (await client.v2_finalize(media_id)).status == 200
    status = await client.v2_status(media_id)
    assert status.json["data"]["processing_info"]["state"] == "succeeded"
    assemble_ok(emulator, media_id, video)


async def test_v2_json_media_must_be_a_string(client: RawClient, png: bytes) -> None:
    media_id = (await client.v2_init(len(png), "image/png", "tweet_image")).json["data"]["id"]
    body = {"segment_index": 0, "media": [1, 2, 3]}
    reply = await client.request("POST", f"/2/media/upload/{media_id}/append", json_body=body)
    assert reply.status == 400
    assert reply.content_type == "application/problem+json"


async def test_v2_json_body_must_be_an_object(client: RawClient) -> None:
    reply = await client.request("POST", V2_INITIALIZE, json_body=[1, 2])
    assert reply.status == 400
    assert reply.json["detail"] == "Request body must be a JSON object."


# --- category names ---------------------------------------------------------------------
CATEGORY_SPELLINGS = ["tweet_video", "TWEET_VIDEO", "TweetVideo", "tweetvideo", "Tweet_Video"]


@pytest.mark.parametrize("spelling", CATEGORY_SPELLINGS)
async def test_v1_category_names_in_any_case_style(
    client: RawClient, emulator: Emulator, spelling: str
) -> None:
    reply = await client.v1_init(1000, "video/mp4", spelling)
    assert reply.status == 202
    media_id = reply.json["media_id_string"]
    assert reply.json["media_key"] == f"7_{media_id}"
    info = emulator.media(media_id)
    assert info is not None and info["media_category"] == "tweet_video"


@pytest.mark.parametrize(
    ("dialect", "path", "params"),
    [
        ("v1.1", V1, {"command": "INIT", "total_bytes": "10", "media_type": "video/mp4"}),
        ("v2", V2_INITIALIZE, {"total_bytes": "10", "media_type": "video/mp4"}),
        ("v1.1", V1, {}),
        ("v2", V2_UPLOAD, {}),
    ],
    ids=["v1-init", "v2-initialize", "v1-simple", "v2-one-shot"],
)
async def test_unknown_category_is_400(
    client: RawClient, png: bytes, dialect: str, path: str, params: dict[str, Any]
) -> None:
    fields = {**params, "media_category": "tweet_hologram"}
    if path == V2_INITIALIZE:
        body = {**fields, "total_bytes": int(fields["total_bytes"])}
        reply = await client.request("POST", path, json_body=body)
    elif params:
        reply = await client.request("POST", path, form=fields)
    else:
        parts = [Part(k, v) for k, v in fields.items()] + [Part("media", png, filename="i")]
        reply = await client.request("POST", path, parts=parts)
    assert reply.status == 400
    message = reply.json["error"] if dialect == "v1.1" else reply.json["detail"]
    assert "tweet_hologram" in message


async def test_v1_simple_upload_file_from_disk_in_blocks(
    client: RawClient, emulator: Emulator, tmp_path: Path
) -> None:
    """A multi-megabyte media part streams through the spool unchanged."""
    data = samples.write_image(tmp_path / "p.png", target_bytes=3 * 1024 * 1024).read_bytes()
    reply = await client.request("POST", V1, parts=[Part("media", data, filename="p.png")])
    assert reply.status == 200
    assemble_ok(emulator, reply.json["media_id_string"], data)


async def test_v1_url_encoded_body_over_the_size_limit_is_413_with_empty_body(
    client: RawClient, emulator: Emulator, tmp_path: Path
) -> None:
    data = samples.write_image(tmp_path / "p.png", target_bytes=6 * 1024 * 1024).read_bytes()
    reply = await client.request("POST", V1, form={"media_data": b64(data)})
    assert reply.status == 413
    assert reply.raw == b""
    assert emulator.all_media() == []


async def test_v2_json_body_over_the_size_limit_is_413_problem(
    client: RawClient, tmp_path: Path
) -> None:
    data = samples.write_image(tmp_path / "p.png", target_bytes=6 * 1024 * 1024).read_bytes()
    body = {"media": b64(data), "media_category": "tweet_image"}
    reply = await client.request("POST", V2_UPLOAD, json_body=body)
    assert reply.status == 413
    assert reply.content_type == "application/problem+json"
    assert reply.json["status"] == 413
