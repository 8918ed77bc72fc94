"""v2 initialize, append, finalize and STATUS refuse what X's published contract refuses.

Spec section 3 (X's OpenAPI document) is the arbiter: initialize takes a JSON body
only, with ``additionalProperties: false`` and typed fields; append takes exactly
``segment_index`` and ``media``; finalize takes no body or a JSON object; ids match
``^[0-9]{1,19}$``. Every refusal is a 400 RFC 7807 problem, and nothing is created.
v1.1 stays lenient (see ``test_emulator_encodings.py``).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import aiohttp
import pytest

from bulkup.emulator import Emulator
from tests.apiclient import Part, RawClient, Reply, raw_multipart
from tests.contract import test_contract_v2 as contract
from tests.emulator.test_emulator_v2 import assert_problem

pytestmark = pytest.mark.anyio

INITIALIZE = "/2/media/upload/initialize"
UPLOAD = "/2/media/upload"
NOT_JSON = "Requests with bodies must have content-type of application/json."
NOT_AN_OBJECT = "Request body must be a JSON object."
#: X's enumerations, written out once for the tests from spec §3.
MEDIA_TYPES = sorted(contract.MEDIA_TYPES)
CATEGORIES = sorted(contract.INIT_CATEGORIES)


def init_body(**extra: Any) -> dict[str, Any]:
    return {"total_bytes": 10, "media_type": "image/png", **extra}


async def initialize(client: RawClient, body: Any) -> Reply:
    return await client.request("POST", INITIALIZE, json_body=body)


async def new_id(client: RawClient, size: int) -> str:
    reply = await client.v2_init(size, "image/png", "tweet_image")
    assert reply.status == 200, reply.raw
    media_id: str = reply.json["data"]["id"]
    return media_id


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- initialize: JSON only ----------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["form", "multipart", "query-only"])
async def test_initialize_refuses_anything_but_a_json_body(
    client: RawClient, emulator: Emulator, encoding: str
) -> None:
    fields = {"total_bytes": "10", "media_type": "image/png"}
    if encoding == "form":
        reply = await client.request("POST", INITIALIZE, form=fields)
    elif encoding == "multipart":
        parts = [Part(name, value) for name, value in fields.items()]
        reply = await client.request("POST", INITIALIZE, parts=parts)
    else:
        reply = await client.request("POST", INITIALIZE, query=fields)
    assert_problem(reply, 400, NOT_JSON)
    assert emulator.all_media() == []


@pytest.mark.parametrize("field", ["media_id", "command", "segment_index", "mediaType"])
async def test_initialize_refuses_an_unknown_field_naming_it(
    client: RawClient, emulator: Emulator, field: str
) -> None:
    body = assert_problem(await initialize(client, init_body(**{field: "1"})), 400)
    assert f"'{field}'" in body["detail"]
    assert emulator.all_media() == []


async def test_initialize_refuses_a_query_parameter_beside_the_json_body(
    client: RawClient,
) -> None:
    reply = await client.request(
        "POST", INITIALIZE, query={"media_category": "tweet_image"}, json_body=init_body()
    )
    assert "[media_category]" in assert_problem(reply, 400)["detail"]


@pytest.mark.parametrize("total_bytes", ["10", True, 10.5, -1, 17179869185, None], ids=repr)
async def test_initialize_total_bytes_must_be_a_json_integer_in_range(
    client: RawClient, total_bytes: object
) -> None:
    body = assert_problem(await initialize(client, init_body(total_bytes=total_bytes)), 400)
    assert "total_bytes" in body["detail"]


@pytest.mark.parametrize("total_bytes", [0, 17179869184])
async def test_initialize_accepts_total_bytes_at_both_ends(
    client: RawClient, total_bytes: int
) -> None:
    reply = await initialize(client, init_body(total_bytes=total_bytes))
    assert reply.status == 200, reply.raw


@pytest.mark.parametrize("media_type", MEDIA_TYPES)
async def test_initialize_accepts_every_listed_media_type(
    client: RawClient, media_type: str
) -> None:
    reply = await initialize(client, init_body(media_type=media_type))
    assert reply.status == 200, reply.raw


@pytest.mark.parametrize(
    "media_type", ["image/jpg", "application/octet-stream", "IMAGE/PNG", "video/x-matroska", 7]
)
async def test_initialize_refuses_a_media_type_not_listed(
    client: RawClient, media_type: object
) -> None:
    body = assert_problem(await initialize(client, init_body(media_type=media_type)), 400)
    assert "media_type" in body["detail"]


@pytest.mark.parametrize("category", CATEGORIES)
async def test_initialize_accepts_every_lower_case_category(
    client: RawClient, category: str
) -> None:
    reply = await initialize(client, init_body(media_category=category))
    assert reply.status == 200, reply.raw


@pytest.mark.parametrize("category", ["TweetImage", "TWEET_IMAGE", "tweetimage", "tweet-image"])
async def test_initialize_refuses_v1_category_spellings(client: RawClient, category: str) -> None:
    body = assert_problem(await initialize(client, init_body(media_category=category)), 400)
    assert "media_category" in body["detail"] and category in body["detail"]


@pytest.mark.parametrize(
    "owners",
    ["3000000000000000002", [3000000000000000002], ["12345678901234567890"], ["x1"], [""]],
    ids=["string", "integers", "20-digits", "letters", "empty"],
)
async def test_initialize_additional_owners_is_an_array_of_id_strings(
    client: RawClient, owners: object
) -> None:
    body = assert_problem(await initialize(client, init_body(additional_owners=owners)), 400)
    assert "additional_owners" in body["detail"]


@pytest.mark.parametrize("shared", ["true", 1, None], ids=repr)
async def test_initialize_shared_is_a_json_boolean(client: RawClient, shared: object) -> None:
    body = assert_problem(await initialize(client, init_body(shared=shared)), 400)
    assert "shared" in body["detail"]


async def test_initialize_accepts_every_field_of_the_contract_and_keeps_them(
    client: RawClient, emulator: Emulator
) -> None:
    body = init_body(
        media_category="dm_image", additional_owners=["12", "3000000000000000002"], shared=True
    )
    reply = await initialize(client, body)
    assert reply.status == 200, reply.raw
    info = emulator.media(reply.json["data"]["id"])
    assert info is not None
    assert info["additional_owners"] == ["12", "3000000000000000002"]
    assert (info["shared"], info["media_category"]) == (True, "dm_image")


# --- append ---------------------------------------------------------------------------
@pytest.mark.parametrize("media_id", ["12345678901234567890", "abc", "-1"])
async def test_append_path_id_must_be_1_to_19_digits(client: RawClient, media_id: str) -> None:
    reply = await client.v2_append(media_id, 0, b"abc")
    assert "^[0-9]{1,19}$" in assert_problem(reply, 400)["detail"]


@pytest.mark.parametrize(
    "parts",
    [
        [Part("segment_index", "0"), Part("media", b"abc", "b"), Part("media_id", "1")],
        [Part("command", "APPEND"), Part("segment_index", "0"), Part("media", b"abc", "b")],
        [Part("segment_index", "0"), Part("media_data", b64(b"abc"))],
        [Part("segment_index", "0"), Part("segment_index", "1"), Part("media", b"abc", "b")],
    ],
    ids=["media_id", "command", "media_data", "twice"],
)
async def test_append_multipart_takes_exactly_segment_index_and_media(
    client: RawClient, emulator: Emulator, parts: list[Part]
) -> None:
    media_id = await new_id(client, 3)
    reply = await client.request("POST", f"/2/media/upload/{media_id}/append", parts=parts)
    odd = [p.name for p in parts if p.name not in ("segment_index", "media")] or ["segment_index"]
    assert f"'{odd[0]}'" in assert_problem(reply, 400)["detail"]
    assert (emulator.media(media_id) or {})["segments"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"segment_index": "0", "media": b64(b"abc")},
        {"segment_index": True, "media": b64(b"abc")},
        {"segment_index": 0, "media": b64(b"abc"), "media_id": "1"},
        {"segment_index": 0, "media_data": b64(b"abc")},
        {"segment_index": 0},
        {"media": b64(b"abc")},
        {"segment_index": 1000, "media": b64(b"abc")},
    ],
    ids=["string-index", "bool-index", "extra", "media_data", "no-media", "no-index", "1000"],
)
async def test_append_json_takes_an_integer_index_and_base64_media_only(
    client: RawClient, emulator: Emulator, body: dict[str, Any]
) -> None:
    media_id = await new_id(client, 3)
    reply = await client.request("POST", f"/2/media/upload/{media_id}/append", json_body=body)
    assert_problem(reply, 400)
    assert (emulator.media(media_id) or {})["segments"] == []


async def test_append_refuses_a_form_body_and_a_query_parameter(
    client: RawClient, emulator: Emulator
) -> None:
    media_id = await new_id(client, 3)
    path = f"/2/media/upload/{media_id}/append"
    form = {"segment_index": "0", "media_data": b64(b"abc")}
    assert (
        "content-type"
        in assert_problem(await client.request("POST", path, form=form), 400)["detail"]
    )
    reply = await client.request(
        "POST", path, query={"segment_index": "0"}, parts=[Part("media", b"abc", "b")]
    )
    assert "[segment_index]" in assert_problem(reply, 400)["detail"]
    assert (emulator.media(media_id) or {})["segments"] == []


async def test_append_with_base64_transfer_encoding_on_media_is_still_accepted(
    client: RawClient, emulator: Emulator
) -> None:
    media_id = await new_id(client, 3)
    parts = [
        Part("segment_index", "0"),
        Part("media", b64(b"abc").encode(), headers={"Content-Transfer-Encoding": "base64"}),
    ]
    body, content_type = raw_multipart(parts)
    path = f"/2/media/upload/{media_id}/append"
    reply = await client.request(
        "POST", path, raw_body=body, headers={"Content-Type": content_type}
    )
    assert reply.status == 200, reply.raw
    assert (emulator.media(media_id) or {})["received_bytes"] == 3


# --- finalize ---------------------------------------------------------------------------
async def appended(client: RawClient, png: bytes) -> str:
    media_id = await new_id(client, len(png))
    assert (await client.v2_append(media_id, 0, png)).status == 200
    return media_id


async def post_finalize(
    client: RawClient, http: aiohttp.ClientSession, media_id: str, **kwargs: Any
) -> Reply:
    """POST finalize with aiohttp itself, exactly as ``kwargs`` say (signed, OAuth 1.0a)."""
    url = client.url(f"/2/media/upload/{media_id}/finalize")
    headers = {"Authorization": client.auth_header("POST", url), **kwargs.pop("headers", {})}
    async with http.post(url, headers=headers, **kwargs) as resp:
        return Reply(resp.status, dict(resp.headers), await resp.read())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"skip_auto_headers": ["Content-Type"]},
        {"json": {}},
        {"json": {"note": "any JSON object"}},
    ],
    ids=["no-body-no-content-type", "json-empty-object", "json-object"],
)
async def test_finalize_accepts_no_body_or_a_json_object(
    client: RawClient,
    emulator: Emulator,
    http: aiohttp.ClientSession,
    png: bytes,
    kwargs: dict[str, Any],
) -> None:
    media_id = await appended(client, png)
    reply = await post_finalize(client, http, media_id, **kwargs)
    assert reply.status == 200, reply.raw
    info = emulator.media(media_id)
    assert info is not None and info["sha256"] == hashlib.sha256(png).hexdigest()


@pytest.mark.parametrize(
    ("kwargs", "detail"),
    [
        ({}, NOT_JSON),  # aiohttp labels an empty POST application/octet-stream
        ({"data": b"", "headers": {"Content-Type": "application/json"}}, NOT_AN_OBJECT),
        ({"data": b"[]", "headers": {"Content-Type": "application/json"}}, NOT_AN_OBJECT),
        ({"data": b"{}", "headers": {"Content-Type": "text/plain"}}, NOT_JSON),
        ({"data": {"media_id": "1"}}, NOT_JSON),  # a form
        ({"data": b"{}", "skip_auto_headers": ["Content-Type"]}, NOT_JSON),
    ],
    ids=["aiohttp-default", "empty-json", "json-array", "text-plain", "form", "unlabelled-body"],
)
async def test_finalize_refuses_other_bodies_and_labels(
    client: RawClient,
    emulator: Emulator,
    http: aiohttp.ClientSession,
    png: bytes,
    kwargs: dict[str, Any],
    detail: str,
) -> None:
    media_id = await appended(client, png)
    if isinstance(kwargs.get("data"), dict):  # a form is signed over its fields
        url = client.url(f"/2/media/upload/{media_id}/finalize")
        kwargs["headers"] = {"Authorization": client.auth_header("POST", url, kwargs["data"])}
    reply = await post_finalize(client, http, media_id, **kwargs)
    assert_problem(reply, 400, detail)
    assert (emulator.media(media_id) or {})["state"] == "uploading"


async def test_finalize_refuses_a_query_parameter(client: RawClient, png: bytes) -> None:
    media_id = await appended(client, png)
    path = f"/2/media/upload/{media_id}/finalize"
    reply = await client.request("POST", path, query={"command": "FINALIZE"}, json_body={})
    assert "[command]" in assert_problem(reply, 400)["detail"]


@pytest.mark.parametrize("media_id", ["12345678901234567890", "x"])
async def test_finalize_path_id_must_be_1_to_19_digits(client: RawClient, media_id: str) -> None:
    reply = await client.v2_finalize(media_id)
    assert "^[0-9]{1,19}$" in assert_problem(reply, 400)["detail"]


# --- STATUS -------------------------------------------------------------------------------
async def test_status_refuses_an_unknown_query_parameter(client: RawClient, png: bytes) -> None:
    media_id = await client.v2_upload(png, "image/png", "tweet_image")
    query = {"media_id": media_id, "command": "STATUS", "media_key": f"3_{media_id}"}
    reply = await client.request("GET", UPLOAD, query=query)
    assert "[media_key]" in assert_problem(reply, 400)["detail"]


async def test_status_media_id_must_be_1_to_19_digits(client: RawClient) -> None:
    reply = await client.request("GET", UPLOAD, query={"media_id": "12345678901234567890"})
    assert "^[0-9]{1,19}$" in assert_problem(reply, 400)["detail"]
