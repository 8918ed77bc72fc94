"""Every v2 request the client can make, held against X's published contract (spec §3).

The contract below is written out here from ``shared/spec/x-media-upload.md`` §3 (X's
OpenAPI document), not imported from the client: field sets, types, enumerations,
patterns and ranges. Each request is built by the client's own dialect and sent by its
own transport over a real socket to a server that only records what arrived, so what
is checked is what goes on the wire (method, path, query, content type, body).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bulkup.auth.credentials import BearerAuth
from bulkup.client.pacing import Pacer
from bulkup.client.transport import Transport
from bulkup.core.dialects import V2, HttpRequest
from bulkup.core.items import Metadata
from bulkup.core.steps import Append, Finalize, Init, Plan, SimpleUpload, Status

pytestmark = pytest.mark.anyio

# --- the contract, from spec §3 ---------------------------------------------------------
ID = re.compile(r"^[0-9]{1,19}$")
MEDIA_TYPES = {
    "video/mp4",
    "video/webm",
    "video/mp2t",
    "video/quicktime",
    "text/srt",
    "text/vtt",
    "image/jpeg",
    "image/gif",
    "image/bmp",
    "image/png",
    "image/webp",
    "image/pjpeg",
    "image/tiff",
    "model/gltf-binary",
    "model/vnd.usdz+zip",
}
INIT_CATEGORIES = {
    "amplify_video",
    "tweet_gif",
    "tweet_image",
    "tweet_video",
    "dm_gif",
    "dm_image",
    "dm_video",
    "subtitles",
}
ONE_SHOT_CATEGORIES = {
    "tweet_image",
    "tweet_video",
    "tweet_gif",
    "dm_image",
    "dm_video",
    "dm_gif",
    "subtitles",
}
SUBTITLE_CATEGORIES = {"TweetVideo", "AmplifyVideo"}
LANGUAGE = re.compile(r"^[A-Z]{2}$")
MAX_TOTAL_BYTES = 17179869184


Check = Callable[[Any, str], None]


def integer(low: int, high: int) -> Check:
    def check(value: Any, where: str) -> None:
        assert isinstance(value, int) and not isinstance(value, bool), f"{where}: not an integer"
        assert low <= value <= high, f"{where}: {value} outside {low}..{high}"

    return check


def one_of(choices: set[str]) -> Check:
    def check(value: Any, where: str) -> None:
        assert value in choices, f"{where}: {value!r} not in the enumeration"

    return check


def matches(pattern: re.Pattern[str]) -> Check:
    def check(value: Any, where: str) -> None:
        assert isinstance(value, str) and pattern.match(value), f"{where}: {value!r} mismatch"

    return check


def boolean(value: Any, where: str) -> None:
    assert isinstance(value, bool), f"{where}: not a boolean"


def text(max_length: int | None = None) -> Check:
    def check(value: Any, where: str) -> None:
        assert isinstance(value, str), f"{where}: not a string"
        assert max_length is None or len(value) <= max_length, f"{where}: too long"

    return check


def array(item: Check, max_items: int | None = None) -> Check:
    def check(value: Any, where: str) -> None:
        assert isinstance(value, list), f"{where}: not an array"
        assert max_items is None or len(value) <= max_items
        for i, element in enumerate(value):
            item(element, f"{where}[{i}]")

    return check


def comma_separated(item: Check) -> Check:
    def check(value: Any, where: str) -> None:
        assert isinstance(value, str), f"{where}: not a string"
        for part in value.split(","):
            item(part, where)

    return check


@dataclass(frozen=True)
class Obj:
    """A JSON object: its fields' checks, the required ones; no other field allowed."""

    fields: Mapping[str, Check | Obj]
    required: frozenset[str] = frozenset()

    def __call__(self, value: Any, where: str) -> None:
        assert isinstance(value, dict), f"{where}: not an object"
        unknown = set(value) - set(self.fields)
        assert not unknown, f"{where}: fields outside the contract: {sorted(unknown)}"
        missing = self.required - set(value)
        assert not missing, f"{where}: required fields missing: {sorted(missing)}"
        for name, field_value in value.items():
            self.fields[name](field_value, f"{where}.{name}")


INITIALIZE = Obj(
    {
        "total_bytes": integer(0, MAX_TOTAL_BYTES),
        "media_type": one_of(MEDIA_TYPES),
        "media_category": one_of(INIT_CATEGORIES),
        "additional_owners": array(matches(ID)),
        "shared": boolean,
    },
    frozenset({"total_bytes", "media_type"}),
)
METADATA = Obj(
    {
        "id": matches(ID),
        "metadata": Obj(
            {
                "alt_text": Obj({"text": text(1000)}, frozenset({"text"})),
                "allow_download_status": Obj({"allow_download": boolean}),
                "sensitive_media_warning": Obj(
                    {"adult_content": boolean, "graphic_violence": boolean, "other": boolean}
                ),
                # Defined by the document, not sent by bulkup (yet): allowed, unchecked.
                "found_media_origin": Obj({"id": text(), "provider": text()}),
                "content_expiration": Obj({"timestamp_sec": integer(0, 2**63)}),
            }
        ),
    },
    frozenset({"id"}),
)
SUBTITLES = Obj(
    {
        "id": matches(ID),
        "media_category": one_of(SUBTITLE_CATEGORIES),
        "subtitles": Obj(
            {"id": matches(ID), "language_code": matches(LANGUAGE), "display_name": text()},
            frozenset({"id", "language_code", "display_name"}),
        ),
    },
    frozenset({"id", "media_category", "subtitles"}),
)
#: Multipart fields: name → check of the text value ("media" is the bytes).
APPEND_PARTS: Mapping[str, Check] = {"segment_index": lambda v, w: integer(0, 999)(int(v), w)}
ONE_SHOT_PARTS: Mapping[str, Check] = {
    "media_category": one_of(ONE_SHOT_CATEGORIES),
    "additional_owners": comma_separated(matches(ID)),
}


# --- a server that records what arrives -----------------------------------------------------
@dataclass
class Seen:
    method: str
    path: str
    query: Mapping[str, str]
    content_type: str | None
    body: bytes
    parts: dict[str, bytes]


async def record(request: web.Request) -> web.Response:
    parts: dict[str, bytes] = {}
    body = b""
    content_type = request.headers.get("Content-Type")
    if content_type and content_type.startswith("multipart/"):
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            assert isinstance(part, aiohttp.BodyPartReader)
            assert part.name not in parts, f"field {part.name} sent twice"
            parts[part.name or ""] = bytes(await part.read())
    else:
        body = await request.read()
    request.app[SEEN].append(
        Seen(request.method, request.path, dict(request.query), content_type, body, parts)
    )
    return web.json_response({"data": {"id": "1"}})


SEEN: web.AppKey[list[Seen]] = web.AppKey("seen", list)


@pytest.fixture
async def wire(tmp_path: Path) -> AsyncIterator[tuple[Callable[..., Any], list[Seen]]]:
    app = web.Application()
    app[SEEN] = []
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    media = tmp_path / "media.bin"
    media.write_bytes(bytes(range(256)) * 64)
    dialect = V2(f"http://127.0.0.1:{port}")
    async with aiohttp.ClientSession() as http:
        transport = Transport(http, BearerAuth("token"), Pacer(enabled=False))

        async def send(request: HttpRequest) -> Seen:
            await transport.send(request, media)
            return app[SEEN][-1]

        yield (lambda build: send(build(dialect))), app[SEEN]
    await runner.cleanup()


def plan(**kw: Any) -> Plan:
    fields: dict[str, Any] = {"size": 16384, "media_type": "image/png", "media_category": None}
    return Plan(**{**fields, **kw})


def json_body(seen: Seen) -> Any:
    assert seen.content_type is not None and seen.content_type.startswith("application/json")
    return json.loads(seen.body)


# --- the cases --------------------------------------------------------------------------------
INIT_PLANS = {
    "bare": plan(),
    "category": plan(media_category="tweet_image"),
    "owners": plan(additional_owners=("1234", "5678")),
    "shared": plan(media_type="video/mp4", media_category="dm_video", shared=True),
    "everything": plan(
        media_type="image/gif",
        media_category="tweet_gif",
        additional_owners=("1",),
        shared=True,
    ),
    "subtitle file": plan(media_type="text/srt", media_category="subtitles"),
    "amplify": plan(media_type="video/quicktime", media_category="amplify_video"),
}


@pytest.mark.parametrize("name", list(INIT_PLANS))
async def test_initialize_is_a_json_body_within_the_contract(wire: Any, name: str) -> None:
    send, _ = wire
    seen = await send(lambda d: d.build(Init(INIT_PLANS[name])))
    assert (seen.method, seen.path, seen.query) == ("POST", "/2/media/upload/initialize", {})
    INITIALIZE(json_body(seen), "initialize")


async def test_append_is_multipart_with_exactly_segment_index_and_media(wire: Any) -> None:
    send, _ = wire
    seen = await send(lambda d: d.build(Append("1880028106020515840", 7, 1024, 512)))
    assert seen.method == "POST" and seen.query == {}
    media_id = seen.path.removeprefix("/2/media/upload/").removesuffix("/append")
    assert ID.match(media_id) and seen.path.endswith("/append")
    assert seen.content_type is not None and seen.content_type.startswith("multipart/form-data")
    assert set(seen.parts) == {"segment_index", "media"}
    APPEND_PARTS["segment_index"](seen.parts["segment_index"].decode(), "segment_index")
    assert seen.parts["media"] == (bytes(range(256)) * 64)[1024:1536]


async def test_finalize_sends_the_json_object_or_no_body_never_an_unlabelled_one(
    wire: Any,
) -> None:
    send, _ = wire
    seen = await send(lambda d: d.build(Finalize("1880028106020515840")))
    assert seen.method == "POST" and seen.path == "/2/media/upload/1880028106020515840/finalize"
    if seen.body:
        assert json_body(seen) == {}
    else:
        assert seen.content_type is None  # no body: no content type either


async def test_status_is_a_get_with_media_id_and_command_in_the_query(wire: Any) -> None:
    send, _ = wire
    seen = await send(lambda d: d.build(Status("1880028106020515840")))
    assert (seen.method, seen.path, seen.body) == ("GET", "/2/media/upload", b"")
    assert set(seen.query) <= {"media_id", "command"} and "media_id" in seen.query
    assert ID.match(seen.query["media_id"]) and seen.query.get("command", "STATUS") == "STATUS"


ONE_SHOT_PLANS = {
    "bare": plan(strategy="simple"),
    "category": plan(strategy="simple", media_category="dm_image"),
    "owners": plan(strategy="simple", additional_owners=("1234", "5678")),
}


@pytest.mark.parametrize("name", list(ONE_SHOT_PLANS))
async def test_one_shot_is_multipart_with_media_category_and_owners_as_a_string(
    wire: Any, name: str
) -> None:
    send, _ = wire
    seen = await send(lambda d: d.build(SimpleUpload(ONE_SHOT_PLANS[name])))
    assert (seen.method, seen.path, seen.query) == ("POST", "/2/media/upload", {})
    assert {"media", "media_category"} <= set(seen.parts) <= {"media", *ONE_SHOT_PARTS}
    assert "shared" not in seen.parts  # one-shot has no shared field
    for field_name, check in ONE_SHOT_PARTS.items():
        if field_name in seen.parts:
            check(seen.parts[field_name].decode(), field_name)
    assert len(seen.parts["media"]) == 16384


METADATA_CASES = {
    "alt text": Metadata(alt_text="A red square"),
    "longest alt text": Metadata(alt_text="x" * 1000),
    "sensitive": Metadata(sensitive_media_warning=("adult_content", "other")),
    "no download": Metadata(allow_download=False),
    "everything": Metadata(
        alt_text="ok", sensitive_media_warning=("graphic_violence",), allow_download=True
    ),
}


@pytest.mark.parametrize("name", list(METADATA_CASES))
async def test_metadata_is_one_json_request_within_the_contract(wire: Any, name: str) -> None:
    send, _ = wire
    seen = await send(lambda d: d.metadata("1880028106020515840", METADATA_CASES[name]))
    assert (seen.method, seen.path, seen.query) == ("POST", "/2/media/metadata", {})
    METADATA(json_body(seen), "metadata")


@pytest.mark.parametrize(("category", "language"), [("tweet_video", "EN"), ("amplify_video", "pt")])
async def test_subtitles_use_camel_case_categories_and_upper_case_languages(
    wire: Any, category: str, language: str
) -> None:
    send, _ = wire
    seen = await send(lambda d: d.subtitles("123", category, "456", language, "Name"))
    assert (seen.method, seen.path) == ("POST", "/2/media/subtitles")
    SUBTITLES(json_body(seen), "subtitles")


def test_the_contract_checks_themselves_refuse_what_x_refuses() -> None:
    """The checks above can fail: each refuses a request X's document refuses."""
    refused = [
        {"total_bytes": "10", "media_type": "image/png"},  # a string, not an integer
        {"total_bytes": 10, "media_type": "image/jpg"},  # not in the enumeration
        {"total_bytes": 10, "media_type": "image/png", "media_category": "TweetImage"},
        {"total_bytes": 10, "media_type": "image/png", "additional_owners": "1,2"},
        {"total_bytes": 10, "media_type": "image/png", "unknown": 1},
        {"media_type": "image/png"},  # total_bytes required
        {"total_bytes": MAX_TOTAL_BYTES + 1, "media_type": "image/png"},
    ]
    for body in refused:
        with pytest.raises(AssertionError):
            INITIALIZE(body, "initialize")
    with pytest.raises(AssertionError):
        SUBTITLES(
            {
                "id": "1",
                "media_category": "tweet_video",
                "subtitles": {"id": "2", "language_code": "EN", "display_name": "E"},
            },
            "subtitles",
        )
    with pytest.raises(AssertionError):
        METADATA({"id": "1", "metadata": {"alt_text": {"text": "x" * 1001}}}, "metadata")
