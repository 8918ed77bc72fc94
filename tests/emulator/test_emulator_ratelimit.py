"""Per-user, per-endpoint rate limits over real sockets, with the API's headers and bodies.

The module's emulator allows 3 INITs per window and shortens the 15-minute window
tenfold (90 s); windows are crossed with ``emulator.advance``, never by sleeping.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from bulkup.core import spec
from bulkup.emulator import DEMO_USER, Answers, Emulator, EmulatorConfig, RateLimits
from bulkup.media import samples
from tests.apiclient import RawClient, Reply
from tests.conftest import FAST_LIFETIMES as FAST
from tests.emulator.conftest import SECOND_USER, V2_RATE_LIMITED

pytestmark = pytest.mark.anyio

INIT_BUDGET = 3
TIME_SCALE = 10.0
WINDOW = spec.RATE_WINDOW_SECS / TIME_SCALE

V1_RATE_LIMITED = {"errors": [{"code": 88, "message": "Rate limit exceeded."}]}


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(
        users=(DEMO_USER, SECOND_USER),
        lifetimes=FAST,
        limits=RateLimits(per_window={"initialize": INIT_BUDGET}, time_scale=TIME_SCALE),
    )


@pytest.fixture
def png(tmp_path: Path) -> bytes:
    return samples.write_image(tmp_path / "a.png").read_bytes()


def rate(reply: Reply) -> tuple[int, int, int]:
    """(limit, remaining, reset) from the ``x-rate-limit-*`` headers."""
    headers = {k.lower(): v for k, v in reply.headers.items()}
    return (
        int(headers["x-rate-limit-limit"]),
        int(headers["x-rate-limit-remaining"]),
        int(headers["x-rate-limit-reset"]),
    )


async def exhaust_init(client: RawClient) -> list[Reply]:
    return [await client.v1_init(10, "image/png") for _ in range(INIT_BUDGET)]


# --- headers --------------------------------------------------------------------------
async def test_every_authenticated_response_carries_rate_limit_headers(
    client: RawClient, png: bytes
) -> None:
    init = await client.v2_init(len(png), "image/png", "tweet_image")
    media_id = init.json["data"]["id"]
    replies = [
        init,
        await client.v2_append(media_id, 0, png),
        await client.v2_append(media_id, 1000, b"x"),  # a 400 after authentication
        await client.v2_finalize(media_id),
        await client.v2_status(media_id),
        await client.v1_status(media_id),
    ]
    assert [r.status for r in replies] == [200, 200, 400, 200, 200, 200]
    for reply in replies:
        limit, remaining, reset = rate(reply)
        assert 0 <= remaining < limit
        assert reset > 0


async def test_without_rate_headers_the_budget_holds_but_no_answer_tells_it(
    tmp_path: Path,
) -> None:
    config = EmulatorConfig(
        lifetimes=FAST,
        limits=RateLimits(per_window={"initialize": 1}),
        answers=Answers(rate_headers=False),
    )
    async with Emulator(config, environ={}) as emu, aiohttp.ClientSession() as http:
        client = RawClient(http, emu)
        replies = [await client.v2_init(10, "image/png") for _ in range(2)]
    assert [r.status for r in replies] == [200, 429]
    for reply in replies:
        names = {k.lower() for k in reply.headers}
        assert not {n for n in names if n.startswith(("x-rate-limit", "x-app-limit"))}, names


async def test_remaining_counts_down_per_request(client: RawClient) -> None:
    replies = await exhaust_init(client)
    assert [r.status for r in replies] == [202] * INIT_BUDGET
    assert [rate(r)[:2] for r in replies] == [(3, 2), (3, 1), (3, 0)]
    assert len({rate(r)[2] for r in replies}) == 1  # one window, one reset time


async def test_v1_over_budget_is_429_code_88(client: RawClient) -> None:
    await exhaust_init(client)
    reply = await client.v1_init(10, "image/png")
    assert reply.status == 429
    assert reply.json == V1_RATE_LIMITED
    assert rate(reply)[:2] == (INIT_BUDGET, 0)


async def test_v2_over_budget_is_429_problem(client: RawClient) -> None:
    for _ in range(INIT_BUDGET):
        assert (await client.v2_init(10, "image/png")).status == 200
    reply = await client.v2_init(10, "image/png")
    assert reply.status == 429
    assert reply.content_type == "application/problem+json"
    assert reply.json == V2_RATE_LIMITED
    assert rate(reply)[:2] == (INIT_BUDGET, 0)


async def test_refused_requests_create_nothing(client: RawClient, emulator: Emulator) -> None:
    await exhaust_init(client)
    for _ in range(3):
        assert (await client.v1_init(10, "image/png")).status == 429
    assert len(emulator.all_media()) == INIT_BUDGET
    assert emulator.stats()["requests"]["initialize"] == {"202": 3, "429": 3}


async def test_budget_is_per_user(client: RawClient) -> None:
    await exhaust_init(client)
    assert (await client.v1_init(10, "image/png")).status == 429
    second = RawClient(client.http, client.emulator, SECOND_USER)
    reply = await second.v1_init(10, "image/png")
    assert reply.status == 202, reply.raw
    assert rate(reply)[:2] == (INIT_BUDGET, INIT_BUDGET - 1)


async def test_budget_is_per_user_whatever_the_authentication(client: RawClient) -> None:
    for _ in range(INIT_BUDGET - 1):
        assert (await client.v2_init(10, "image/png")).status == 200
    bearer = RawClient(client.http, client.emulator, bearer=DEMO_USER.bearer_tokens[0])
    last = await bearer.v2_init(10, "image/png")
    assert rate(last)[1] == 0
    assert (await bearer.v2_init(10, "image/png")).status == 429


async def test_budget_is_per_endpoint(client: RawClient) -> None:
    replies = await exhaust_init(client)
    media_id = replies[0].json["media_id_string"]
    assert (await client.v1_init(10, "image/png")).status == 429
    append = await client.v1_append(media_id, 0, b"0123456789")
    assert append.status == 204, append.raw
    assert rate(append)[:2] == (spec.RATE_LIMITS["append"], spec.RATE_LIMITS["append"] - 1)
    final = await client.v1_finalize(media_id)
    assert rate(final)[:2] == (spec.RATE_LIMITS["finalize"], spec.RATE_LIMITS["finalize"] - 1)


# --- windows --------------------------------------------------------------------------
async def test_budget_returns_after_the_window(client: RawClient, emulator: Emulator) -> None:
    first = await exhaust_init(client)
    assert (await client.v1_init(10, "image/png")).status == 429
    emulator.advance(WINDOW / 2)
    assert (await client.v1_init(10, "image/png")).status == 429
    emulator.advance(WINDOW / 2)
    reply = await client.v1_init(10, "image/png")
    assert reply.status == 202, reply.raw
    limit, remaining, reset = rate(reply)
    assert (limit, remaining) == (INIT_BUDGET, INIT_BUDGET - 1)
    assert reset >= rate(first[0])[2] + WINDOW - 1


async def test_stats_show_the_requests_accepted_in_every_window(
    client: RawClient, emulator: Emulator
) -> None:
    await exhaust_init(client)
    assert (await client.v1_init(10, "image/png")).status == 429  # refused: not counted
    emulator.advance(WINDOW)
    await client.v1_init(10, "image/png")

    windows = emulator.stats()["rate_windows"]["initialize"]

    assert [(w["user_id"], w["used"]) for w in windows] == [
        (DEMO_USER.id, INIT_BUDGET),
        (DEMO_USER.id, 1),
    ]
    assert windows[1]["start"] - windows[0]["start"] >= WINDOW


async def test_reset_header_is_now_plus_the_scaled_window(
    client: RawClient, emulator: Emulator
) -> None:
    before = emulator.state.clock.now()
    reply = await client.v1_init(10, "image/png")
    after = emulator.state.clock.now()
    reset = rate(reply)[2]  # whole seconds, rounded up
    assert before + WINDOW <= reset <= after + WINDOW + 1


async def test_time_scale_divides_the_window(http: aiohttp.ClientSession) -> None:
    config = EmulatorConfig(
        limits=RateLimits(per_window={"initialize": 1}, time_scale=100), lifetimes=FAST
    )
    async with Emulator(config, environ={}) as emu:
        client = RawClient(http, emu)
        reply = await client.v1_init(10, "image/png")
        assert rate(reply)[2] - emu.state.clock.now() <= spec.RATE_WINDOW_SECS / 100 + 1
        assert (await client.v1_init(10, "image/png")).status == 429
        emu.advance(spec.RATE_WINDOW_SECS / 100)
        assert (await client.v1_init(10, "image/png")).status == 202


async def test_published_limits_and_15_minute_window_by_default(
    http: aiohttp.ClientSession, png: bytes
) -> None:
    async with Emulator(EmulatorConfig(lifetimes=FAST), environ={}) as emu:
        client = RawClient(http, emu)
        init = await client.v2_init(len(png), "image/png", "tweet_image")
        media_id = init.json["data"]["id"]
        seen = {
            "initialize": init,
            "append": await client.v2_append(media_id, 0, png),
            "finalize": await client.v2_finalize(media_id),
            "status": await client.v2_status(media_id),
            "metadata": await client.request(
                "POST",
                "/2/media/metadata",
                json_body={"id": media_id, "metadata": {"alt_text": {"text": "a"}}},
            ),
            "upload": await client.request("POST", "/2/media/upload", json_body={}),
            "subtitles_create": await client.request("POST", "/2/media/subtitles", json_body={}),
            "subtitles_delete": await client.request("DELETE", "/2/media/subtitles", json_body={}),
        }
        now = emu.state.clock.now()
    published = {"initialize": 1875, "append": 1875, "finalize": 1875, "status": 1000}
    published |= {"upload": 500, "metadata": 500, "subtitles_create": 100}
    published |= {"subtitles_delete": 100}
    assert {name: rate(r)[0] for name, r in seen.items()} == published
    assert {name: rate(r)[1] for name, r in seen.items()} == {
        n: v - 1 for n, v in published.items()
    }
    assert spec.RATE_WINDOW_SECS - 5 <= rate(init)[2] - now <= spec.RATE_WINDOW_SECS + 1


async def test_disabled_limits_never_refuse_but_still_send_headers(
    http: aiohttp.ClientSession,
) -> None:
    limits = RateLimits(enabled=False, per_window={"initialize": 1})
    async with Emulator(EmulatorConfig(limits=limits), environ={}) as emu:
        client = RawClient(http, emu)
        replies = [await client.v1_init(10, "image/png") for _ in range(3)]
        windows = emu.stats()["rate_windows"]
    assert [r.status for r in replies] == [202, 202, 202]
    assert all(rate(r)[:2] == (1, 1) for r in replies)
    assert windows == {}  # no budgets, so no window usage to show


# --- injected bursts ----------------------------------------------------------------
async def test_a_burst_429_looks_like_a_brief_refusal_not_a_cap(
    http: aiohttp.ClientSession,
) -> None:
    # Reset within the current 15-minute window, budget left in both windows, no
    # Retry-After: a client backs off briefly instead of taking it for a cap.
    limits = RateLimits.published(time_scale=10)
    config = EmulatorConfig(lifetimes=FAST, limits=limits)
    async with Emulator(config, environ={}) as emu:
        client = RawClient(http, emu)
        assert (await client.v2_init(10, "image/png")).status == 200
        emu.faults.schedule("burst_429", endpoint="initialize")
        for refused in [await client.v2_init(10, "image/png") for _ in range(3)]:
            assert refused.status == 429
            headers = {k.lower(): v for k, v in refused.headers.items()}
            now = emu.state.clock.now()
            assert "retry-after" not in headers
            assert int(headers["x-rate-limit-remaining"]) == 1874
            assert (
                now < int(headers["x-rate-limit-reset"]) <= now + limits.effective_window_secs + 1
            )
            assert int(headers["x-app-limit-24hour-remaining"]) == 179_999
        assert (await client.v2_init(10, "image/png")).status == 200


async def test_a_burst_429_when_the_budget_is_gone_says_so(http: aiohttp.ClientSession) -> None:
    limits = RateLimits(per_window={"initialize": 1})
    async with Emulator(EmulatorConfig(lifetimes=FAST, limits=limits), environ={}) as emu:
        client = RawClient(http, emu)
        assert (await client.v2_init(10, "image/png")).status == 200
        emu.faults.schedule("burst_429", endpoint="initialize", count=1)
        refused = await client.v2_init(10, "image/png")
    assert refused.status == 429 and rate(refused)[1] == 0
