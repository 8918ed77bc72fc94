"""The v1.1 dialect over real sockets: every endpoint, segment rule and error body.

``/1.1/media/upload.json`` (INIT, APPEND, FINALIZE, STATUS, simple upload),
``/1.1/media/metadata/create.json`` and ``/1.1/media/subtitles/{create,delete}.json``,
checked against ``shared/spec/x-media-upload.md`` section 2.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bulkup.emulator import Emulator, EmulatorConfig, Lifetimes, User
from bulkup.media import samples
from tests.apiclient import Part, RawClient, Reply
from tests.emulator.conftest import SLOW_PROCESSING, SMALL_CHUNKS

pytestmark = pytest.mark.anyio

UPLOAD = "/1.1/media/upload.json"
METADATA = "/1.1/media/metadata/create.json"
SUBTITLES_CREATE = "/1.1/media/subtitles/create.json"
SUBTITLES_DELETE = "/1.1/media/subtitles/delete.json"

ALICE = User(
    id="2000000000000000001",
    consumer_key="ck-alice",
    consumer_secret="cs-alice",
    access_token="2000000000000000001-alice",
    access_token_secret="ts-alice",
)
BOB = User(
    id="2000000000000000002",
    consumer_key="ck-bob",
    consumer_secret="cs-bob",
    access_token="2000000000000000002-bob",
    access_token_secret="ts-bob",
)
TWO_USERS = EmulatorConfig(
    users=(ALICE, BOB), lifetimes=Lifetimes(processing_secs=0, check_after_secs=0)
)


def with_config(config: EmulatorConfig, name: str) -> pytest.MarkDecorator:
    """Run one test against an emulator with ``config`` (overrides the fixture)."""
    return pytest.mark.parametrize("emulator_config", [pytest.param(config, id=name)])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload_error(message: str) -> dict[str, str]:
    return {"request": UPLOAD, "error": message}


@pytest.fixture(scope="module")
def jpeg(media_dir: Path) -> bytes:
    path = samples.write_image(media_dir / "i.jpg", fmt="jpeg", width=80, height=30)
    return path.read_bytes()


@pytest.fixture(scope="module")
def srt(media_dir: Path) -> bytes:
    return samples.write_srt(media_dir / "s.srt").read_bytes()


async def init_id(client: RawClient, data: bytes, media_type: str, category: str | None) -> str:
    reply = await client.v1_init(len(data), media_type, category)
    assert reply.status == 202, reply.raw
    media_id: str = reply.json["media_id_string"]
    return media_id


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


async def simple_upload(client: RawClient, data: bytes, **fields: str) -> Reply:
    parts = [Part(name, value) for name, value in fields.items()]
    parts.append(Part("media", data, filename="blob"))
    return await client.request("POST", UPLOAD, parts=parts)


# --- INIT ---------------------------------------------------------------------------
async def test_init_returns_202_with_equal_int_and_string_ids_and_no_key_without_category(
    client: RawClient,
) -> None:
    reply = await client.v1_init(1000, "image/png")
    assert reply.status == 202
    body = reply.json
    assert isinstance(body["media_id"], int)
    assert body["media_id_string"] == str(body["media_id"])
    assert body["expires_after_secs"] == 3599
    assert "media_key" not in body


@pytest.mark.parametrize(
    ("category", "media_type", "prefix"),
    [
        ("tweet_image", "image/png", 3),
        ("dm_image", "image/jpeg", 3),
        ("tweet_video", "video/mp4", 7),
        ("dm_video", "video/mp4", 7),
        ("amplify_video", "video/mp4", 13),
        ("tweet_gif", "image/gif", 16),
        ("dm_gif", "image/gif", 16),
    ],
)
async def test_init_with_category_returns_media_key_with_category_prefix(
    client: RawClient, category: str, media_type: str, prefix: int
) -> None:
    reply = await client.v1_init(1000, media_type, category)
    assert reply.status == 202
    assert reply.json["media_key"] == f"{prefix}_{reply.json['media_id_string']}"


async def test_init_without_total_bytes_or_media_type_is_400(client: RawClient) -> None:
    no_total = await client.request("POST", UPLOAD, form={"command": "INIT", "media_type": "a/b"})
    no_type = await client.request("POST", UPLOAD, form={"command": "INIT", "total_bytes": "1"})
    for reply in (no_total, no_type):
        assert reply.status == 400
        assert reply.json["request"] == UPLOAD and reply.json["error"]


async def test_command_is_case_sensitive(client: RawClient) -> None:
    form = {"command": "init", "total_bytes": "10", "media_type": "image/png"}
    reply = await client.request("POST", UPLOAD, form=form)
    assert reply.status == 400
    assert set(reply.json) == {"request", "error"}
    assert reply.json["request"] == UPLOAD


# --- APPEND / FINALIZE ----------------------------------------------------------------
async def test_append_returns_204_with_empty_body(client: RawClient, png: bytes) -> None:
    media_id = await init_id(client, png, "image/png", "tweet_image")
    reply = await client.v1_append(media_id, 0, png)
    assert reply.status == 204
    assert reply.raw == b""


async def test_finalize_image_reports_size_dimensions_and_no_processing_info(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    media_id = await init_id(client, png, "image/png", "tweet_image")
    assert (await client.v1_append(media_id, 0, png)).status == 204
    reply = await client.v1_finalize(media_id)
    assert reply.status == 200
    body = reply.json
    assert body["media_id"] == int(media_id) and body["media_id_string"] == media_id
    assert body["media_key"] == f"3_{media_id}"
    assert body["size"] == len(png)
    assert body["expires_after_secs"] == 86400
    assert body["image"] == {"image_type": "image/png", "w": 64, "h": 48}
    assert "processing_info" not in body and "video" not in body
    info = emulator.media(media_id)
    assert info is not None and info["sha256"] == sha256(png)


async def test_finalize_video_without_category_is_ready_with_no_processing_info(
    client: RawClient, video: bytes
) -> None:
    media_id = await init_id(client, video, "video/mp4", None)
    assert (await client.v1_append(media_id, 0, video)).status == 204
    body = (await client.v1_finalize(media_id)).json
    assert body["video"] == {"video_type": "video/mp4"}
    assert body["size"] == len(video)
    assert "processing_info" not in body


async def test_finalize_video_with_category_reports_pending_processing(
    client: RawClient, video: bytes
) -> None:
    media_id = await init_id(client, video, "video/mp4", "tweet_video")
    assert (await client.v1_append(media_id, 0, video)).status == 204
    body = (await client.v1_finalize(media_id)).json
    assert body["media_key"] == f"7_{media_id}"
    assert body["video"] == {"video_type": "video/mp4"}
    assert body["processing_info"] == {"state": "pending", "check_after_secs": 0}


async def test_finalize_gif_with_category_is_async_and_without_is_ready(
    client: RawClient, gif: bytes
) -> None:
    with_category = await client.v1_upload(gif, "image/gif", "tweet_gif")
    without = await client.v1_upload(gif, "image/gif")
    assert "processing_info" in (await client.v1_status(with_category)).json
    body = (await client.v1_finalize(without)).json
    assert "processing_info" not in body
    assert body["image"] == {"image_type": "image/gif", "w": 40, "h": 20}


# --- STATUS ----------------------------------------------------------------------------
@with_config(SLOW_PROCESSING, "processing-10s")
async def test_status_goes_pending_then_in_progress_then_succeeded(
    client: RawClient, emulator: Emulator, video: bytes
) -> None:
    media_id = await client.v1_upload(video, "video/mp4", "tweet_video")
    final = (await client.v1_finalize(media_id)).json
    assert final["processing_info"] == {"state": "pending", "check_after_secs": 1}

    first = await client.v1_status(media_id)
    assert first.status == 200
    info = first.json["processing_info"]
    assert info["state"] == "in_progress" and info["check_after_secs"] == 1
    assert 0 <= info["progress_percent"] < 10
    assert first.json["media_id_string"] == media_id

    emulator.advance(5)
    second = (await client.v1_status(media_id)).json
    assert second["processing_info"]["state"] == "in_progress"
    assert 50 <= second["processing_info"]["progress_percent"] < 60
    assert first.json["expires_after_secs"] - second["expires_after_secs"] in (4, 5, 6)

    emulator.advance(5)
    done = (await client.v1_status(media_id)).json
    assert done["processing_info"] == {"state": "succeeded", "progress_percent": 100}
    assert done["video"] == {"video_type": "video/mp4"} and done["size"] == len(video)


async def test_status_before_finalize_is_404(client: RawClient, video: bytes) -> None:
    media_id = await init_id(client, video, "video/mp4", "tweet_video")
    reply = await client.v1_status(media_id)
    assert reply.status == 404
    assert reply.json["request"] == UPLOAD


async def test_status_needs_get_with_command_status(client: RawClient, png: bytes) -> None:
    media_id = await client.v1_upload(png, "image/png", "tweet_image")
    missing = await client.request("GET", UPLOAD, query={"media_id": media_id})
    post = await client.request("POST", UPLOAD, form={"command": "STATUS", "media_id": media_id})
    assert missing.status == 400 and post.status == 400


# --- simple upload ------------------------------------------------------------------
async def test_simple_upload_reads_image_type_and_dimensions_from_the_bytes(
    client: RawClient, emulator: Emulator, jpeg: bytes
) -> None:
    reply = await simple_upload(client, jpeg)
    assert reply.status == 200
    body = reply.json
    assert body["media_id_string"] == str(body["media_id"])
    assert body["media_key"] == f"3_{body['media_id_string']}"
    assert body["size"] == len(jpeg)
    assert body["expires_after_secs"] == 86400
    assert body["image"] == {"image_type": "image/jpeg", "w": 80, "h": 30}
    assert "processing_info" not in body
    info = emulator.media(body["media_id"])
    assert info is not None and info["sha256"] == sha256(jpeg)


async def test_simple_upload_with_image_category(client: RawClient, png: bytes) -> None:
    reply = await simple_upload(client, png, media_category="TweetImage")
    assert reply.status == 200
    assert reply.json["image"]["w"] == 64


async def test_simple_upload_shares_the_media_with_additional_owners(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    parts = [Part("additional_owners", "42, 43"), Part("media", png, filename="i.png")]
    reply = await client.request("POST", UPLOAD, parts=parts)
    assert reply.status == 200, reply.raw
    info = emulator.media(reply.json["media_id_string"])
    assert info is not None and info["additional_owners"] == ["42", "43"]


async def test_simple_upload_over_5mb_is_413_with_empty_body(
    client: RawClient, emulator: Emulator, media_dir: Path
) -> None:
    path = samples.write_image(media_dir / "huge.png", target_bytes=5 * 1024 * 1024 + 100)
    reply = await simple_upload(client, path.read_bytes())
    assert reply.status == 413
    assert reply.raw == b""
    assert emulator.all_media() == []


async def test_simple_upload_of_video_without_category_is_refused(
    client: RawClient, video: bytes
) -> None:
    reply = await simple_upload(client, video)
    assert reply.status == 400
    assert reply.json["request"] == UPLOAD and reply.json["error"]


async def test_simple_upload_with_video_category_needs_chunked_upload(
    client: RawClient, video: bytes
) -> None:
    reply = await simple_upload(client, video, media_category="tweet_video")
    assert reply.status == 400
    assert "INIT" in reply.json["error"]


async def test_simple_upload_without_media_is_400(client: RawClient) -> None:
    reply = await client.request("POST", UPLOAD, parts=[Part("media_category", "tweet_image")])
    assert reply.status == 400


# --- alt text ------------------------------------------------------------------------
async def test_alt_text_is_stored_with_200(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    media_id = await client.v1_upload(png, "image/png", "tweet_image")
    body = {"media_id": media_id, "alt_text": {"text": "a" * 1000}}
    reply = await client.request("POST", METADATA, json_body=body)
    assert reply.status == 200
    info = emulator.media(media_id)
    assert info is not None and info["alt_text"] == "a" * 1000


async def test_alt_text_accepts_integer_media_id_on_gif(
    client: RawClient, emulator: Emulator, gif: bytes
) -> None:
    media_id = await client.v1_upload(gif, "image/gif", "tweet_gif")
    body = {"media_id": int(media_id), "alt_text": {"text": "dancing noise"}}
    assert (await client.request("POST", METADATA, json_body=body)).status == 200
    info = emulator.media(media_id)
    assert info is not None and info["alt_text"] == "dancing noise"


async def test_alt_text_over_1000_characters_is_400(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    media_id = await client.v1_upload(png, "image/png", "tweet_image")
    body = {"media_id": media_id, "alt_text": {"text": "a" * 1001}}
    reply = await client.request("POST", METADATA, json_body=body)
    assert reply.status == 400
    info = emulator.media(media_id)
    assert info is not None and info["alt_text"] is None


async def test_alt_text_on_a_video_is_400(client: RawClient, video: bytes) -> None:
    media_id = await client.v1_upload(video, "video/mp4", "tweet_video")
    body = {"media_id": media_id, "alt_text": {"text": "a video"}}
    reply = await client.request("POST", METADATA, json_body=body)
    assert reply.status == 400


async def test_alt_text_on_unknown_media_is_325(client: RawClient) -> None:
    body = {"media_id": "123456789", "alt_text": {"text": "x"}}
    reply = await client.request("POST", METADATA, json_body=body)
    assert reply.status == 400
    assert reply.json == {"errors": [{"code": 325, "message": "A media id was not found."}]}


# --- subtitles ---------------------------------------------------------------------
def subtitle_body(video_id: str, subtitle_id: str | None, language: str) -> dict[str, Any]:
    entry = {"language_code": language, "display_name": "English"}
    if subtitle_id is not None:
        entry["media_id"] = subtitle_id
    return {
        "media_id": video_id,
        "media_category": "TweetVideo",
        "subtitle_info": {"subtitles": [entry]},
    }


async def test_subtitles_attach_to_a_video_and_delete_removes_them(
    client: RawClient, emulator: Emulator, video: bytes, srt: bytes
) -> None:
    video_id = await client.v1_upload(video, "video/mp4", "tweet_video")
    srt_init = await client.v1_init(len(srt), "text/srt", "subtitles")
    assert srt_init.json["media_key"] == f"3_{srt_init.json['media_id_string']}"
    subtitle_id = srt_init.json["media_id_string"]
    assert (await client.v1_append(subtitle_id, 0, srt)).status == 204
    final = await client.v1_finalize(subtitle_id)
    assert final.status == 200 and "processing_info" not in final.json

    created = await client.request(
        "POST", SUBTITLES_CREATE, json_body=subtitle_body(video_id, subtitle_id, "EN")
    )
    assert created.status == 200
    info = emulator.media(video_id)
    assert info is not None
    assert info["subtitles"] == [
        {"media_id": subtitle_id, "language_code": "EN", "display_name": "English"}
    ]

    deleted = await client.request(
        "POST", SUBTITLES_DELETE, json_body=subtitle_body(video_id, None, "en")
    )
    assert deleted.status == 200
    info = emulator.media(video_id)
    assert info is not None and info["subtitles"] == []


async def test_subtitles_must_be_a_finalized_subtitles_upload(
    client: RawClient, video: bytes, png: bytes
) -> None:
    video_id = await client.v1_upload(video, "video/mp4", "tweet_video")
    image_id = await client.v1_upload(png, "image/png", "tweet_image")
    body = subtitle_body(video_id, image_id, "en")
    reply = await client.request("POST", SUBTITLES_CREATE, json_body=body)
    assert reply.status == 400


async def test_subtitles_only_attach_to_videos(client: RawClient, png: bytes, srt: bytes) -> None:
    image_id = await client.v1_upload(png, "image/png", "tweet_image")
    subtitle_id = await client.v1_upload(srt, "text/srt", "subtitles")
    body = subtitle_body(image_id, subtitle_id, "en")
    reply = await client.request("POST", SUBTITLES_CREATE, json_body=body)
    assert reply.status == 400


async def test_deleting_absent_subtitles_is_404(client: RawClient, video: bytes) -> None:
    video_id = await client.v1_upload(video, "video/mp4", "tweet_video")
    body = subtitle_body(video_id, None, "fr")
    reply = await client.request("POST", SUBTITLES_DELETE, json_body=body)
    assert reply.status == 404


# --- segments ---------------------------------------------------------------------------
async def test_segment_index_999_is_accepted(client: RawClient, png: bytes) -> None:
    media_id = await init_id(client, png, "image/png", "tweet_image")
    assert (await client.v1_append(media_id, 999, png)).status == 204


@pytest.mark.parametrize("index", [1000, -1])
async def test_segment_index_outside_0_to_999_is_400(
    client: RawClient, png: bytes, index: int
) -> None:
    media_id = await init_id(client, png, "image/png", "tweet_image")
    reply = await client.v1_append(media_id, index, png)
    assert reply.status == 400
    assert reply.json == upload_error("SegmentIndex must be between 0 and 999.")


@with_config(SMALL_CHUNKS, "max-chunk-1KiB")
async def test_chunk_over_the_size_limit_is_refused(
    client: RawClient, emulator: Emulator, big_png: bytes
) -> None:
    media_id = await init_id(client, big_png, "image/png", "tweet_image")
    reply = await client.v1_append(media_id, 0, big_png[:1025])
    assert reply.status == 400
    assert reply.json["request"] == UPLOAD and "1024" in reply.json["error"]
    for index, chunk in enumerate(chunks(big_png, 1024)):
        assert (await client.v1_append(media_id, index, chunk)).status == 204
    assert (await client.v1_finalize(media_id)).status == 200
    info = emulator.media(media_id)
    assert info is not None and info["sha256"] == sha256(big_png)


async def test_resent_segment_replaces_the_earlier_bytes(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    media_id = await init_id(client, png, "image/png", "tweet_image")
    half = len(png) // 2
    garbage = bytes(half)
    assert (await client.v1_append(media_id, 0, garbage)).status == 204
    assert (await client.v1_append(media_id, 1, png[half:])).status == 204
    assert (await client.v1_append(media_id, 0, png[:half])).status == 204
    assert (await client.v1_finalize(media_id)).status == 200
    info = emulator.media(media_id)
    assert info is not None and info["sha256"] == sha256(png)


async def test_parallel_out_of_order_appends_assemble_byte_exact(
    client: RawClient, emulator: Emulator, big_png: bytes
) -> None:
    media_id = await init_id(client, big_png, "image/png", "tweet_image")
    pieces = list(enumerate(chunks(big_png, 1000)))
    random.Random(5).shuffle(pieces)
    replies = await asyncio.gather(*(client.v1_append(media_id, i, c) for i, c in pieces))
    assert {r.status for r in replies} == {204}
    final = await client.v1_finalize(media_id)
    assert final.status == 200 and final.json["size"] == len(big_png)
    info = emulator.media(media_id)
    assert info is not None
    assert info["segments"] == list(range(len(pieces)))
    assert info["sha256"] == sha256(big_png)


@pytest.mark.parametrize("flaw", ["gap", "short", "long", "nothing"])
async def test_finalize_with_a_gap_or_wrong_total_is_400(
    client: RawClient, png: bytes, flaw: str
) -> None:
    declared = {"short": len(png) + 1, "long": len(png) - 1}.get(flaw, len(png))
    media_id = (await client.v1_init(declared, "image/png", "tweet_image")).json["media_id_string"]
    if flaw == "gap":
        await client.v1_append(media_id, 0, png[:100])
        await client.v1_append(media_id, 2, png[100:])
    elif flaw != "nothing":
        await client.v1_append(media_id, 0, png)
    reply = await client.v1_finalize(media_id)
    assert reply.status == 400
    assert reply.json == upload_error("Segments do not add up to provided total file size.")


async def test_finalize_can_be_retried_after_filling_a_gap(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    media_id = await init_id(client, png, "image/png", "tweet_image")
    await client.v1_append(media_id, 1, png[100:])
    assert (await client.v1_finalize(media_id)).status == 400
    await client.v1_append(media_id, 0, png[:100])
    assert (await client.v1_finalize(media_id)).status == 200
    info = emulator.media(media_id)
    assert info is not None and info["sha256"] == sha256(png)


async def test_append_after_finalize_is_refused(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    media_id = await client.v1_upload(png, "image/png", "tweet_image")
    reply = await client.v1_append(media_id, 1, b"more")
    assert reply.status == 400
    assert reply.json["request"] == UPLOAD
    info = emulator.media(media_id)
    assert info is not None and info["sha256"] == sha256(png)
    assert info["segments"] == [0] and info["received_bytes"] == len(png)


async def test_finalize_twice_is_idempotent(client: RawClient, video: bytes) -> None:
    media_id = await client.v1_upload(video, "video/mp4", "tweet_video")
    again = await client.v1_finalize(media_id)
    assert again.status == 200
    assert again.json["media_id_string"] == media_id
    assert again.json["size"] == len(video)


async def test_concurrent_finalizes_of_one_id_all_succeed_alike(
    client: RawClient, emulator: Emulator, big_png: bytes
) -> None:
    media_id = await init_id(client, big_png, "image/png", "tweet_image")
    for index, chunk in enumerate(chunks(big_png, 4096)):
        assert (await client.v1_append(media_id, index, chunk)).status == 204
    replies = await asyncio.gather(*(client.v1_finalize(media_id) for _ in range(4)))
    assert [r.status for r in replies] == [200] * 4
    assert {r.json["size"] for r in replies} == {len(big_png)}
    info = emulator.media(media_id)
    assert info is not None and info["sha256"] == sha256(big_png)


# --- error bodies ----------------------------------------------------------------------
async def test_unknown_media_id_is_325_on_every_command(client: RawClient) -> None:
    unknown = "1234567890123456789"
    replies = [
        await client.v1_append(unknown, 0, b"x"),
        await client.v1_finalize(unknown),
        await client.v1_status(unknown),
    ]
    for reply in replies:
        assert reply.status == 400
        assert reply.json == {"errors": [{"code": 325, "message": "A media id was not found."}]}


async def test_non_numeric_media_id_is_400(client: RawClient) -> None:
    reply = await client.v1_finalize("not-a-number")
    assert reply.status == 400
    assert reply.json["request"] == UPLOAD


async def test_upload_past_its_init_deadline_is_324(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    media_id = await init_id(client, png, "image/png", "tweet_image")
    emulator.advance(3600)
    reply = await client.v1_append(media_id, 0, png)
    assert reply.status == 400
    assert reply.json == {
        "errors": [{"code": 324, "message": "The validation of media ids failed."}]
    }
    info = emulator.media(media_id)
    assert info is not None and info["state"] == "expired"


async def test_finalized_media_past_its_lifetime_is_324(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    media_id = await client.v1_upload(png, "image/png", "tweet_image")
    emulator.advance(86400)
    reply = await client.v1_status(media_id)
    assert reply.status == 400
    assert reply.json["errors"][0]["code"] == 324


@with_config(TWO_USERS, "two-users")
async def test_media_of_another_user_is_not_found(
    emulator: Emulator, http: aiohttp.ClientSession, png: bytes
) -> None:
    alice, bob = RawClient(http, emulator, ALICE), RawClient(http, emulator, BOB)
    media_id = await alice.v1_upload(png, "image/png", "tweet_image")
    for reply in (await bob.v1_status(media_id), await bob.v1_finalize(media_id)):
        assert reply.status == 400
        assert reply.json["errors"][0]["code"] == 325
    assert (await alice.v1_status(media_id)).status == 200


@with_config(TWO_USERS, "two-users")
async def test_additional_owner_can_use_the_media_id(
    emulator: Emulator, http: aiohttp.ClientSession, png: bytes
) -> None:
    alice, bob = RawClient(http, emulator, ALICE), RawClient(http, emulator, BOB)
    form = {
        "command": "INIT",
        "total_bytes": str(len(png)),
        "media_type": "image/png",
        "additional_owners": BOB.id,
    }
    media_id = (await alice.request("POST", UPLOAD, form=form)).json["media_id_string"]
    assert (await bob.v1_append(media_id, 0, png)).status == 204
    assert (await bob.v1_finalize(media_id)).status == 200
    info = emulator.media(media_id)
    assert info is not None
    assert info["owner"] == ALICE.id and info["additional_owners"] == [BOB.id]
