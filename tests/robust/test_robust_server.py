"""Server misbehaviour: each kind becomes a clear error or a retry, never a crash or a hang.

The emulator's ``html_error``, ``garbage_200``, ``missing_fields``, ``close_connection``
and ``hang`` faults are checked three ways: what the emulator sends (over a raw
client), how the dialects parse such an answer (no server), and an upload through the
whole client, where a fault for the next few requests of an endpoint ends byte-exact,
and a fault that outlasts ``max_attempts`` ends in a failed item whose message says
what the server sent. Every test bounds itself with ``anyio.fail_after`` as a hang
guard; none of them sleeps to wait.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import aiohttp
import anyio
import pytest

from bulkup.auth.credentials import BearerAuth, OAuth1Auth
from bulkup.client.config import UploadConfig
from bulkup.client.uploader import Uploader
from bulkup.core.dialects import V1, V2, Dialect, HttpAnswer, raise_for_answer
from bulkup.core.items import Item, Result
from bulkup.core.retry import RetryPolicy
from bulkup.core.steps import (
    Append,
    Finalize,
    Init,
    Initialized,
    MediaState,
    Plan,
    Request,
    SimpleUpload,
    Status,
)
from bulkup.emulator import ConfigError, Emulator, EmulatorConfig, Faults
from bulkup.errors import ProtocolError, ServerError
from bulkup.media import samples
from tests.apiclient import RawClient, credentials
from tests.conftest import KiB
from tests.conftest import file_sha256 as sha256

pytestmark = pytest.mark.anyio

#: A hang guard, far above what any test here needs; not a timed assertion.
GUARD_SECS = 30
#: The client's read timeout in these tests: a hang costs this much per attempt, and every
#: answer that is not hung must come within it (so not sub-second: a loaded host stalls).
READ_TIMEOUT = 1.0
MAX_ATTEMPTS = 3
DIALECTS = ["v1.1", "v2"]
ENDPOINTS = ["initialize", "append", "finalize", "status", "upload"]

PROXY_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
PLAN = Plan(size=3 * KiB, media_type="image/gif", media_category="tweet_gif", chunk_size=KiB)
REQUESTS: dict[str, Request] = {
    "INIT": Init(PLAN),
    "APPEND": Append("42", 0, 0, KiB),
    "FINALIZE": Finalize("42"),
    "STATUS": Status("42"),
    "upload": SimpleUpload(PLAN),
}


def dialect(name: str) -> Dialect:
    return V1("http://127.0.0.1") if name == "v1.1" else V2("http://127.0.0.1")


def answer(status: int, body: bytes, content_type: str | None = "application/json") -> HttpAnswer:
    headers: Mapping[str, str] = {"Content-Type": content_type} if content_type else {}
    return HttpAnswer(status, headers, body)


# --- the dialects, no server ------------------------------------------------------------
@pytest.mark.parametrize("api", DIALECTS)
@pytest.mark.parametrize("command", list(REQUESTS))
def test_an_html_proxy_page_with_502_is_a_retryable_server_error_naming_type_and_page(
    api: str, command: str
) -> None:
    page = answer(502, PROXY_502, "text/html")
    with pytest.raises(ServerError) as caught:
        dialect(api).parse(REQUESTS[command], page)
    error = caught.value
    assert error.retryable and error.http_status == 502
    assert error.message.startswith(
        "HTTP 502 with a body that is not JSON (text/html): "
        "'<html> <head><title>502 Bad Gateway</title></head> <body>"
    )


@pytest.mark.parametrize("api", DIALECTS)
@pytest.mark.parametrize("command", ["INIT", "FINALIZE", "STATUS", "upload"])
def test_a_200_that_is_not_json_is_a_retryable_protocol_error_quoting_the_body(
    api: str, command: str
) -> None:
    garbage = answer(200, b'{"data": {"id": "18800', "application/json; charset=utf-8")
    with pytest.raises(ProtocolError) as caught:
        dialect(api).parse(REQUESTS[command], garbage)
    assert caught.value.retryable and caught.value.http_status == 200
    assert caught.value.message == (
        f"HTTP 200 answer to {command} is not JSON (application/json; charset=utf-8): "
        '\'{"data": {"id": "18800\''
    )


def test_an_empty_200_to_init_is_a_protocol_error_without_content_type() -> None:
    with pytest.raises(ProtocolError) as caught:
        V1("http://x").parse(REQUESTS["INIT"], answer(200, b"", None))
    assert caught.value.message == "HTTP 200 answer to INIT is not JSON (no content type): ''"


@pytest.mark.parametrize(
    ("api", "command", "body", "missing"),
    [
        ("v1.1", "INIT", b"{}", "a media id (media_id_string or media_id)"),
        ("v1.1", "FINALIZE", b"{}", "a media id (media_id_string or media_id)"),
        ("v1.1", "upload", b'{"media_id_str": "7"}', "a media id"),
        ("v2", "INIT", b'{"data": {}}', "a media id (data.id)"),
        ("v2", "FINALIZE", b"{}", "a 'data' object"),
        ("v2", "STATUS", b'{"data": {}}', "a media id (data.id)"),
        ("v2", "upload", b'{"data": []}', "a 'data' object"),
        ("v2", "INIT", b"", None),  # not JSON: see the message below
    ],
)
def test_a_200_with_missing_fields_is_a_protocol_error_naming_the_field_and_body(
    api: str, command: str, body: bytes, missing: str | None
) -> None:
    with pytest.raises(ProtocolError) as caught:
        dialect(api).parse(REQUESTS[command], answer(200, body))
    error = caught.value
    assert error.retryable and error.http_status == 200 and error.accepted
    if missing is None:
        assert error.message == f"HTTP 200 answer to {command} is not JSON (application/json): ''"
    else:
        excerpt = repr(body.decode())
        assert error.message.startswith(f"HTTP 200 answer to {command} lacks {missing}")
        assert error.message.endswith(excerpt)


def test_a_json_array_is_not_an_answer() -> None:
    with pytest.raises(ProtocolError, match=r"answer to FINALIZE is not a JSON object: '\[1\]'"):
        V2("http://x").parse(REQUESTS["FINALIZE"], answer(200, b"[1]"))


@pytest.mark.parametrize("api", DIALECTS)
@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (204, b"", None),  # as observed on v1.1
        (200, b"", None),
        (200, b"{}", "application/json"),
        (200, b'{"data": {}}', "application/json"),  # data and expires_at are optional
        (200, b'{"data": {"expires_at": 1700000000}}', "application/json"),
        (200, b"<html><body>OK</body></html>", "text/html"),  # success is the status code
    ],
)
def test_any_2xx_to_append_means_the_segment_is_stored(
    api: str, status: int, body: bytes, content_type: str | None
) -> None:
    assert dialect(api).parse(REQUESTS["APPEND"], answer(status, body, content_type)) is None


@pytest.mark.parametrize("api", DIALECTS)
@pytest.mark.parametrize(
    ("command", "body"),
    [
        ("INIT", {"v1.1": b'{"media_id_string": "7"}', "v2": b'{"data": {"id": "7"}}'}),
        ("FINALIZE", {"v1.1": b'{"media_id": 7}', "v2": b'{"data": {"id": "7"}}'}),
        ("STATUS", {"v1.1": b'{"media_id_string": "7"}', "v2": b'{"data": {"id": "7"}}'}),
        ("upload", {"v1.1": b'{"media_id": 7}', "v2": b'{"data": {"id": "7"}}'}),
    ],
)
def test_an_answer_with_only_the_required_id_is_enough(
    api: str, command: str, body: dict[str, bytes]
) -> None:
    parsed = dialect(api).parse(REQUESTS[command], answer(200, body[api]))
    assert parsed is not None and parsed.media_id == "7"
    if command == "INIT":
        assert isinstance(parsed, Initialized) and parsed.expires_after_secs is None
    else:  # no processing_info: ready
        assert isinstance(parsed, MediaState) and parsed.processing is None


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (200, b"", None),
        (200, b"OK", "text/plain"),
        (200, b'{"data": {}}', "application/json"),
        (204, b"", None),
    ],
)
def test_any_2xx_to_metadata_or_subtitles_is_applied(
    status: int, body: bytes, content_type: str | None
) -> None:
    raise_for_answer(answer(status, body, content_type), "metadata")
    with pytest.raises(ServerError):
        raise_for_answer(answer(502, PROXY_502, "text/html"), "metadata")


def test_protocol_errors_are_retried_a_bounded_number_of_times() -> None:
    import random

    error = ProtocolError("HTTP 200 answer to INIT lacks a media id (data.id): '{}'")
    policy = RetryPolicy(max_attempts=3, base=0.0)
    policy, _ = policy.next(error, random.Random(0), 0.0)
    policy, _ = policy.next(error, random.Random(0), 0.0)
    with pytest.raises(ProtocolError):
        policy.next(error, random.Random(0), 0.0)


# --- the emulator, over a raw client -------------------------------------------------------
def test_the_new_fault_rates_are_validated_and_read_from_a_profile() -> None:
    with pytest.raises(ConfigError, match=r"faults.hang_rate is a probability"):
        Faults(hang_rate=2.0)
    config = EmulatorConfig.from_mapping(
        {"faults": {"html_error_rate": 0.1, "close_connection_rate": 0.2, "garbage_200_rate": 0}}
    )
    assert (config.faults.html_error_rate, config.faults.close_connection_rate) == (0.1, 0.2)
    assert config.faults.missing_fields_rate == config.faults.hang_rate == 0.0


async def test_html_error_is_a_502_proxy_page_and_creates_nothing(
    client: RawClient, emulator: Emulator
) -> None:
    emulator.faults.schedule("html_error", endpoint="initialize", count=2)
    for reply in (await client.v1_init(10, "image/png"), await client.v2_init(10, "image/png")):
        assert reply.status == 502 and reply.content_type == "text/html"
        assert b"<title>502 Bad Gateway</title>" in reply.raw
        assert "x-rate-limit-remaining" not in {k.lower() for k in reply.headers}
    assert emulator.all_media() == []
    assert emulator.stats()["faults"] == {"html_error": 2}
    assert emulator.stats()["requests"]["initialize"] == {"502": 2}


async def test_garbage_200_is_not_json_but_the_request_was_performed(
    client: RawClient, emulator: Emulator
) -> None:
    # A 2xx means the server acted (the contract): the body is a truncated success.
    emulator.faults.schedule("garbage_200", endpoint="initialize", count=2)
    for reply in (await client.v1_init(10, "image/png"), await client.v2_init(10, "image/png")):
        assert reply.status == 200 and reply.content_type == "application/json"
        with pytest.raises(ValueError):
            _ = reply.json
    assert len(emulator.all_media()) == 2
    assert emulator.stats()["faults"] == {"garbage_200": 2}


async def test_missing_fields_performs_init_and_answers_without_the_required_fields(
    client: RawClient, emulator: Emulator
) -> None:
    emulator.faults.schedule("missing_fields", endpoint="initialize", count=2)
    v1 = await client.v1_init(10, "image/png")
    v2 = await client.v2_init(10, "image/png")
    assert (v1.status, v1.json, v2.status, v2.json) == (202, {}, 200, {"data": {}})
    assert len(emulator.all_media()) == 2  # a 2xx means the server acted
    assert emulator.stats()["faults"] == {"missing_fields": 2}


async def test_close_connection_answers_then_the_reused_connection_is_found_dead(
    client: RawClient, emulator: Emulator
) -> None:
    emulator.faults.schedule("close_connection", endpoint="initialize")
    first = await client.v2_init(10, "image/png")
    assert first.status == 200  # answered normally, kept alive ...
    assert [m["media_id"] for m in emulator.all_media()] == [first.json["data"]["id"]]
    with pytest.raises(aiohttp.ClientConnectionError):
        await client.v2_init(10, "image/png")  # ... and gone when reused
    assert len(emulator.all_media()) == 1  # the request on the dead connection did nothing
    again = await client.v2_init(10, "image/png")  # a new connection works
    assert again.status == 200
    stats = emulator.stats()
    assert stats["faults"] == {"close_connection": 1}
    assert stats["requests"]["initialize"] == {"0": 1, "200": 2}


async def test_hang_never_answers_and_ends_when_the_client_leaves(
    client: RawClient, emulator: Emulator
) -> None:
    # A short read timeout for the request that hangs only (nothing can answer it in time
    # or not); the next request, which must be answered, has the default timeouts.
    impatient = aiohttp.ClientTimeout(sock_read=0.2)
    emulator.faults.schedule("hang", endpoint="initialize")
    with anyio.fail_after(GUARD_SECS):
        async with aiohttp.ClientSession(timeout=impatient) as http:
            with pytest.raises(TimeoutError):
                await RawClient(http, emulator).v2_init(10, "image/png")
            await emulator.wait_for_requests("initialize", 1, status=0)  # the server gave up
        assert (await client.v2_init(10, "image/png")).status == 200
    assert len(emulator.all_media()) == 1
    assert emulator.stats()["faults"] == {"hang": 1}


async def test_misbehaviour_faults_can_be_scheduled_over_http(
    client: RawClient, emulator: Emulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    body = {"kind": "html_error", "endpoint": "status", "count": 1}
    async with http.post(emulator.url + "/_emulator/faults", json=body) as resp:
        assert resp.status == 200
    png = samples.write_image(tmp_path / "a.png").read_bytes()
    media_id = await client.v1_upload(png, "image/png")
    assert (await client.v1_status(media_id)).status == 502
    assert (await client.v1_status(media_id)).status == 200


# --- the whole client ------------------------------------------------------------------
@pytest.fixture(scope="module")
def media_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A GIF that goes chunked (INIT, 4 APPENDs, FINALIZE, STATUS) and a PNG sent in one."""
    folder = tmp_path_factory.mktemp("media")
    gif = samples.write_gif(folder / "anim.gif", width=32, height=32, frames=3, seed=1)
    png = samples.write_image(folder / "still.png", fmt="png", width=24, height=16, seed=2)
    return [gif, png]


def upload_config(emu: Emulator, api: str) -> UploadConfig:
    return UploadConfig(
        api=api,  # type: ignore[arg-type]
        endpoint=emu.url,
        chunk_size=1 * KiB,
        segments_per_file=1,
        max_attempts=MAX_ATTEMPTS,
        backoff_base=0.01,
        read_timeout=READ_TIMEOUT,
    )


async def upload(emu: Emulator, api: str, files: list[Path]) -> dict[str, Result]:
    config = upload_config(emu, api)
    items = [Item(id=path.name, path=path) for path in files]
    with anyio.fail_after(GUARD_SECS):
        async with Uploader(config, auth=OAuth1Auth(credentials(emu.user)), seed=7) as up:
            return {r.id: r async for r in up.upload_many(items)}


def assert_byte_exact(emu: Emulator, results: dict[str, Result], files: list[Path]) -> None:
    for path in files:
        result = results[path.name]
        assert result.ok, result.error
        info = emu.media(result.media_id_string)  # type: ignore[arg-type]
        assert info is not None and info["sha256"] == sha256(path), path.name


def faulted(endpoint: str, media_files: list[Path]) -> str:
    """The item whose upload uses ``endpoint``: the PNG for one-request uploads."""
    return media_files[1].name if endpoint == "upload" else media_files[0].name


async def recovers(
    emu: Emulator, api: str, kind: str, endpoint: str, media_files: list[Path], count: int = 2
) -> None:
    emu.faults.schedule(kind, endpoint=endpoint, count=count)
    results = await upload(emu, api, media_files)
    assert set(results) == {p.name for p in media_files}
    assert_byte_exact(emu, results, media_files)
    assert emu.stats()["faults"] == {kind: count}
    assert results[faulted(endpoint, media_files)].attempts >= 1 + count


@pytest.mark.answer_modes
@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("api", DIALECTS)
async def test_html_error_pages_are_retried_and_the_upload_ends_byte_exact(
    emulator: Emulator, media_files: list[Path], api: str, endpoint: str
) -> None:
    await recovers(emulator, api, "html_error", endpoint, media_files)


#: How the client meets a 2xx that lacks what the contract requires (the emulator
#: performed the request): per endpoint, (faults the two scheduled ones that are hit,
#: the faulted item's least attempts). INIT, one-shot and STATUS are sent again; a
#: FINALIZE is settled by STATUS, so the second fault is never reached; an APPEND 2xx
#: means stored, whatever the body (and has no required field to miss).
TWO_XX_FAULTS = {
    "initialize": (2, 3),
    "append": (2, 1),
    "finalize": (1, 1),
    "status": (2, 3),
    "upload": (2, 3),
}


@pytest.mark.answer_modes
@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("api", DIALECTS)
@pytest.mark.parametrize("kind", ["garbage_200", "missing_fields"])
async def test_a_2xx_the_client_cannot_read_is_met_by_the_contract_and_ends_byte_exact(
    emulator: Emulator, media_files: list[Path], api: str, endpoint: str, kind: str
) -> None:
    emulator.faults.schedule(kind, endpoint=endpoint, count=2)
    results = await upload(emulator, api, media_files)
    assert set(results) == {p.name for p in media_files}
    assert_byte_exact(emulator, results, media_files)
    hit, attempts = TWO_XX_FAULTS[endpoint]
    if kind == "missing_fields" and endpoint == "append":
        hit = 0  # nothing required in an APPEND answer: the fault does not apply
    assert emulator.stats()["faults"] == ({kind: hit} if hit else {})
    faulted_item = results[faulted(endpoint, media_files)]
    assert faulted_item.attempts >= attempts
    if endpoint in ("append", "finalize"):
        assert faulted_item.attempts == 1  # nothing sent again
        requests = emulator.stats()["requests"][endpoint]
        if endpoint == "finalize":
            assert sum(requests.values()) == 1  # one FINALIZE, STATUS told the rest


@pytest.mark.answer_modes
@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("api", DIALECTS)
async def test_a_closed_keep_alive_connection_is_retried_and_the_upload_ends_byte_exact(
    emulator: Emulator, media_files: list[Path], api: str, endpoint: str
) -> None:
    emulator.faults.schedule("close_connection", endpoint=endpoint)
    results = await upload(emulator, api, media_files)
    assert_byte_exact(emulator, results, media_files)
    assert emulator.stats()["faults"] == {"close_connection": 1}


@pytest.mark.answer_modes
@pytest.mark.parametrize("api", DIALECTS)
async def test_a_server_closing_every_connection_after_each_answer_still_gets_everything(
    emulator: Emulator, media_files: list[Path], api: str
) -> None:
    emulator.faults.schedule("close_connection", count=10_000)
    results = await upload(emulator, api, media_files)
    assert_byte_exact(emulator, results, media_files)
    dropped = sum(counts.get("0", 0) for counts in emulator.stats()["requests"].values())
    assert dropped >= 1  # reused connections were found dead, and the requests sent again


@pytest.mark.answer_modes
@pytest.mark.parametrize("endpoint", ["initialize", "append", "finalize", "status", "upload"])
@pytest.mark.parametrize("api", DIALECTS)
async def test_an_answer_that_never_comes_times_out_and_is_retried(
    emulator: Emulator, media_files: list[Path], api: str, endpoint: str
) -> None:
    await recovers(emulator, api, "hang", endpoint, media_files, count=1)
    with anyio.fail_after(GUARD_SECS):  # the client left the hung request: the server let go
        await emulator.wait_for_requests(endpoint, 1, status=0)


# --- faults that outlast max_attempts: a failed item with a clear message ---------------------
PERSISTENT = 1000


async def fails(emu: Emulator, api: str, kind: str, endpoint: str, files: list[Path]) -> Result:
    emu.faults.schedule(kind, endpoint=endpoint, count=PERSISTENT)
    results = await upload(emu, api, files)
    assert len(results) == len(files)
    [failed] = [r for r in results.values() if not r.ok]
    assert failed.id == faulted(endpoint, files) and failed.error is not None
    assert failed.attempts == MAX_ATTEMPTS
    assert emu.stats()["faults"] == {kind: MAX_ATTEMPTS}
    return failed


@pytest.mark.answer_modes
@pytest.mark.parametrize("api", DIALECTS)
async def test_a_proxy_page_that_persists_fails_the_item_quoting_the_page(
    emulator: Emulator, media_files: list[Path], api: str
) -> None:
    failed = await fails(emulator, api, "html_error", "append", media_files)
    assert failed.error is not None
    assert (failed.error.kind, failed.error.http_status) == ("server_error", 502)
    assert failed.error.message == (
        "HTTP 502 with a body that is not JSON (text/html; charset=utf-8): "
        "'<html> <head><title>502 Bad Gateway</title></head> <body> "
        "<center><h1>502 Bad Gateway</h1></center> <hr><center>nginx</center> </body> </html>'"
    )


@pytest.mark.answer_modes
@pytest.mark.parametrize("api", DIALECTS)
async def test_garbage_that_persists_fails_the_item_quoting_the_body(
    emulator: Emulator, media_files: list[Path], api: str
) -> None:
    failed = await fails(emulator, api, "garbage_200", "initialize", media_files)
    assert failed.error is not None and failed.error.kind == "protocol_error"
    body = '{"media_id": 18800281060205' if api == "v1.1" else '{"data": {"id": "18800281060205'
    assert failed.error.message == (
        f"HTTP 200 answer to INIT is not JSON (application/json; charset=utf-8): {body!r}"
    )


@pytest.mark.answer_modes
@pytest.mark.parametrize("api", DIALECTS)
async def test_missing_fields_that_persist_fail_the_item_naming_the_field(
    emulator: Emulator, media_files: list[Path], api: str
) -> None:
    failed = await fails(emulator, api, "missing_fields", "initialize", media_files)
    assert failed.error is not None and failed.error.kind == "protocol_error"
    expected = {  # v1.1 INIT answers 202, as observed
        "v1.1": "HTTP 202 answer to INIT lacks a media id (media_id_string or media_id): '{}'",
        "v2": "HTTP 200 answer to INIT lacks a media id (data.id): '{\"data\": {}}'",
    }
    assert failed.error.message == expected[api]


@pytest.mark.answer_modes
@pytest.mark.parametrize("api", DIALECTS)
async def test_a_server_that_never_answers_fails_the_item_after_the_read_timeouts(
    emulator: Emulator, media_files: list[Path], api: str
) -> None:
    failed = await fails(emulator, api, "hang", "status", media_files)
    assert failed.error is not None and failed.error.kind == "timeout"
    assert failed.error.message == f"status: no answer within {READ_TIMEOUT:g} s (read timeout)"
    assert failed.media_id_string is not None  # finalized; only its processing state is unknown


@pytest.mark.answer_modes
@pytest.mark.parametrize("api", DIALECTS)
async def test_a_status_resent_by_aiohttp_on_a_dead_connection_is_signed_again(
    emulator: Emulator, media_files: list[Path], api: str
) -> None:
    # aiohttp re-sends an idempotent request (STATUS is a GET) once by itself when a
    # kept-alive connection fails; an OAuth nonce is single-use, so it must be signed anew.
    emulator.faults.schedule("drop_response", endpoint="status")
    results = await upload(emulator, api, media_files)
    assert_byte_exact(emulator, results, media_files)
    assert emulator.stats()["requests"]["status"] == {"0": 1, "200": 1}


@pytest.mark.answer_modes
@pytest.mark.parametrize("api", DIALECTS)
async def test_alt_text_answered_with_garbage_is_applied_once_not_sent_again(
    emulator: Emulator, media_files: list[Path], api: str
) -> None:
    """Success is the status code: a 2xx to metadata is applied, and a retry is billed."""
    emulator.faults.schedule("garbage_200", endpoint="metadata")
    png = media_files[1]
    config = upload_config(emulator, api)
    with anyio.fail_after(GUARD_SECS):
        async with Uploader(config, auth=OAuth1Auth(credentials(emulator.user))) as up:
            result = await up.upload(png, alt_text="A still image")
    assert result.ok and result.alt_text_applied and result.metadata_applied
    assert (emulator.media(result.media_id_string) or {})["alt_text"] == "A still image"  # type: ignore[arg-type]
    assert emulator.stats()["requests"]["metadata"] == {"200": 1}


# --- a server that cannot be reached ----------------------------------------------------
def closed_port() -> int:
    """A port of 127.0.0.1 where nothing listens (connections are refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.anyio
async def test_an_endpoint_never_reached_ends_every_item_after_one_items_attempts(
    tmp_path: Path,
) -> None:
    files = [samples.write_image(tmp_path / f"p{i}.png", fmt="png", seed=i) for i in range(6)]
    config = UploadConfig(
        endpoint=f"http://127.0.0.1:{closed_port()}",
        max_attempts=3,
        backoff_base=0.001,
        backoff_cap=0.001,
        files_in_flight=2,
    )

    async with Uploader(config, auth=BearerAuth("bearer-token-value")) as up:
        results = [r async for r in up.upload_many([Item(id=f.name, path=f) for f in files])]
        stats = up.stats

    assert sorted(r.id for r in results) == sorted(f.name for f in files)
    for result in results:  # failed if it tried, skipped if it was never sent
        assert result.status in {"failed", "skipped"} and result.error is not None
        assert result.error.kind == "transport_error", result.error
        assert "nothing is listening at 127.0.0.1" in result.error.message
    assert any(result.status == "failed" for result in results)
    # Without the stop, each of the 6 items would spend its 3 attempts: 18 connections.
    assert stats["requests"] <= config.files_in_flight * config.max_attempts


@pytest.mark.anyio
async def test_a_server_that_stops_reading_a_chunk_fails_the_request_instead_of_hanging(
    tmp_path: Path,
) -> None:
    import asyncio
    import socket

    from bulkup.client.pacing import Pacer
    from bulkup.client.transport import Transport
    from bulkup.core.dialects import HttpRequest
    from bulkup.errors import UploadTimeout

    chunk = tmp_path / "chunk.bin"
    chunk.write_bytes(bytes(16 << 20))  # far more than the socket buffers hold
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    accepted: list[asyncio.StreamWriter] = []

    async def never_read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # kept open, never read: the client's writes stall

    server = await asyncio.start_server(never_read, sock=listener)
    port = listener.getsockname()[1]
    request = HttpRequest(
        "POST", f"http://127.0.0.1:{port}/2/media/upload/1/append", "append", media=(0, 16 << 20)
    )
    # connect must succeed (1 s, not a race); the rest can never be met, whatever its size
    timeout = aiohttp.ClientTimeout(total=None, connect=1.0, sock_read=0.2)
    try:
        async with aiohttp.ClientSession() as http:
            transport = Transport(
                http,
                BearerAuth("bearer-token-value"),
                Pacer(enabled=False),
                timeout=timeout,
                min_send_rate=160 << 20,  # 16 MiB may take 0.1 s: the limit is 1.3 s in all
            )
            with anyio.fail_after(30), pytest.raises(UploadTimeout) as caught:
                await transport.send(request, chunk)
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()

    assert accepted, "the request reached the server"
    assert "not done within 1.3 s" in str(caught.value)
    assert "stopped reading" in str(caught.value)
