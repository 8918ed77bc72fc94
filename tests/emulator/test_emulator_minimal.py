"""Minimal answers: every success carries only what the published contract requires.

With ``[answers] minimal = true`` (``EmulatorConfig(answers=Answers(minimal=True))``),
v2 answers keep ``data.id`` and, while media is not ready or has failed,
``processing_info.state``; APPEND answers in turn a 204, ``{}`` and ``{"data": {}}``;
subtitles ``{"data": {}}``. v1.1 answers keep the two ids (and the processing state).
A client that reads more than the required fields fails against this profile.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bulkup.emulator import Answers, ConfigError, Emulator, EmulatorConfig, Lifetimes
from bulkup.media import samples
from tests.apiclient import Part, RawClient, Reply

pytestmark = pytest.mark.anyio

PROCESSING_SECS = 10


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    lifetimes = Lifetimes(processing_secs=PROCESSING_SECS, check_after_secs=1)
    return EmulatorConfig(lifetimes=lifetimes, answers=Answers(minimal=True))


@pytest.fixture(scope="module")
def vtt(media_dir: Path) -> bytes:
    return samples.write_vtt(media_dir / "minimal.vtt").read_bytes()


def body(reply: Reply) -> object:
    return reply.json if reply.raw else None


# --- the setting --------------------------------------------------------------------------
def test_minimal_answers_is_a_profile_setting_validated_by_key() -> None:
    assert EmulatorConfig().answers.minimal is False
    config = EmulatorConfig.from_mapping({"answers": {"minimal": True}})
    assert config.answers == Answers(minimal=True)
    with pytest.raises(ConfigError, match=r"\[answers\]: unknown key\(s\) \['minimum'\]"):
        EmulatorConfig.from_mapping({"answers": {"minimum": True}})
    with pytest.raises(ConfigError, match=r"answers\.minimal must be true or false"):
        EmulatorConfig.from_mapping({"answers": {"minimal": "yes"}})


# --- v2 -----------------------------------------------------------------------------------
async def test_v2_chunked_upload_answers_only_the_id_and_appends_in_three_ways(
    client: RawClient, emulator: Emulator, big_png: bytes
) -> None:
    init = await client.v2_init(len(big_png), "image/png", "tweet_image")
    assert (init.status, init.json) == (200, {"data": {"id": init.json["data"]["id"]}})
    media_id = init.json["data"]["id"]
    size = len(big_png) // 5 + 1
    appends = [
        await client.v2_append(media_id, i, big_png[i * size : (i + 1) * size]) for i in range(5)
    ]
    assert [(r.status, body(r)) for r in appends] == [
        (204, None),
        (200, {}),
        (200, {"data": {}}),
        (204, None),
        (200, {}),
    ]
    final = await client.v2_finalize(media_id)
    assert (final.status, final.json) == (200, {"data": {"id": media_id}})
    status = await client.v2_status(media_id)
    assert status.json == {"data": {"id": media_id}}  # ready: no processing_info at all
    info = emulator.media(media_id)
    assert info is not None and info["sha256"] == hashlib.sha256(big_png).hexdigest()


async def test_v2_processing_shows_only_its_state_until_ready(
    client: RawClient, emulator: Emulator, gif: bytes
) -> None:
    media_id = await client.v2_upload(gif, "image/gif", "tweet_gif")
    final = await client.v2_finalize(media_id)  # again: answered with the current state
    assert final.json == {"data": {"id": media_id, "processing_info": {"state": "pending"}}}
    first = await client.v2_status(media_id)
    assert first.json == {"data": {"id": media_id, "processing_info": {"state": "in_progress"}}}
    emulator.advance(PROCESSING_SECS)
    assert (await client.v2_status(media_id)).json == {"data": {"id": media_id}}


async def test_v2_failed_processing_keeps_its_state_without_details(
    client: RawClient, emulator: Emulator, gif: bytes
) -> None:
    emulator.faults.schedule("processing_failure")
    media_id = await client.v2_upload(gif, "image/gif", "tweet_gif")
    await client.v2_status(media_id)
    emulator.advance(PROCESSING_SECS)
    status = await client.v2_status(media_id)
    assert status.json == {"data": {"id": media_id, "processing_info": {"state": "failed"}}}


async def test_v2_one_shot_metadata_and_subtitles_answer_the_minimum(
    client: RawClient, emulator: Emulator, png: bytes, video: bytes, vtt: bytes
) -> None:
    parts = [Part("media_category", "tweet_image"), Part("media", png, filename="i.png")]
    one_shot = await client.request("POST", "/2/media/upload", parts=parts)
    image_id = one_shot.json["data"]["id"]
    assert one_shot.json == {"data": {"id": image_id}}

    meta = {"id": image_id, "metadata": {"alt_text": {"text": "a square"}}}
    reply = await client.request("POST", "/2/media/metadata", json_body=meta)
    assert reply.json == {"data": {"id": image_id}}
    assert (emulator.media(image_id) or {})["alt_text"] == "a square"

    video_id = await client.v2_upload(video, "video/mp4", "tweet_video")
    subtitle_id = await client.v2_upload(vtt, "text/vtt", "subtitles")
    entry = {"id": subtitle_id, "language_code": "EN", "display_name": "English"}
    create = {"id": video_id, "media_category": "TweetVideo", "subtitles": entry}
    reply = await client.request("POST", "/2/media/subtitles", json_body=create)
    assert (reply.status, reply.json) == (200, {"data": {}})
    delete = {"id": video_id, "media_category": "TweetVideo", "language_code": "EN"}
    reply = await client.request("DELETE", "/2/media/subtitles", json_body=delete)
    assert (reply.status, reply.json) == (200, {"data": {}})
    assert (emulator.media(video_id) or {})["subtitles"] == []


# --- v1.1 ---------------------------------------------------------------------------------
async def test_v1_answers_carry_the_ids_and_the_processing_state_only(
    client: RawClient, emulator: Emulator, gif: bytes, png: bytes
) -> None:
    init = await client.v1_init(len(gif), "image/gif", "tweet_gif")
    media_id = init.json["media_id_string"]
    ids = {"media_id": int(media_id), "media_id_string": media_id}
    assert (init.status, init.json) == (202, ids)
    append = await client.v1_append(media_id, 0, gif)
    assert (append.status, append.raw) == (204, b"")
    final = await client.v1_finalize(media_id)
    assert final.json == {**ids, "processing_info": {"state": "pending"}}
    assert (await client.v1_status(media_id)).json == {
        **ids,
        "processing_info": {"state": "in_progress"},
    }
    emulator.advance(PROCESSING_SECS)
    assert (await client.v1_status(media_id)).json == ids

    simple = await client.request("POST", "/1.1/media/upload.json", parts=[Part("media", png)])
    simple_id = simple.json["media_id_string"]
    assert simple.json == {"media_id": int(simple_id), "media_id_string": simple_id}
