"""Fault and network simulation over real sockets: exact when scheduled, reproducible when random.

Scripted faults (``emulator.faults.schedule`` or ``POST /_emulator/faults``) hit the
next matching requests; random rates come from one seeded generator, so two
emulators with the same seed fail the same sequential requests.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bulkup.emulator import Emulator, EmulatorConfig, Faults, Network, Storage
from bulkup.media import samples
from tests.apiclient import Part, RawClient, Reply
from tests.conftest import FAST_LIFETIMES as FAST

pytestmark = pytest.mark.anyio

V1_INTERNAL = {"errors": [{"code": 131, "message": "Internal error."}]}
V1_OVER_CAPACITY = {"errors": [{"code": 130, "message": "Over capacity."}]}
V1_RATE_LIMITED = {"errors": [{"code": 88, "message": "Rate limit exceeded."}]}
BIG = 200_000


@pytest.fixture
def emulator_config(tmp_path: Path) -> EmulatorConfig:
    return EmulatorConfig(lifetimes=FAST, storage=Storage(dir=str(tmp_path / "store")))


@pytest.fixture
def png(tmp_path: Path) -> bytes:
    return samples.write_image(tmp_path / "a.png").read_bytes()


def blob(size: int) -> bytes:
    return bytes(range(256)) * (size // 256) + bytes(size % 256)


def rate_remaining(reply: Reply) -> int:
    return int({k.lower(): v for k, v in reply.headers.items()}["x-rate-limit-remaining"])


def assert_problem(reply: Reply, status: int, title: str) -> None:
    assert reply.status == status, reply.raw
    assert reply.content_type == "application/problem+json"
    body = reply.json
    assert (body["status"], body["title"]) == (status, title)


async def v2_media(client: RawClient, size: int = BIG) -> str:
    init = await client.v2_init(size, "image/png", "tweet_image")
    assert init.status == 200, init.raw
    media_id: str = init.json["data"]["id"]
    return media_id


async def v1_media(client: RawClient, size: int = BIG) -> str:
    init = await client.v1_init(size, "image/png", "tweet_image")
    assert init.status == 202, init.raw
    media_id: str = init.json["media_id_string"]
    return media_id


def segments(emulator: Emulator, media_id: str) -> list[int]:
    info = emulator.media(media_id)
    assert info is not None
    result: list[int] = info["segments"]
    return result


def leftovers(emulator: Emulator) -> list[str]:
    """Spool files of requests that never became segments."""
    return [p.name for p in emulator.state.store.root.rglob("*.part")]


# --- 500 / 503 --------------------------------------------------------------------------
async def test_error_500_v1_is_code_131_and_the_segment_is_not_stored(
    client: RawClient, emulator: Emulator
) -> None:
    media_id = await v1_media(client)
    emulator.faults.schedule("error_500", endpoint="append")
    reply = await client.v1_append(media_id, 0, b"abc")
    assert reply.status == 500
    assert reply.json == V1_INTERNAL
    assert segments(emulator, media_id) == []
    retry = await client.v1_append(media_id, 0, b"abc")
    assert retry.status == 204, retry.raw
    assert segments(emulator, media_id) == [0]
    assert leftovers(emulator) == []


async def test_error_500_v2_is_a_problem_and_creates_nothing(
    client: RawClient, emulator: Emulator
) -> None:
    emulator.faults.schedule("error_500", endpoint="initialize")
    assert_problem(await client.v2_init(10, "image/png"), 500, "Internal Server Error")
    assert emulator.all_media() == []
    assert (await client.v2_init(10, "image/png")).status == 200


async def test_error_503_in_both_dialects(client: RawClient, emulator: Emulator) -> None:
    emulator.faults.schedule("error_503", endpoint="initialize", count=2)
    v1 = await client.v1_init(10, "image/png")
    assert v1.status == 503
    assert v1.json == V1_OVER_CAPACITY
    assert_problem(await client.v2_init(10, "image/png"), 503, "Service Unavailable")
    assert (await client.v2_init(10, "image/png")).status == 200


async def test_scheduled_fault_hits_only_its_endpoint(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    emulator.faults.schedule("error_500", endpoint="finalize")
    media_id = await v2_media(client, len(png))
    assert (await client.v2_append(media_id, 0, png)).status == 200
    assert (await client.v2_finalize(media_id)).status == 500
    final = await client.v2_finalize(media_id)
    assert final.status == 200, final.raw
    assert (emulator.media(media_id) or {})["sha256"] == hashlib.sha256(png).hexdigest()


async def test_unknown_fault_kind_or_count_is_refused(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        emulator.faults.schedule("error_418")
    with pytest.raises(ValueError, match="count"):
        emulator.faults.schedule("error_500", count=0)
    with pytest.raises(ValueError, match="unknown endpoint 'apend'"):
        emulator.faults.schedule("error_500", endpoint="apend")


# --- 429 bursts ------------------------------------------------------------------------
async def test_burst_429_refuses_although_budget_remains_then_recovers(
    client: RawClient, emulator: Emulator
) -> None:
    emulator.faults.schedule("burst_429", endpoint="initialize")
    burst = [await client.v1_init(10, "image/png") for _ in range(3)]  # default length 3
    assert [r.status for r in burst] == [429, 429, 429]
    assert all(r.json == V1_RATE_LIMITED for r in burst)
    assert all(rate_remaining(r) > 0 for r in burst)
    after = await client.v1_init(10, "image/png")
    assert after.status == 202, after.raw
    assert rate_remaining(after) == rate_remaining(burst[0]) - 1


async def test_burst_length_is_configurable_and_per_endpoint(http: aiohttp.ClientSession) -> None:
    config = EmulatorConfig(lifetimes=FAST, faults=Faults(burst_429_length=1))
    async with Emulator(config, environ={}) as emu:
        client = RawClient(http, emu)
        media_id = await v2_media(client)
        emu.faults.schedule("burst_429", endpoint="append")
        assert (await client.v2_init(10, "image/png")).status == 200  # other endpoint
        refused = await client.v2_append(media_id, 0, b"abc")
        assert refused.status == 429
        assert rate_remaining(refused) > 0
        assert (await client.v2_append(media_id, 0, b"abc")).status == 200


# --- dropped connections ------------------------------------------------------------------
@pytest.mark.parametrize("dialect", ["v1.1", "v2"])
async def test_drop_mid_body_is_a_connection_error_and_stores_nothing(
    client: RawClient, emulator: Emulator, dialect: str
) -> None:
    media_id = await (v1_media(client) if dialect == "v1.1" else v2_media(client))
    emulator.faults.schedule("drop_mid_body", endpoint="append")
    append = client.v1_append if dialect == "v1.1" else client.v2_append
    with pytest.raises(aiohttp.ClientConnectionError):
        await append(media_id, 0, blob(BIG))
    assert segments(emulator, media_id) == []
    assert emulator.stats()["bytes_received"] == 0
    assert leftovers(emulator) == []
    retry = await append(media_id, 0, blob(BIG))
    assert retry.status in (200, 204), retry.raw
    assert segments(emulator, media_id) == [0]


async def test_drop_response_after_init_still_creates_the_media(
    client: RawClient, emulator: Emulator
) -> None:
    emulator.faults.schedule("drop_response", endpoint="initialize")
    with pytest.raises(aiohttp.ClientConnectionError):
        await client.v2_init(10, "image/png")
    [orphan] = emulator.all_media()
    assert orphan["state"] == "uploading"
    assert orphan["total_bytes"] == 10


async def test_drop_response_after_append_kept_the_segment(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    media_id = await v1_media(client, len(png))
    emulator.faults.schedule("drop_response", endpoint="append")
    with pytest.raises(aiohttp.ClientConnectionError):
        await client.v1_append(media_id, 0, png)
    assert segments(emulator, media_id) == [0]
    # A client that retries the unanswered APPEND replaces the segment; the file is intact.
    assert (await client.v1_append(media_id, 0, png)).status == 204
    assert (await client.v1_finalize(media_id)).status == 200
    assert (emulator.media(media_id) or {})["sha256"] == hashlib.sha256(png).hexdigest()


async def test_drops_are_counted_as_status_0_once(client: RawClient, emulator: Emulator) -> None:
    media_id = await v2_media(client)
    emulator.faults.schedule("drop_mid_body", endpoint="append")
    emulator.faults.schedule("drop_response", endpoint="append")
    for _ in range(2):
        with pytest.raises(aiohttp.ClientConnectionError):
            await client.v2_append(media_id, 0, b"abc")
    stats = emulator.stats()
    assert stats["requests"]["append"] == {"0": 2}
    assert stats["faults"] == {"drop_mid_body": 1, "drop_response": 1}


async def test_dropped_connections_log_no_tracebacks(
    client: RawClient, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    media_id = await v2_media(client)
    emulator.faults.schedule("drop_mid_body")
    emulator.faults.schedule("drop_response", endpoint="append")
    for _ in range(2):
        with pytest.raises(aiohttp.ClientConnectionError):
            await client.v2_append(media_id, 0, blob(BIG))
    assert [r for r in caplog.records if r.levelno >= 30] == []


# --- network shaping ---------------------------------------------------------------------
async def elapsed(coro: Any) -> tuple[float, Reply]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    reply = await coro
    return loop.time() - start, reply


async def test_latency_delays_every_api_request(http: aiohttp.ClientSession) -> None:
    config = EmulatorConfig(lifetimes=FAST, network=Network(latency_ms=120))
    async with Emulator(config, environ={}) as emu:
        client = RawClient(http, emu)
        took, init = await elapsed(client.v2_init(10, "image/png"))
        assert init.status == 200
        assert took >= 0.120  # a lower bound only: the host adds its own time
        took, reply = await elapsed(client.v2_append(init.json["data"]["id"], 0, b"abc"))
        assert reply.status == 200
        assert took >= 0.120


async def test_bandwidth_cap_paces_a_large_append(http: aiohttp.ClientSession) -> None:
    bandwidth = 1_000_000
    config = EmulatorConfig(lifetimes=FAST, network=Network(bandwidth_bytes_per_sec=bandwidth))
    async with Emulator(config, environ={}) as emu:
        client = RawClient(http, emu)
        media_id = await v2_media(client)
        took, reply = await elapsed(client.v2_append(media_id, 0, blob(BIG)))
    assert reply.status == 200, reply.raw
    assert took >= BIG / bandwidth


async def test_scheduled_latency_spike(http: aiohttp.ClientSession) -> None:
    config = EmulatorConfig(lifetimes=FAST, network=Network(spike_ms=150))
    async with Emulator(config, environ={}) as emu:
        client = RawClient(http, emu)
        emu.faults.schedule("latency_spike", endpoint="initialize")
        took, reply = await elapsed(client.v2_init(10, "image/png"))
        assert reply.status == 200
        assert took >= 0.150
        assert emu.stats()["faults"] == {"latency_spike": 1}


async def test_a_gathering_answers_requests_only_once_enough_are_held_at_once(
    client: RawClient, emulator: Emulator
) -> None:
    emulator.faults.gather(3, endpoint="initialize")

    async def init() -> int:
        return (await client.v2_init(10, "image/png")).status

    two = [asyncio.ensure_future(init()) for _ in range(2)]
    status = await client.v2_status("1")  # another endpoint is not held
    assert status.status == 400  # answered (no such media)
    assert not any(task.done() for task in two)  # two of three: still held
    assert await init() == 200  # the third fills it: all three go on
    assert [await task for task in two] == [200, 200]
    assert await init() == 200  # and the next is not held
    with pytest.raises(ValueError, match="count must be"):
        emulator.faults.gather(0)


# --- processing ------------------------------------------------------------------------
async def test_processing_failure_ends_failed(
    client: RawClient, emulator: Emulator, tmp_path: Path
) -> None:
    gif = samples.write_gif(tmp_path / "a.gif", frames=3).read_bytes()
    emulator.faults.schedule("processing_failure")
    media_id = await client.v1_upload(gif, "image/gif", "tweet_gif")
    status = await client.v1_status(media_id)
    assert status.status == 200, status.raw
    info = status.json["processing_info"]
    assert info["state"] == "failed"
    assert info["error"]["name"] == "InvalidMedia"
    assert (emulator.media(media_id) or {})["state"] == "failed"
    # The next upload of the same bytes processes normally.
    again = await client.v1_upload(gif, "image/gif", "tweet_gif")
    assert (await client.v1_status(again)).json["processing_info"]["state"] == "succeeded"


# --- seeded random faults -----------------------------------------------------------------
RANDOM = Faults(
    error_500_rate=0.15,
    error_503_rate=0.1,
    burst_429_rate=0.05,
    drop_mid_body_rate=0.05,
    drop_response_rate=0.05,
)


async def random_run(http: aiohttp.ClientSession, seed: int) -> tuple[list[object], Any]:
    """Outcomes of 40 sequential INITs: the status, or "drop" for a connection error."""
    config = EmulatorConfig(lifetimes=FAST, faults=replace(RANDOM, seed=seed))
    outcomes: list[object] = []
    async with Emulator(config, environ={}) as emu:
        client = RawClient(http, emu)
        for _ in range(40):
            try:
                outcomes.append((await client.v2_init(10, "image/png")).status)
            except aiohttp.ClientConnectionError:
                outcomes.append("drop")
        return outcomes, emu.stats()


async def test_same_seed_same_faults_at_the_same_requests(http: aiohttp.ClientSession) -> None:
    first, first_stats = await random_run(http, seed=7)
    second, second_stats = await random_run(http, seed=7)
    assert first == second
    assert first_stats["faults"] == second_stats["faults"]
    assert first_stats["requests"] == second_stats["requests"]
    assert 200 in first and len(set(first)) >= 3  # faults did happen, and not only faults


async def test_other_seed_other_faults(http: aiohttp.ClientSession) -> None:
    first, _ = await random_run(http, seed=7)
    other, _ = await random_run(http, seed=8)
    assert first != other


# --- statistics and the HTTP control -----------------------------------------------------
async def test_stats_count_requests_per_endpoint_and_status_and_faults(
    client: RawClient, emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    emulator.faults.schedule("error_500", endpoint="initialize")
    emulator.faults.schedule("error_503", endpoint="append")
    await client.v2_init(3, "image/png")
    media_id = await v2_media(client, 3)
    await client.v2_append(media_id, 0, b"abc")
    await client.v2_append(media_id, 0, b"abc")
    await client.request(
        "POST", f"/2/media/upload/{media_id}/append", parts=[Part("media", b"x")], authorization=""
    )
    async with http.get(emulator.url + "/_emulator/stats") as resp:
        assert resp.status == 200
        stats = await resp.json()
    assert stats["requests"] == {
        "initialize": {"200": 1, "500": 1},
        "append": {"200": 1, "401": 1, "503": 1},
    }
    assert stats["faults"] == {"error_500": 1, "error_503": 1}
    assert stats["bytes_received"] == 3
    assert stats == emulator.stats()


async def test_faults_can_be_scheduled_over_http(
    client: RawClient, emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    control = emulator.url + "/_emulator/faults"
    body = {"kind": "error_503", "endpoint": "initialize", "count": 2}
    async with http.post(control, json=body) as resp:
        assert resp.status == 200
    statuses = [(await client.v1_init(10, "image/png")).status for _ in range(3)]
    assert statuses == [503, 503, 202]
    assert emulator.stats()["faults"] == {"error_503": 2}


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "meteor_strike"},
        {"kind": "error_500", "count": 0},
        {"kind": "error_500", "count": "x"},
        {"kind": "error_500", "endpoint": "apend"},
    ],
)
async def test_bad_fault_requests_are_400(
    emulator: Emulator, http: aiohttp.ClientSession, body: dict[str, Any]
) -> None:
    async with http.post(emulator.url + "/_emulator/faults", json=body) as resp:
        assert resp.status == 400
