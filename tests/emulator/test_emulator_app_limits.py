"""X's published per-app 24-hour limits (spec section 4), as a profile.

``RateLimits.published()`` and ``configs/emulator-x-limits.toml`` add, to the per-user
15-minute windows, one 24-hour window per endpoint shared by every user of the
emulator (the app). Every answer then carries ``x-app-limit-24hour-*``; past the app's
cap the answer is X's 429 with ``x-app-limit-24hour-remaining: 0`` and a reset hours
away, while the user's 15-minute window may still have budget. Windows are crossed
with ``emulator.advance``, never by sleeping.
"""

from __future__ import annotations

import math
from pathlib import Path

import aiohttp
import pytest

from bulkup.core import spec
from bulkup.emulator import (
    DEMO_USER,
    ConfigError,
    Emulator,
    EmulatorConfig,
    RateLimits,
)
from tests.apiclient import RawClient, Reply
from tests.conftest import FAST_LIFETIMES as FAST
from tests.emulator.conftest import SECOND_USER, V2_RATE_LIMITED

pytestmark = pytest.mark.anyio

PROFILE = Path(__file__).parents[2] / "configs" / "emulator-x-limits.toml"
TIME_SCALE = 10.0
APP_INIT_BUDGET = 3


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    """Three INITs per app per (scaled) day, the published per-user budgets."""
    limits = RateLimits(app_per_day={"initialize": APP_INIT_BUDGET}, time_scale=TIME_SCALE)
    return EmulatorConfig(users=(DEMO_USER, SECOND_USER), lifetimes=FAST, limits=limits)


def headers(reply: Reply) -> dict[str, str]:
    return {k.lower(): v for k, v in reply.headers.items()}


def app_quota(reply: Reply) -> tuple[int, int, int]:
    """(limit, remaining, reset) from the ``x-app-limit-24hour-*`` headers."""
    h = headers(reply)
    return (
        int(h["x-app-limit-24hour-limit"]),
        int(h["x-app-limit-24hour-remaining"]),
        int(h["x-app-limit-24hour-reset"]),
    )


def user_quota(reply: Reply) -> tuple[int, int, int]:
    h = headers(reply)
    return (
        int(h["x-rate-limit-limit"]),
        int(h["x-rate-limit-remaining"]),
        int(h["x-rate-limit-reset"]),
    )


# --- the profile ------------------------------------------------------------------------
def test_the_published_24_hour_figures_are_in_spec() -> None:
    assert spec.APP_RATE_WINDOW_SECS == 86400
    assert spec.APP_RATE_LIMITS_24H == {
        "initialize": 180_000,
        "append": 180_000,
        "finalize": 180_000,
        "status": 100_000,
        "upload": 50_000,
        "metadata": 50_000,
        "subtitles_create": 10_000,
        "subtitles_delete": 10_000,
    }


def test_the_x_limits_profile_and_the_named_constructor_agree() -> None:
    from_file = EmulatorConfig.from_toml(PROFILE).limits
    built = RateLimits.published()
    assert from_file == built
    assert dict(built.app_per_day) == spec.APP_RATE_LIMITS_24H
    assert dict(built.per_window) == spec.RATE_LIMITS
    assert (built.window_secs, built.app_window_secs) == (900, 86400)
    assert RateLimits.published(time_scale=100).effective_app_window_secs == 864


@pytest.mark.parametrize(
    ("app_per_day", "message"),
    [
        ({"apend": 1}, r"limits.app_per_day: unknown endpoint\(s\) \['apend'\]"),
        ({"append": -1}, r"limits.app_per_day.append must be an integer >= 0"),
        ({"append": "many"}, r"limits.app_per_day.append must be an integer >= 0"),
    ],
)
def test_app_limits_are_validated_naming_the_key(
    app_per_day: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        EmulatorConfig.from_mapping({"limits": {"app_per_day": app_per_day}})
    with pytest.raises(ConfigError, match=r"limits\.app_window_secs"):
        RateLimits(app_window_secs=0)


# --- headers ------------------------------------------------------------------------------
async def test_every_answer_carries_the_app_24_hour_headers(
    http: aiohttp.ClientSession, png: bytes
) -> None:
    config = EmulatorConfig(lifetimes=FAST, limits=RateLimits.published())
    async with Emulator(config, environ={}) as emu:
        client = RawClient(http, emu)
        before = emu.state.clock.now()
        init = await client.v2_init(len(png), "image/png", "tweet_image")
        media_id = init.json["data"]["id"]
        seen = {
            "initialize": init,
            "append": await client.v2_append(media_id, 0, png),
            "finalize": await client.v2_finalize(media_id),
            "status": await client.v2_status(media_id),
            "subtitles_create": await client.request("POST", "/2/media/subtitles", json_body={}),
            "initialize-v1.1": await client.v1_init(10, "image/png"),
        }
        now = emu.state.clock.now()
    published = spec.APP_RATE_LIMITS_24H
    for name, reply in seen.items():
        endpoint = name.removesuffix("-v1.1")
        limit, remaining, reset = app_quota(reply)
        assert limit == published[endpoint], name
        used = 2 if name == "initialize-v1.1" else 1  # the second INIT of the app
        assert remaining == limit - used, name
        assert before + 86400 <= reset <= now + 86400 + 1  # a day from its first request
        assert reset == math.ceil(reset)


async def test_without_app_limits_there_are_no_app_headers(
    http: aiohttp.ClientSession,
) -> None:
    async with Emulator(EmulatorConfig(lifetimes=FAST), environ={}) as emu:
        reply = await RawClient(http, emu).v2_init(10, "image/png")
    assert reply.status == 200
    assert not any(k.startswith("x-app-limit") for k in headers(reply))


# --- the app's cap ------------------------------------------------------------------------
async def test_the_app_budget_is_shared_by_every_user(client: RawClient) -> None:
    second = RawClient(client.http, client.emulator, SECOND_USER)
    replies = [
        await client.v2_init(10, "image/png"),
        await second.v2_init(10, "image/png"),
        await client.v2_init(10, "image/png"),
    ]
    assert [r.status for r in replies] == [200, 200, 200]
    assert [app_quota(r)[1] for r in replies] == [2, 1, 0]
    assert [user_quota(r)[1] for r in replies] == [1874, 1874, 1873]


@pytest.mark.parametrize("dialect", ["v1.1", "v2"])
async def test_past_the_app_cap_is_429_with_reset_hours_away_while_the_user_has_budget(
    client: RawClient, emulator: Emulator, dialect: str
) -> None:
    init = client.v1_init if dialect == "v1.1" else client.v2_init
    for _ in range(APP_INIT_BUDGET):
        assert (await init(10, "image/png")).status in (200, 202)
    second = RawClient(client.http, client.emulator, SECOND_USER)
    before = len(emulator.all_media())
    for who in (client, second):
        refused = await (who.v1_init if dialect == "v1.1" else who.v2_init)(10, "image/png")
        assert refused.status == 429
        if dialect == "v2":
            assert refused.content_type == "application/problem+json"
            assert refused.json == V2_RATE_LIMITED
        else:
            assert refused.json == {"errors": [{"code": 88, "message": "Rate limit exceeded."}]}
        assert "retry-after" not in headers(refused)
        limit, remaining, reset = app_quota(refused)
        assert (limit, remaining) == (APP_INIT_BUDGET, 0)
        now = emulator.state.clock.now()
        assert reset - now > 2 * 3600  # 24 h / time_scale 10: hours away
        _, user_remaining, user_reset = user_quota(refused)
        assert user_remaining > 0 and user_reset - now <= 900 / TIME_SCALE + 1
    assert len(emulator.all_media()) == before  # refused: nothing created
    # The refused requests spent none of the users' 15-minute budgets.
    assert user_quota(await client.v2_status("1"))[1] == 999  # another endpoint, untouched


async def test_refused_by_the_app_cap_spends_no_user_budget(client: RawClient) -> None:
    for _ in range(APP_INIT_BUDGET):
        await client.v2_init(10, "image/png")
    first = await client.v2_init(10, "image/png")
    second = await client.v2_init(10, "image/png")
    assert (first.status, second.status) == (429, 429)
    assert user_quota(first)[1] == user_quota(second)[1] == 1875 - APP_INIT_BUDGET


async def test_the_app_window_lasts_a_day_divided_by_time_scale(
    client: RawClient, emulator: Emulator
) -> None:
    for _ in range(APP_INIT_BUDGET):
        await client.v2_init(10, "image/png")
    emulator.advance(spec.APP_RATE_WINDOW_SECS / TIME_SCALE - 60)
    assert (await client.v2_init(10, "image/png")).status == 429
    emulator.advance(60)
    reply = await client.v2_init(10, "image/png")
    assert reply.status == 200, reply.raw
    assert app_quota(reply)[:2] == (APP_INIT_BUDGET, APP_INIT_BUDGET - 1)


async def test_stats_show_the_app_windows(
    client: RawClient, emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    second = RawClient(client.http, client.emulator, SECOND_USER)
    await client.v2_init(10, "image/png")
    await second.v2_init(10, "image/png")
    async with http.get(emulator.url + "/_emulator/stats") as resp:
        stats = await resp.json()
    [window] = stats["app_windows"]["initialize"]
    assert (window["used"], window["limit"]) == (2, APP_INIT_BUDGET)
    assert window["reset"] - window["start"] == spec.APP_RATE_WINDOW_SECS / TIME_SCALE
    assert "append" not in stats["app_windows"]  # no app limit configured for it
