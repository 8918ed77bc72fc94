"""v2 one-shot, metadata and subtitles requests, as X's published contract defines them.

One-shot: ``media`` and ``media_category`` (one-shot list) required, ``additional_owners``
a comma-separated string, no ``shared``. Metadata: ``id`` and the ``metadata`` keys of
section 3, each typed; one request may set alt text, download permission and the
sensitive-media warning together, and the emulator shows all three. Subtitles:
``TweetVideo``/``AmplifyVideo`` matching the video, ``language_code`` two upper-case
letters. v1.1 metadata also takes ``sensitive_media_warning`` and stays lenient.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from bulkup.emulator import Emulator
from bulkup.media import samples
from tests.apiclient import Part, RawClient, Reply
from tests.emulator.test_emulator_v2 import assert_problem

pytestmark = pytest.mark.anyio

UPLOAD = "/2/media/upload"
METADATA = "/2/media/metadata"
SUBTITLES = "/2/media/subtitles"
V1_METADATA = "/1.1/media/metadata/create.json"
NOT_JSON = "Requests with bodies must have content-type of application/json."


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def vtt(media_dir: Path) -> bytes:
    return samples.write_vtt(media_dir / "contract.vtt").read_bytes()


# --- one-shot -----------------------------------------------------------------------------
async def one_shot(
    client: RawClient, png: bytes, *extra: Part, category: str = "tweet_image"
) -> Reply:
    parts = [Part("media_category", category), Part("media", png, filename="i.png"), *extra]
    return await client.request("POST", UPLOAD, parts=parts)


@pytest.mark.parametrize("as_json", [False, True], ids=["multipart", "json"])
async def test_one_shot_has_no_shared_field(
    client: RawClient, emulator: Emulator, png: bytes, as_json: bool
) -> None:
    if as_json:
        body = {"media": b64(png), "media_category": "tweet_image", "shared": True}
        reply = await client.request("POST", UPLOAD, json_body=body)
    else:
        reply = await one_shot(client, png, Part("shared", "true"))
    assert "'shared'" in assert_problem(reply, 400)["detail"]
    assert emulator.all_media() == []


@pytest.mark.parametrize("as_json", [False, True], ids=["multipart", "json"])
async def test_one_shot_additional_owners_is_a_comma_separated_string(
    client: RawClient, emulator: Emulator, png: bytes, as_json: bool
) -> None:
    owners = "12,3000000000000000002"
    if as_json:
        body = {"media": b64(png), "media_category": "tweet_image", "additional_owners": owners}
        reply = await client.request("POST", UPLOAD, json_body=body)
    else:
        reply = await one_shot(client, png, Part("additional_owners", owners))
    assert reply.status == 200, reply.raw
    info = emulator.media(reply.json["data"]["id"])
    assert info is not None and info["additional_owners"] == ["12", "3000000000000000002"]


async def test_one_shot_refuses_additional_owners_as_an_array(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    body = {"media": b64(png), "media_category": "tweet_image", "additional_owners": ["12"]}
    reply = await client.request("POST", UPLOAD, json_body=body)
    assert "additional_owners" in assert_problem(reply, 400)["detail"]
    assert emulator.all_media() == []


@pytest.mark.parametrize("category", ["amplify_video", "TweetImage", "TWEET_IMAGE", "image"])
async def test_one_shot_category_comes_from_the_one_shot_list(
    client: RawClient, emulator: Emulator, png: bytes, category: str
) -> None:
    reply = await one_shot(client, png, category=category)
    assert "media_category" in assert_problem(reply, 400)["detail"]
    assert emulator.all_media() == []


@pytest.mark.parametrize(
    "parts",
    [
        [Part("media_category", "tweet_image"), Part("media_data", "aGk=")],
        [Part("media_category", "tweet_image")],
        [Part("media_category", "tweet_image"), Part("media", b"x", "i"), Part("media_type", "x")],
    ],
    ids=["media_data", "no-media", "media_type"],
)
async def test_one_shot_takes_media_and_the_contracts_fields_only(
    client: RawClient, emulator: Emulator, parts: list[Part]
) -> None:
    assert_problem(await client.request("POST", UPLOAD, parts=parts), 400)
    assert emulator.all_media() == []


async def test_one_shot_refuses_a_form_body(client: RawClient, png: bytes) -> None:
    form = {"media_category": "tweet_image", "media_data": b64(png)}
    reply = await client.request("POST", UPLOAD, form=form)
    assert "content-type" in assert_problem(reply, 400)["detail"]


# --- metadata -----------------------------------------------------------------------------
async def set_metadata(client: RawClient, media_id: str, metadata: Any) -> Reply:
    body = {"id": media_id, "metadata": metadata}
    return await client.request("POST", METADATA, json_body=body)


async def test_one_metadata_request_sets_alt_text_download_and_warning_together(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    media_id = await client.v2_upload(png, "image/png", "tweet_image")
    metadata = {
        "alt_text": {"text": "a noisy square"},
        "allow_download_status": {"allow_download": False},
        "sensitive_media_warning": {
            "adult_content": True,
            "graphic_violence": False,
            "other": True,
        },
    }
    reply = await set_metadata(client, media_id, metadata)
    assert reply.status == 200, reply.raw
    assert reply.json["data"] == {"id": media_id, "associated_metadata": metadata}
    info = emulator.media(media_id)
    assert info is not None
    assert info["alt_text"] == "a noisy square"
    assert info["allow_download"] is False
    assert info["sensitive_media_warning"] == ["adult_content", "other"]


async def test_metadata_the_contract_defines_is_accepted_and_shown(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    media_id = await client.v2_upload(png, "image/png", "tweet_image")
    metadata = {
        "found_media_origin": {"id": "abc123", "provider": "giphy"},
        "content_expiration": {"timestamp_sec": 1900000000},
        "upload_source": {"upload_source": "bulkup"},
    }
    assert (await set_metadata(client, media_id, metadata)).status == 200
    info = emulator.media(media_id)
    assert info is not None and info["metadata"] == metadata
    assert (info["alt_text"], info["allow_download"], info["sensitive_media_warning"]) == (
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"id": "{id}", "metadata": {}, "alt_text": {"text": "x"}}, "'alt_text'"),
        ({"media_id": "{id}", "metadata": {"alt_text": {"text": "x"}}}, "'media_id'"),
        ({"id": "{id}", "metadata": {"alt": {"text": "x"}}}, "'metadata.alt'"),
        ({"id": "{id}", "metadata": {"alt_text": {"text": "x", "lang": "en"}}}, "lang"),
        (
            {"id": "{id}", "metadata": {"allow_download_status": {"allow_download": "no"}}},
            "allow_download",
        ),
        (
            {"id": "{id}", "metadata": {"sensitive_media_warning": {"adult_content": 1}}},
            "adult_content",
        ),
        (
            {"id": "{id}", "metadata": {"sensitive_media_warning": ["adult_content"]}},
            "sensitive_media_warning",
        ),
        ({"id": "{id}", "metadata": "alt"}, "metadata"),
        ({"metadata": {"alt_text": {"text": "x"}}}, "id"),
        ({"id": 1234, "metadata": {"alt_text": {"text": "x"}}}, "^[0-9]{1,19}$"),
    ],
    ids=[
        "top-level-alt_text",
        "media_id",
        "unknown-key",
        "inner-unknown",
        "download-string",
        "warning-number",
        "warning-v1-list",
        "metadata-string",
        "no-id",
        "numeric-id",
    ],
)
async def test_metadata_refuses_what_the_contract_does_not_define_and_sets_nothing(
    client: RawClient, emulator: Emulator, png: bytes, body: dict[str, Any], named: str
) -> None:
    media_id = await client.v2_upload(png, "image/png", "tweet_image")
    body = {k: (media_id if v == "{id}" else v) for k, v in body.items()}
    body.setdefault("metadata", {})
    if isinstance(body["metadata"], dict):
        body["metadata"] = {"alt_text": {"text": "set?"}, **body["metadata"]}
    reply = await client.request("POST", METADATA, json_body=body)
    assert named in assert_problem(reply, 400)["detail"]
    assert (emulator.media(media_id) or {})["alt_text"] is None


async def test_metadata_refuses_a_form_body(client: RawClient, png: bytes) -> None:
    media_id = await client.v2_upload(png, "image/png", "tweet_image")
    reply = await client.request("POST", METADATA, form={"id": media_id, "alt_text": "x"})
    assert_problem(reply, 400, NOT_JSON)


async def test_download_permission_and_warning_may_be_set_on_a_video(
    client: RawClient, emulator: Emulator, video: bytes
) -> None:
    media_id = await client.v2_upload(video, "video/mp4", "tweet_video")
    metadata = {
        "allow_download_status": {"allow_download": True},
        "sensitive_media_warning": {"graphic_violence": True},
    }
    assert (await set_metadata(client, media_id, metadata)).status == 200
    info = emulator.media(media_id)
    assert info is not None
    assert (info["allow_download"], info["sensitive_media_warning"]) == (True, ["graphic_violence"])


# --- v1.1 metadata ---------------------------------------------------------------------
async def test_v1_metadata_takes_alt_text_and_a_sensitive_media_warning_list(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    media_id = await client.v1_upload(png, "image/png", "tweet_image")
    body = {
        "media_id": media_id,
        "alt_text": {"text": "a square"},
        "sensitive_media_warning": ["adult_content", "other"],
        "unknown_field": "v1.1 ignores it",
    }
    reply = await client.request("POST", V1_METADATA, json_body=body)
    assert reply.status == 200, reply.raw
    info = emulator.media(media_id)
    assert info is not None and info["alt_text"] == "a square"
    assert info["sensitive_media_warning"] == ["adult_content", "other"]


async def test_v1_metadata_may_carry_only_a_warning(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    media_id = await client.v1_upload(png, "image/png", "tweet_image")
    body = {"media_id": media_id, "sensitive_media_warning": ["graphic_violence"]}
    assert (await client.request("POST", V1_METADATA, json_body=body)).status == 200
    info = emulator.media(media_id)
    assert info is not None and info["sensitive_media_warning"] == ["graphic_violence"]
    assert info["alt_text"] is None


@pytest.mark.parametrize("warning", ["adult_content", ["nsfw"], [1]], ids=repr)
async def test_v1_metadata_warning_is_a_list_of_the_three_names(
    client: RawClient, png: bytes, warning: object
) -> None:
    media_id = await client.v1_upload(png, "image/png", "tweet_image")
    body = {"media_id": media_id, "sensitive_media_warning": warning}
    reply = await client.request("POST", V1_METADATA, json_body=body)
    assert reply.status == 400
    assert "sensitive_media_warning" in reply.json["error"]


# --- subtitles ------------------------------------------------------------------------
async def video_and_subtitle(
    client: RawClient, video: bytes, vtt: bytes, category: str = "tweet_video"
) -> tuple[str, str]:
    video_id = await client.v2_upload(video, "video/mp4", category)
    subtitle_id = await client.v2_upload(vtt, "text/vtt", "subtitles")
    return video_id, subtitle_id


def create_body(video_id: str, subtitle_id: str, **changes: Any) -> dict[str, Any]:
    entry = {"id": subtitle_id, "language_code": "EN", "display_name": "English"}
    body = {"id": video_id, "media_category": "TweetVideo", "subtitles": entry}
    for key, value in changes.items():
        if key.startswith("sub_"):
            entry[key[4:]] = value
        else:
            body[key] = value
    return body


@pytest.mark.parametrize("category", ["tweet_video", "amplify_video"])
async def test_subtitles_attach_with_the_videos_category_in_the_v2_spelling(
    client: RawClient, emulator: Emulator, video: bytes, vtt: bytes, category: str
) -> None:
    video_id, subtitle_id = await video_and_subtitle(client, video, vtt, category)
    spelling = "TweetVideo" if category == "tweet_video" else "AmplifyVideo"
    body = create_body(video_id, subtitle_id, media_category=spelling)
    reply = await client.request("POST", SUBTITLES, json_body=body)
    assert reply.status == 200, reply.raw
    assert reply.json["data"]["media_category"] == spelling
    info = emulator.media(video_id)
    assert info is not None and [s["media_id"] for s in info["subtitles"]] == [subtitle_id]


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"media_category": "tweet_video"}, "media_category"),
        ({"media_category": "AmplifyVideo"}, "media_category"),
        ({"sub_language_code": "en"}, "language_code"),
        ({"sub_language_code": "pt-BR"}, "language_code"),
        ({"sub_language_code": "ENG"}, "language_code"),
        ({"sub_display_name": None}, "display_name"),
        ({"sub_media_id": "1"}, "'subtitles.media_id'"),
        ({"language_code": "EN"}, "'language_code'"),
        ({"media_category": None}, "media_category"),
    ],
    ids=[
        "v1-category",
        "other-category",
        "lower-case",
        "region",
        "three-letters",
        "no-display-name",
        "inner-unknown",
        "top-unknown",
        "no-category",
    ],
)
async def test_subtitles_create_refuses_what_the_contract_refuses(
    client: RawClient,
    emulator: Emulator,
    video: bytes,
    vtt: bytes,
    changes: dict[str, Any],
    named: str,
) -> None:
    video_id, subtitle_id = await video_and_subtitle(client, video, vtt)
    body = create_body(video_id, subtitle_id, **changes)
    for key in [k for k, v in body.items() if v is None]:
        del body[key]
    body["subtitles"] = {k: v for k, v in body["subtitles"].items() if v is not None}
    reply = await client.request("POST", SUBTITLES, json_body=body)
    assert named in assert_problem(reply, 400)["detail"]
    assert (emulator.media(video_id) or {})["subtitles"] == []


async def test_subtitles_as_a_list_are_refused(client: RawClient, video: bytes, vtt: bytes) -> None:
    video_id, subtitle_id = await video_and_subtitle(client, video, vtt)
    body = create_body(video_id, subtitle_id)
    body["subtitles"] = [body["subtitles"]]
    assert_problem(await client.request("POST", SUBTITLES, json_body=body), 400)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"media_category": "TweetVideo"}, "language_code"),
        ({"language_code": "EN"}, "media_category"),
        ({"media_category": "TweetVideo", "language_code": "en"}, "language_code"),
        ({"media_category": "tweet_video", "language_code": "EN"}, "media_category"),
        ({"media_category": "TweetVideo", "language_code": "EN", "x": 1}, "'x'"),
    ],
    ids=["no-language", "no-category", "lower-case", "v1-category", "unknown"],
)
async def test_subtitles_delete_needs_id_category_and_language_only(
    client: RawClient,
    emulator: Emulator,
    video: bytes,
    vtt: bytes,
    body: dict[str, Any],
    named: str,
) -> None:
    video_id, subtitle_id = await video_and_subtitle(client, video, vtt)
    create = create_body(video_id, subtitle_id)
    assert (await client.request("POST", SUBTITLES, json_body=create)).status == 200
    reply = await client.request("DELETE", SUBTITLES, json_body={"id": video_id, **body})
    assert named in assert_problem(reply, 400)["detail"]
    assert len((emulator.media(video_id) or {})["subtitles"]) == 1
    delete = {"id": video_id, "media_category": "TweetVideo", "language_code": "EN"}
    reply = await client.request("DELETE", SUBTITLES, json_body=delete)
    assert (reply.status, reply.json) == (200, {"data": {"deleted": True}})
    assert (emulator.media(video_id) or {})["subtitles"] == []
