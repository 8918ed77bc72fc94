"""The v2 dialect over real sockets: every endpoint, segment rule and problem body.

``/2/media/upload/initialize``, ``/2/media/upload/{id}/append``, ``/2/media/upload/{id}/finalize``,
``GET /2/media/upload`` (STATUS), one-shot ``POST /2/media/upload``, ``/2/media/metadata`` and
``POST``/``DELETE /2/media/subtitles``, checked against ``shared/spec/x-media-upload.md`` section 3.
"""

from __future__ import annotations

import asyncio
import base64
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

UPLOAD = "/2/media/upload"
INITIALIZE = "/2/media/upload/initialize"
METADATA = "/2/media/metadata"
SUBTITLES = "/2/media/subtitles"
PROBLEM_JSON = "application/problem+json"
INVALID_REQUEST = "https://api.x.com/2/problems/invalid-request"

ALICE = User(
    id="3000000000000000001",
    consumer_key="ck-alice",
    consumer_secret="cs-alice",
    access_token="3000000000000000001-alice",
    access_token_secret="ts-alice",
    bearer_tokens=("alice-user-token",),
)
BOB = User(
    id="3000000000000000002",
    consumer_key="ck-bob",
    consumer_secret="cs-bob",
    access_token="3000000000000000002-bob",
    access_token_secret="ts-bob",
    bearer_tokens=("bob-user-token",),
)
TWO_USERS = EmulatorConfig(
    users=(ALICE, BOB), lifetimes=Lifetimes(processing_secs=0, check_after_secs=0)
)


def with_config(config: EmulatorConfig, name: str) -> pytest.MarkDecorator:
    """Run one test against an emulator with ``config`` (overrides the fixture)."""
    return pytest.mark.parametrize("emulator_config", [pytest.param(config, id=name)])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_problem(reply: Reply, status: int, detail: str | None = None) -> dict[str, Any]:
    """An RFC 7807 problem with every field the spec names; returns the body."""
    assert reply.status == status, reply.raw
    assert reply.content_type == PROBLEM_JSON
    body: dict[str, Any] = reply.json
    assert {"title", "detail", "type", "status"} <= set(body)
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    if status == 400:
        assert body["title"] == "Invalid Request" and body["type"] == INVALID_REQUEST
        assert body["errors"] == [{"message": body["detail"]}]
    if detail is not None:
        assert body["detail"] == detail
    return body


@pytest.fixture(scope="module")
def webp(media_dir: Path) -> bytes:
    path = samples.write_image(media_dir / "i.webp", fmt="webp", width=30, height=90)
    return path.read_bytes()


@pytest.fixture(scope="module")
def vtt(media_dir: Path) -> bytes:
    return samples.write_vtt(media_dir / "s.vtt").read_bytes()


async def init_id(client: RawClient, data: bytes, media_type: str, category: str | None) -> str:
    reply = await client.v2_init(len(data), media_type, category)
    assert reply.status == 200, reply.raw
    media_id: str = reply.json["data"]["id"]
    return media_id


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# --- initialize ------------------------------------------------------------------------
async def test_initialize_returns_string_id_media_key_and_upload_deadline(
    client: RawClient,
) -> None:
    reply = await client.v2_init(1000, "video/mp4", "amplify_video")
    assert reply.status == 200
    data = reply.json["data"]
    assert set(data) == {"id", "media_key", "expires_after_secs"}
    assert isinstance(data["id"], str) and data["id"].isdigit()
    assert data["media_key"] == f"13_{data['id']}"
    assert data["expires_after_secs"] == 1295999


@pytest.mark.parametrize(
    ("category", "media_type", "prefix"),
    [
        ("tweet_image", "image/png", 3),
        ("tweet_video", "video/mp4", 7),
        ("dm_video", "video/quicktime", 7),
        ("amplify_video", "video/mp4", 13),
        ("tweet_gif", "image/gif", 16),
        ("subtitles", "text/srt", 3),
        (None, "image/jpeg", 3),
        (None, "video/mp4", 7),
    ],
)
async def test_initialize_media_key_prefix_follows_category_or_type(
    client: RawClient, category: str | None, media_type: str, prefix: int
) -> None:
    data = (await client.v2_init(1000, media_type, category)).json["data"]
    assert data["media_key"] == f"{prefix}_{data['id']}"


@pytest.mark.parametrize("total_bytes", [-1, 17179869185])
async def test_initialize_total_bytes_out_of_range_is_400_problem(
    client: RawClient, total_bytes: int
) -> None:
    reply = await client.v2_init(total_bytes, "video/mp4", "tweet_video")
    assert_problem(reply, 400)


async def test_initialize_accepts_the_largest_total_bytes(client: RawClient) -> None:
    reply = await client.v2_init(17179869184, "video/mp4", "amplify_video")
    assert reply.status == 200


async def test_initialize_without_media_type_is_400_problem(client: RawClient) -> None:
    reply = await client.request("POST", INITIALIZE, json_body={"total_bytes": 10})
    assert_problem(reply, 400)


# --- append -----------------------------------------------------------------------------
@pytest.mark.parametrize("as_json", [False, True], ids=["multipart", "json-base64"])
async def test_append_returns_expires_at_in_epoch_seconds(
    client: RawClient, emulator: Emulator, png: bytes, as_json: bool
) -> None:
    before = emulator.state.clock.now()
    media_id = await init_id(client, png, "image/png", "tweet_image")
    reply = await client.v2_append(media_id, 0, png, as_json=as_json)
    after = emulator.state.clock.now()
    assert reply.status == 200
    expires_at = reply.json["data"]["expires_at"]
    assert isinstance(expires_at, int)  # whole seconds, rounded down
    assert before + 1295999 - 1 < expires_at <= after + 1295999
    assert (await client.v2_finalize(media_id)).status == 200
    info = emulator.media(media_id)
    assert info is not None and info["sha256"] == sha256(png)


async def test_append_without_media_is_400_problem(client: RawClient, png: bytes) -> None:
    media_id = await init_id(client, png, "image/png", "tweet_image")
    reply = await client.request(
        "POST", f"/2/media/upload/{media_id}/append", parts=[Part("segment_index", "0")]
    )
    assert_problem(reply, 400)


async def test_append_without_segment_index_is_400_problem(client: RawClient, png: bytes) -> None:
    media_id = await init_id(client, png, "image/png", "tweet_image")
    reply = await client.request(
        "POST", f"/2/media/upload/{media_id}/append", parts=[Part("media", png, "blob")]
    )
    assert_problem(reply, 400, "Missing required field: segment_index.")


# --- finalize ---------------------------------------------------------------------------
async def test_finalize_answers_id_key_size_and_image(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    media_id = await init_id(client, png, "image/png", "tweet_image")
    assert (await client.v2_append(media_id, 0, png)).status == 200
    reply = await client.v2_finalize(media_id)
    assert reply.status == 200
    data = reply.json["data"]
    assert data["id"] == media_id and data["media_key"] == f"3_{media_id}"
    assert data["size"] == len(png) and data["expires_after_secs"] == 86400
    assert data["image"] == {"image_type": "image/png", "w": 64, "h": 48}
    assert "processing_info" not in data and "media_id" not in data
    info = emulator.media(media_id)
    assert info is not None and info["sha256"] == sha256(png)


async def test_finalize_video_with_category_reports_pending_processing(
    client: RawClient, video: bytes
) -> None:
    media_id = await init_id(client, video, "video/mp4", "tweet_video")
    assert (await client.v2_append(media_id, 0, video)).status == 200
    data = (await client.v2_finalize(media_id)).json["data"]
    assert data["media_key"] == f"7_{media_id}"
    assert data["video"] == {"video_type": "video/mp4"}
    assert data["processing_info"] == {"state": "pending", "check_after_secs": 0}


# --- status -----------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["STATUS", None], ids=["command", "no-command"])
async def test_status_works_with_and_without_command(
    client: RawClient, gif: bytes, command: str | None
) -> None:
    media_id = await client.v2_upload(gif, "image/gif", "tweet_gif")
    query = {"media_id": media_id} | ({"command": command} if command else {})
    reply = await client.request("GET", UPLOAD, query=query)
    assert reply.status == 200
    data = reply.json["data"]
    assert data["id"] == media_id and data["media_key"] == f"16_{media_id}"
    assert data["processing_info"] == {"state": "succeeded", "progress_percent": 100}


async def test_status_with_another_command_is_400_problem(client: RawClient, png: bytes) -> None:
    media_id = await client.v2_upload(png, "image/png", "tweet_image")
    reply = await client.request("GET", UPLOAD, query={"media_id": media_id, "command": "INIT"})
    assert_problem(reply, 400)


async def test_status_without_media_id_is_400_problem(client: RawClient) -> None:
    reply = await client.request("GET", UPLOAD, query={"command": "STATUS"})
    assert_problem(reply, 400, "Missing required parameter: media_id.")


@with_config(SLOW_PROCESSING, "processing-10s")
async def test_status_goes_pending_then_in_progress_then_succeeded(
    client: RawClient, emulator: Emulator, video: bytes
) -> None:
    media_id = await client.v2_upload(video, "video/mp4", "tweet_video")
    final = (await client.v2_finalize(media_id)).json["data"]
    assert final["processing_info"] == {"state": "pending", "check_after_secs": 1}

    first = (await client.v2_status(media_id)).json["data"]
    assert first["processing_info"]["state"] == "in_progress"
    assert first["processing_info"]["check_after_secs"] == 1
    assert 0 <= first["processing_info"]["progress_percent"] < 10

    emulator.advance(7.5)
    second = (await client.v2_status(media_id)).json["data"]
    assert second["processing_info"]["state"] == "in_progress"
    assert 75 <= second["processing_info"]["progress_percent"] < 85
    assert first["expires_after_secs"] - second["expires_after_secs"] in (7, 8, 9)

    emulator.advance(2.5)
    done = (await client.v2_status(media_id)).json["data"]
    assert done["processing_info"] == {"state": "succeeded", "progress_percent": 100}


async def test_status_before_finalize_is_404_problem(client: RawClient, video: bytes) -> None:
    media_id = await init_id(client, video, "video/mp4", "tweet_video")
    body = assert_problem(await client.v2_status(media_id), 404)
    assert body["title"] == "Not Found Error"


# --- one-shot upload ----------------------------------------------------------------------
async def test_one_shot_multipart_upload_reads_the_image(
    client: RawClient, emulator: Emulator, webp: bytes
) -> None:
    parts = [Part("media_category", "tweet_image"), Part("media", webp, filename="i.webp")]
    reply = await client.request("POST", UPLOAD, parts=parts)
    assert reply.status == 200
    data = reply.json["data"]
    assert data["media_key"] == f"3_{data['id']}"
    assert data["size"] == len(webp) and data["expires_after_secs"] == 86400
    assert data["image"] == {"image_type": "image/webp", "w": 30, "h": 90}
    info = emulator.media(data["id"])
    assert info is not None and info["sha256"] == sha256(webp)


async def test_one_shot_json_base64_upload(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    body = {"media": base64.b64encode(png).decode(), "media_category": "tweet_image"}
    reply = await client.request("POST", UPLOAD, json_body=body)
    assert reply.status == 200
    info = emulator.media(reply.json["data"]["id"])
    assert info is not None and info["sha256"] == sha256(png)


async def test_one_shot_without_media_category_is_400_problem(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    reply = await client.request("POST", UPLOAD, parts=[Part("media", png, filename="i.png")])
    assert_problem(reply, 400, "Missing required field: media_category.")
    assert emulator.all_media() == []


async def test_one_shot_video_is_processed_asynchronously(
    client: RawClient, emulator: Emulator, video: bytes
) -> None:
    parts = [Part("media", video, filename="v.mp4"), Part("media_category", "tweet_video")]
    reply = await client.request("POST", UPLOAD, parts=parts)
    assert reply.status == 200
    data = reply.json["data"]
    assert data["media_key"] == f"7_{data['id']}"
    assert data["processing_info"]["state"] == "pending"
    status = (await client.v2_status(data["id"])).json["data"]
    assert status["processing_info"]["state"] == "succeeded"


@with_config(SMALL_CHUNKS, "max-chunk-1KiB")
async def test_one_shot_over_the_size_limit_is_413_problem(
    client: RawClient, big_png: bytes
) -> None:
    parts = [Part("media_category", "tweet_image"), Part("media", big_png, filename="i.png")]
    reply = await client.request("POST", UPLOAD, parts=parts)
    assert_problem(reply, 413)


# --- metadata -----------------------------------------------------------------------------
async def test_metadata_sets_alt_text(client: RawClient, emulator: Emulator, png: bytes) -> None:
    media_id = await client.v2_upload(png, "image/png", "tweet_image")
    body = {"id": media_id, "metadata": {"alt_text": {"text": "noise, 64 by 48"}}}
    reply = await client.request("POST", METADATA, json_body=body)
    assert reply.status == 200
    assert reply.json["data"] == {
        "id": media_id,
        "associated_metadata": {"alt_text": {"text": "noise, 64 by 48"}},
    }
    info = emulator.media(media_id)
    assert info is not None and info["alt_text"] == "noise, 64 by 48"


async def test_metadata_alt_text_over_1000_characters_is_400_problem(
    client: RawClient, png: bytes
) -> None:
    media_id = await client.v2_upload(png, "image/png", "tweet_image")
    body = {"id": media_id, "metadata": {"alt_text": {"text": "é" * 1001}}}
    assert_problem(await client.request("POST", METADATA, json_body=body), 400)


async def test_metadata_alt_text_on_a_video_is_400_problem(client: RawClient, video: bytes) -> None:
    media_id = await client.v2_upload(video, "video/mp4", "amplify_video")
    body = {"id": media_id, "metadata": {"alt_text": {"text": "a video"}}}
    assert_problem(await client.request("POST", METADATA, json_body=body), 400)


async def test_metadata_without_alt_text_object_is_400_problem(
    client: RawClient, png: bytes
) -> None:
    media_id = await client.v2_upload(png, "image/png", "tweet_image")
    body = {"id": media_id, "metadata": {"alt_text": "not an object"}}
    assert_problem(await client.request("POST", METADATA, json_body=body), 400)


# --- subtitles ----------------------------------------------------------------------------
async def test_subtitles_create_and_delete(
    client: RawClient, emulator: Emulator, video: bytes, vtt: bytes
) -> None:
    video_id = await client.v2_upload(video, "video/mp4", "tweet_video")
    subtitle_id = await client.v2_upload(vtt, "text/vtt", "subtitles")
    create = {
        "id": video_id,
        "media_category": "TweetVideo",
        "subtitles": {"id": subtitle_id, "language_code": "DE", "display_name": "Deutsch"},
    }
    reply = await client.request("POST", SUBTITLES, json_body=create)
    assert reply.status == 200
    assert reply.json["data"] == {
        "id": video_id,
        "media_category": "TweetVideo",
        "associated_subtitles": [
            {"id": subtitle_id, "language_code": "DE", "display_name": "Deutsch"}
        ],
    }
    info = emulator.media(video_id)
    assert info is not None and [s["media_id"] for s in info["subtitles"]] == [subtitle_id]

    delete = {"id": video_id, "media_category": "TweetVideo", "language_code": "DE"}
    reply = await client.request("DELETE", SUBTITLES, json_body=delete)
    assert reply.status == 200
    assert reply.json["data"] == {"deleted": True}
    info = emulator.media(video_id)
    assert info is not None and info["subtitles"] == []


async def test_subtitles_in_the_same_language_replace_the_earlier_ones(
    client: RawClient, emulator: Emulator, video: bytes, vtt: bytes
) -> None:
    video_id = await client.v2_upload(video, "video/mp4", "tweet_video")
    first = await client.v2_upload(vtt, "text/vtt", "subtitles")
    second = await client.v2_upload(vtt, "text/vtt", "subtitles")
    for subtitle_id in (first, second):
        entry = {"id": subtitle_id, "language_code": "EN", "display_name": "English"}
        body = {"id": video_id, "media_category": "TweetVideo", "subtitles": entry}
        assert (await client.request("POST", SUBTITLES, json_body=body)).status == 200
    info = emulator.media(video_id)
    assert info is not None and [s["media_id"] for s in info["subtitles"]] == [second]


async def test_deleting_absent_subtitles_is_404_problem(client: RawClient, video: bytes) -> None:
    video_id = await client.v2_upload(video, "video/mp4", "tweet_video")
    body = {"id": video_id, "media_category": "TweetVideo", "language_code": "FR"}
    assert_problem(await client.request("DELETE", SUBTITLES, json_body=body), 404)


# --- segments -----------------------------------------------------------------------------
async def test_segment_index_1000_is_400_problem(client: RawClient, png: bytes) -> None:
    media_id = await init_id(client, png, "image/png", "tweet_image")
    assert (await client.v2_append(media_id, 999, png)).status == 200
    reply = await client.v2_append(media_id, 1000, png)
    assert_problem(reply, 400, "SegmentIndex must be between 0 and 999.")


@with_config(SMALL_CHUNKS, "max-chunk-1KiB")
async def test_chunk_over_the_size_limit_is_refused(
    client: RawClient, emulator: Emulator, big_png: bytes
) -> None:
    media_id = await init_id(client, big_png, "image/png", "tweet_image")
    for as_json in (False, True):
        reply = await client.v2_append(media_id, 0, big_png[:1025], as_json=as_json)
        assert "1024" in assert_problem(reply, 400)["detail"]
    for index, chunk in enumerate(chunks(big_png, 1024)):
        assert (await client.v2_append(media_id, index, chunk, as_json=True)).status == 200
    assert (await client.v2_finalize(media_id)).status == 200
    info = emulator.media(media_id)
    assert info is not None and info["sha256"] == sha256(big_png)


async def test_resent_segment_replaces_the_earlier_bytes(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    media_id = await init_id(client, png, "image/png", "tweet_image")
    half = len(png) // 2
    await client.v2_append(media_id, 1, png[half:])
    await client.v2_append(media_id, 0, b"\xff" * 10)
    await client.v2_append(media_id, 0, png[:half], as_json=True)
    final = await client.v2_finalize(media_id)
    assert final.status == 200 and final.json["data"]["size"] == len(png)
    info = emulator.media(media_id)
    assert info is not None and info["sha256"] == sha256(png)


async def test_parallel_out_of_order_appends_assemble_byte_exact(
    client: RawClient, emulator: Emulator, big_png: bytes
) -> None:
    media_id = await init_id(client, big_png, "image/png", "tweet_image")
    pieces = list(enumerate(chunks(big_png, 700)))
    random.Random(11).shuffle(pieces)
    replies = await asyncio.gather(
        *(client.v2_append(media_id, i, c, as_json=i % 2 == 0) for i, c in pieces)
    )
    assert {r.status for r in replies} == {200}
    assert (await client.v2_finalize(media_id)).status == 200
    info = emulator.media(media_id)
    assert info is not None and info["sha256"] == sha256(big_png)


@pytest.mark.parametrize("flaw", ["gap", "wrong-total"])
async def test_finalize_with_a_gap_or_wrong_total_is_400_problem(
    client: RawClient, png: bytes, flaw: str
) -> None:
    declared = len(png) if flaw == "gap" else len(png) + 10
    media_id = (await client.v2_init(declared, "image/png", "tweet_image")).json["data"]["id"]
    if flaw == "gap":
        await client.v2_append(media_id, 1, png)
    else:
        await client.v2_append(media_id, 0, png)
    reply = await client.v2_finalize(media_id)
    assert_problem(reply, 400, "Segments do not add up to provided total file size.")


async def test_append_after_finalize_is_refused(client: RawClient, png: bytes) -> None:
    media_id = await client.v2_upload(png, "image/png", "tweet_image")
    assert_problem(await client.v2_append(media_id, 1, b"late"), 400)


async def test_finalize_twice_is_idempotent(client: RawClient, video: bytes) -> None:
    media_id = await client.v2_upload(video, "video/mp4", "tweet_video")
    again = await client.v2_finalize(media_id)
    assert again.status == 200
    assert again.json["data"]["id"] == media_id
    assert again.json["data"]["size"] == len(video)


async def test_concurrent_finalizes_of_one_id_all_succeed_alike(
    client: RawClient, video: bytes
) -> None:
    media_id = await init_id(client, video, "video/mp4", "tweet_video")
    for index, chunk in enumerate(chunks(video, 4096)):
        assert (await client.v2_append(media_id, index, chunk)).status == 200
    replies = await asyncio.gather(*(client.v2_finalize(media_id) for _ in range(4)))
    assert [r.status for r in replies] == [200] * 4
    assert {r.json["data"]["media_key"] for r in replies} == {f"7_{media_id}"}


# --- errors ------------------------------------------------------------------------------
async def test_unknown_media_id_is_a_problem_on_every_endpoint(client: RawClient) -> None:
    unknown = "1234567890123456789"
    replies = [
        await client.v2_append(unknown, 0, b"x"),
        await client.v2_finalize(unknown),
        await client.v2_status(unknown),
        await client.request(
            "POST", METADATA, json_body={"id": unknown, "metadata": {"alt_text": {"text": "x"}}}
        ),
    ]
    for reply in replies:
        body = assert_problem(reply, 400)
        assert unknown in body["detail"]


async def test_expired_upload_is_a_problem(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    media_id = await init_id(client, png, "image/png", "tweet_image")
    emulator.advance(1296000)
    body = assert_problem(await client.v2_append(media_id, 0, png), 400)
    assert "expired" in body["detail"]


@with_config(TWO_USERS, "two-users")
async def test_media_of_another_user_is_not_found(
    emulator: Emulator, http: aiohttp.ClientSession, png: bytes
) -> None:
    alice = RawClient(http, emulator, ALICE)
    bob = RawClient(http, emulator, BOB, bearer="bob-user-token")
    media_id = await alice.v2_upload(png, "image/png", "tweet_image")
    for reply in (await bob.v2_status(media_id), await bob.v2_finalize(media_id)):
        body = assert_problem(reply, 400)
        assert "not found" in body["detail"]
    assert (await alice.v2_status(media_id)).status == 200


@with_config(TWO_USERS, "two-users")
async def test_oauth2_user_token_uploads_as_its_user(
    emulator: Emulator, http: aiohttp.ClientSession, png: bytes
) -> None:
    bob = RawClient(http, emulator, BOB, bearer="bob-user-token")
    media_id = await bob.v2_upload(png, "image/png", "tweet_image")
    info = emulator.media(media_id)
    assert info is not None and info["owner"] == BOB.id and info["dialect"] == "v2"


@with_config(TWO_USERS, "two-users")
async def test_additional_owners_array_shares_the_media(
    emulator: Emulator, http: aiohttp.ClientSession, png: bytes
) -> None:
    alice, bob = RawClient(http, emulator, ALICE), RawClient(http, emulator, BOB)
    body = {
        "total_bytes": len(png),
        "media_type": "image/png",
        "media_category": "tweet_image",
        "additional_owners": [BOB.id],
    }
    media_id = (await alice.request("POST", INITIALIZE, json_body=body)).json["data"]["id"]
    assert (await bob.v2_append(media_id, 0, png)).status == 200
    assert (await alice.v2_finalize(media_id)).status == 200
    assert (await bob.v2_status(media_id)).status == 200


async def test_invalid_json_body_is_400_problem(client: RawClient) -> None:
    reply = await client.request(
        "POST", INITIALIZE, raw_body=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_problem(reply, 400, "Request body is not valid JSON.")
