"""Time, inspection and configuration: expiry, the emulated clock, ``/_emulator/*``,
discard storage, profiles and their validation, users, and the ``Emulator`` Python API.

Time moves with ``emulator.advance`` (or ``POST /_emulator/clock/advance``), never by
sleeping.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bulkup.emulator import (
    DEMO_APP_BEARER,
    DEMO_USER,
    ConfigError,
    Emulator,
    EmulatorConfig,
    Faults,
    Lifetimes,
    Network,
    RateLimits,
    Storage,
    User,
)
from bulkup.media import samples
from tests.apiclient import RawClient, Reply

pytestmark = pytest.mark.anyio

UPLOAD_EXPIRY = 60
MEDIA_EXPIRY = 120
EXPIRED = {"errors": [{"code": 324, "message": "The validation of media ids failed."}]}


@pytest.fixture
def emulator_config(tmp_path: Path) -> EmulatorConfig:
    return EmulatorConfig(
        lifetimes=Lifetimes(
            upload_expiry_secs=UPLOAD_EXPIRY,
            media_expiry_secs=MEDIA_EXPIRY,
            processing_secs=0,
            check_after_secs=0,
        ),
        storage=Storage(dir=str(tmp_path / "store")),
    )


@pytest.fixture
def png(tmp_path: Path) -> bytes:
    return samples.write_image(tmp_path / "a.png", width=80, height=60).read_bytes()


@pytest.fixture
def gif(tmp_path: Path) -> bytes:
    return samples.write_gif(tmp_path / "a.gif", frames=3).read_bytes()


async def inspect(http: aiohttp.ClientSession, emulator: Emulator, path: str) -> tuple[int, Any]:
    async with http.get(emulator.url + "/_emulator" + path) as resp:
        return resp.status, await resp.json()


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def chunks(data: bytes, n: int) -> list[bytes]:
    size = -(-len(data) // n)
    return [data[i : i + size] for i in range(0, len(data), size)]


# --- expiry of unfinished uploads ---------------------------------------------------------
async def test_init_announces_the_upload_deadline(client: RawClient) -> None:
    assert (await client.v1_init(10, "image/png")).json["expires_after_secs"] == UPLOAD_EXPIRY
    v2 = await client.v2_init(10, "image/png")
    assert v2.json["data"]["expires_after_secs"] == UPLOAD_EXPIRY


async def test_default_upload_deadlines_per_dialect(http: aiohttp.ClientSession) -> None:
    async with Emulator(environ={}) as emu:
        client = RawClient(http, emu)
        assert (await client.v1_init(10, "image/png")).json["expires_after_secs"] == 3599
        v2 = await client.v2_init(10, "image/png")
        assert v2.json["data"]["expires_after_secs"] == 1295999


async def test_unfinished_upload_expires_v1(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    init = await client.v1_init(len(png), "image/png", "tweet_image")
    media_id = init.json["media_id_string"]
    first, second = chunks(png, 2)
    assert (await client.v1_append(media_id, 0, first)).status == 204
    root = emulator.state.store.root
    assert files(root) == [f"{media_id}.segments/0.seg"]
    emulator.advance(UPLOAD_EXPIRY / 2)
    assert (await client.v1_append(media_id, 1, second)).status == 204  # still alive
    emulator.advance(UPLOAD_EXPIRY / 2 + 1)
    append = await client.v1_append(media_id, 1, second)
    assert (append.status, append.json) == (400, EXPIRED)
    final = await client.v1_finalize(media_id)
    assert (final.status, final.json) == (400, EXPIRED)
    assert (emulator.media(media_id) or {})["state"] == "expired"
    assert files(root) == []


async def test_unfinished_upload_expires_v2(client: RawClient, emulator: Emulator) -> None:
    init = await client.v2_init(6, "image/png", "tweet_image")
    media_id = init.json["data"]["id"]
    append = await client.v2_append(media_id, 0, b"abc")
    created = emulator.media(media_id) or {}
    assert append.json["data"]["expires_at"] == int(created["created_at"]) + UPLOAD_EXPIRY
    emulator.advance(UPLOAD_EXPIRY + 1)
    for reply in (await client.v2_append(media_id, 1, b"def"), await client.v2_finalize(media_id)):
        assert reply.status == 400
        assert reply.content_type == "application/problem+json"
        assert "expired" in reply.json["detail"]
    assert (emulator.media(media_id) or {})["state"] == "expired"


# --- expiry of finished media ------------------------------------------------------------
async def test_media_id_expires_after_finalize_deadline(
    client: RawClient, emulator: Emulator, png: bytes
) -> None:
    media_id = await client.v1_upload(png, "image/png", "tweet_image")
    assert files(emulator.state.store.root) == [f"{media_id}.bin"]
    status = await client.v1_status(media_id)
    assert status.json["expires_after_secs"] == MEDIA_EXPIRY
    emulator.advance(30)
    status = await client.v1_status(media_id)
    assert MEDIA_EXPIRY - 31 <= status.json["expires_after_secs"] <= MEDIA_EXPIRY - 30
    emulator.advance(MEDIA_EXPIRY - 30 + 1)
    expired = await client.v1_status(media_id)
    assert (expired.status, expired.json) == (400, EXPIRED)
    v2 = await client.v2_status(media_id)
    assert v2.status == 400 and v2.content_type == "application/problem+json"
    after = emulator.media(media_id) or {}
    assert after["state"] == "expired"
    assert after["path"] is None
    assert files(emulator.state.store.root) == []


async def test_finalize_expires_after_secs_is_the_media_lifetime(
    client: RawClient, png: bytes
) -> None:
    init = await client.v2_init(len(png), "image/png", "tweet_image")
    media_id = init.json["data"]["id"]
    await client.v2_append(media_id, 0, png)
    final = await client.v2_finalize(media_id)
    assert final.json["data"]["expires_after_secs"] == MEDIA_EXPIRY


# --- the clock drives processing -----------------------------------------------------------
async def test_processing_follows_the_emulated_clock(
    http: aiohttp.ClientSession, gif: bytes
) -> None:
    config = EmulatorConfig(lifetimes=Lifetimes(processing_secs=10, check_after_secs=2))
    async with Emulator(config, environ={}) as emu:
        client = RawClient(http, emu)
        media_id = await client.v2_upload(gif, "image/gif", "tweet_gif")
        states = [(await client.v2_status(media_id)).json["data"]["processing_info"]]
        emu.advance(5)
        states.append((await client.v2_status(media_id)).json["data"]["processing_info"])
        emu.advance(5)
        states.append((await client.v2_status(media_id)).json["data"]["processing_info"])
    assert [s["state"] for s in states] == ["in_progress", "in_progress", "succeeded"]
    assert states[0]["check_after_secs"] == 2
    assert states[0]["progress_percent"] < 50 <= states[1]["progress_percent"] < 100
    assert states[2]["progress_percent"] == 100


async def test_clock_advance_over_http_expires_uploads(
    client: RawClient, emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    media_id = (await client.v1_init(10, "image/png")).json["media_id_string"]
    async with http.post(
        emulator.url + "/_emulator/clock/advance", json={"seconds": UPLOAD_EXPIRY + 1}
    ) as resp:
        assert resp.status == 200
        assert (await resp.json())["clock_offset_secs"] == UPLOAD_EXPIRY + 1
    assert (await inspect(http, emulator, f"/media/{media_id}"))[1]["state"] == "expired"
    assert emulator.stats()["clock_offset_secs"] == UPLOAD_EXPIRY + 1


@pytest.mark.parametrize(
    "body",
    [
        b'{"seconds": -5}',
        b'{"seconds": NaN}',
        b'{"seconds": Infinity}',
        b'{"seconds": "x"}',
        b"[1]",
        b"{",
    ],
)
async def test_clock_advance_refuses_bad_requests(
    emulator: Emulator, http: aiohttp.ClientSession, body: bytes
) -> None:
    url = emulator.url + "/_emulator/clock/advance"
    async with http.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 400
    assert emulator.state.clock.offset == 0


@pytest.mark.parametrize("seconds", [-1, float("nan"), float("inf")])
async def test_advance_only_moves_forward_by_a_finite_time(
    emulator: Emulator, seconds: float
) -> None:
    with pytest.raises(ValueError, match="forward"):
        emulator.advance(seconds)
    assert emulator.state.clock.offset == 0


async def test_advancing_the_clock_keeps_oauth_timestamps_on_host_time(
    client: RawClient, emulator: Emulator
) -> None:
    emulator.advance(86400)  # a day later for expiry and windows, not for signatures
    reply = await client.v1_init(10, "image/png")
    assert reply.status == 202, reply.raw


# --- inspection ----------------------------------------------------------------------------
async def test_inspect_media_shows_what_the_server_assembled(
    client: RawClient, emulator: Emulator, http: aiohttp.ClientSession, png: bytes
) -> None:
    media_id = await client.v2_upload(png, "image/png", "tweet_image", chunk=len(png) // 3 + 1)
    alt = await client.request(
        "POST",
        "/2/media/metadata",
        json_body={"id": media_id, "metadata": {"alt_text": {"text": "a noisy square"}}},
    )
    assert alt.status == 200, alt.raw
    status, info = await inspect(http, emulator, f"/media/{media_id}")
    assert status == 200
    assert info == emulator.media(media_id)
    expected = {
        "media_id": media_id,
        "media_key": f"3_{media_id}",
        "owner": DEMO_USER.id,
        "dialect": "v2",
        "size": len(png),
        "received_bytes": len(png),
        "segments": [0, 1, 2],
        "sha256": hashlib.sha256(png).hexdigest(),
        "media_type": "image/png",
        "detected_type": "image/png",
        "media_category": "tweet_image",
        "state": "succeeded",
        "width": 80,
        "height": 60,
        "alt_text": "a noisy square",
        "subtitles": [],
    }
    assert {k: info[k] for k in expected} == expected


async def test_inspect_video_lists_its_subtitles(
    client: RawClient, emulator: Emulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    video = samples.write_video(tmp_path / "v.mp4", width=64, height=64, audio=False)
    srt = samples.write_srt(tmp_path / "s.srt").read_bytes()
    video_id = await client.v2_upload(video.read_bytes(), "video/mp4", "tweet_video")
    sub_id = await client.v2_upload(srt, "text/srt", "subtitles")
    reply = await client.request(
        "POST",
        "/2/media/subtitles",
        json_body={
            "id": video_id,
            "media_category": "TweetVideo",
            "subtitles": {"id": sub_id, "language_code": "EN", "display_name": "English"},
        },
    )
    assert reply.status == 200, reply.raw
    _, info = await inspect(http, emulator, f"/media/{video_id}")
    assert info["subtitles"] == [
        {"media_id": sub_id, "language_code": "EN", "display_name": "English"}
    ]
    assert info["media_category"] == "tweet_video"
    assert info["alt_text"] is None


@pytest.mark.parametrize("media_id", ["123456789", "not-a-number"])
async def test_inspect_unknown_media_is_404(
    emulator: Emulator, http: aiohttp.ClientSession, media_id: str
) -> None:
    status, body = await inspect(http, emulator, f"/media/{media_id}")
    assert status == 404
    assert media_id in body["error"]
    assert emulator.media(123456789) is None


async def test_inspect_lists_every_media_in_every_state(
    client: RawClient, emulator: Emulator, http: aiohttp.ClientSession, png: bytes
) -> None:
    done = await client.v1_upload(png, "image/png", "tweet_image")
    pending = (await client.v2_init(10, "image/png")).json["data"]["id"]
    status, body = await inspect(http, emulator, "/media")
    assert status == 200
    states = {m["media_id"]: m["state"] for m in body["media"]}
    assert states == {done: "succeeded", pending: "uploading"}
    assert body["media"] == emulator.all_media()


async def test_stats_report_requests_bytes_and_faults(
    client: RawClient, emulator: Emulator, http: aiohttp.ClientSession, png: bytes
) -> None:
    emulator.faults.schedule("error_500", endpoint="finalize")
    init = await client.v1_init(len(png), "image/png", "tweet_image")
    media_id = init.json["media_id_string"]
    await client.v1_append(media_id, 0, png)
    await client.v1_finalize(media_id)
    await client.v1_finalize(media_id)
    await client.v1_status(media_id)
    status, stats = await inspect(http, emulator, "/stats")
    assert status == 200
    assert stats["requests"] == {
        "initialize": {"202": 1},
        "append": {"204": 1},
        "finalize": {"200": 1, "500": 1},
        "status": {"200": 1},
    }
    assert stats["bytes_received"] == len(png)
    assert stats["faults"] == {"error_500": 1}
    assert stats["media_count"] == 1


async def test_health(emulator: Emulator, http: aiohttp.ClientSession) -> None:
    assert await inspect(http, emulator, "/health") == (200, {"ok": True})


# --- discard storage -----------------------------------------------------------------------
@pytest.fixture
async def discarding(tmp_path: Path) -> AsyncIterator[Emulator]:
    config = EmulatorConfig(
        lifetimes=Lifetimes(processing_secs=0, check_after_secs=0),
        storage=Storage(mode="discard", dir=str(tmp_path / "discard")),
    )
    async with Emulator(config, environ={}) as emu:
        yield emu


@pytest.mark.parametrize("order", [[0, 1, 2, 3], [2, 0, 3, 1], [3, 2, 1, 0]])
async def test_discard_mode_hashes_without_writing_files(
    discarding: Emulator, http: aiohttp.ClientSession, png: bytes, order: list[int]
) -> None:
    client = RawClient(http, discarding)
    parts = chunks(png, 4)
    init = await client.v1_init(len(png), "image/png", "tweet_image")
    media_id = init.json["media_id_string"]
    for index in order:
        assert (await client.v1_append(media_id, index, parts[index])).status == 204
    final = await client.v1_finalize(media_id)
    assert final.status == 200, final.raw
    info = discarding.media(media_id) or {}
    assert info["sha256"] == hashlib.sha256(png).hexdigest()
    assert (info["size"], info["state"], info["path"]) == (len(png), "succeeded", None)
    assert files(discarding.state.store.root) == []


async def test_discard_mode_never_reports_a_wrong_hash(
    discarding: Emulator, http: aiohttp.ClientSession, png: bytes
) -> None:
    client = RawClient(http, discarding)
    first, second = chunks(png, 2)
    media_id = (await client.v2_init(len(png), "image/png", "tweet_image")).json["data"]["id"]
    await client.v2_append(media_id, 0, bytes(len(first)))  # wrong bytes, already hashed...
    await client.v2_append(media_id, 1, second)
    await client.v2_append(media_id, 0, first)  # ...then replaced
    await client.v2_finalize(media_id)
    assert (discarding.media(media_id) or {})["sha256"] is None


# --- profiles --------------------------------------------------------------------------------
FULL_PROFILE = """
app_bearer_tokens = ["profile-app-token"]

[auth]
timestamp_window_secs = 120

[[users]]
id = 42
screen_name = "alice"
consumer_key = "alice-ck"
consumer_secret = "alice-cs"
access_token = "42-alice"
access_token_secret = "alice-ats"
bearer_token = "alice-bearer"

[[users]]
id = "43"
bearer_tokens = ["bob-1", "bob-2"]
scopes = ["tweet.read"]

[lifetimes]
upload_expiry_secs = 600
media_expiry_secs = 3600
processing_secs = 0
check_after_secs = 0
max_chunk_bytes = 1048576

[limits]
enabled = true
window_secs = 900
time_scale = 60

[limits.per_window]
append = 100
status = 7

[network]
latency_ms = 0
jitter_ms = 0
spike_rate = 0.0
spike_ms = 250
bandwidth_bytes_per_sec = 0

[faults]
seed = 1234
error_500_rate = 0.0
error_503_rate = 0.0
drop_mid_body_rate = 0.0
drop_response_rate = 0.0
burst_429_rate = 0.0
burst_429_length = 5
processing_failure_rate = 0.0

[storage]
mode = "disk"
dir = ""
"""


def write_profile(tmp_path: Path, text: str, name: str = "profile.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_profile_with_every_section_is_read(tmp_path: Path) -> None:
    config = EmulatorConfig.from_toml(write_profile(tmp_path, FULL_PROFILE))
    alice, bob = config.users
    assert (alice.id, alice.screen_name, alice.consumer_key) == ("42", "alice", "alice-ck")
    assert alice.bearer_tokens == ("alice-bearer",)
    assert (bob.id, bob.bearer_tokens, bob.scopes) == ("43", ("bob-1", "bob-2"), ("tweet.read",))
    assert config.app_bearer_tokens == ("profile-app-token",)
    assert config.timestamp_window_secs == 120
    assert config.lifetimes == Lifetimes(
        upload_expiry_secs=600,
        media_expiry_secs=3600,
        processing_secs=0,
        check_after_secs=0,
        max_chunk_bytes=1 << 20,
    )
    assert config.limits.effective_window_secs == 15
    assert config.limits.per_window["append"] == 100
    assert config.limits.per_window["initialize"] == 1875  # unlisted: the published limit
    assert config.network == Network(spike_ms=250)
    assert config.faults == Faults(seed=1234, burst_429_length=5)
    assert config.storage == Storage()


def test_empty_profile_is_the_default_config(tmp_path: Path) -> None:
    assert EmulatorConfig.from_toml(write_profile(tmp_path, "")) == EmulatorConfig()


async def test_profile_users_and_settings_are_served(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    config = EmulatorConfig.from_toml(write_profile(tmp_path, FULL_PROFILE))
    alice = config.users[0]
    async with Emulator(config, environ={"X_API_KEY": "ignored"}) as emu:
        assert emu.users == config.users
        as_alice = RawClient(http, emu, alice)
        init = await as_alice.v1_init(10, "image/png")
        assert init.status == 202, init.raw
        media_id = init.json["media_id_string"]
        append = await as_alice.v1_append(media_id, 0, b"0123456789")
        assert append.headers["x-rate-limit-limit"] == "100"
        assert (
            await RawClient(http, emu, alice, bearer="alice-bearer").v2_init(1, "image/png")
        ).status == 200
        assert (await RawClient(http, emu, DEMO_USER).v1_init(10, "image/png")).status == 401
        bob = await RawClient(http, emu, bearer="bob-2").v2_init(1, "image/png")
        assert bob.status == 403
        app = await RawClient(http, emu, bearer="profile-app-token").v2_init(1, "image/png")
        assert (app.status, app.json["title"]) == (403, "Unsupported Authentication")
        demo_app = await RawClient(http, emu, bearer=DEMO_APP_BEARER).v2_init(1, "image/png")
        assert demo_app.status == 401
        stale = await as_alice.request(
            "POST",
            "/1.1/media/upload.json",
            form={"command": "INIT", "total_bytes": "1", "media_type": "image/png"},
            sign_kw={"timestamp": int(emu.state.clock.now()) - 150},
        )
        assert (stale.status, stale.json["errors"][0]["code"]) == (401, 135)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[netwrok]\nlatency_ms = 5\n", "netwrok"),
        ("[network]\nlatency = 5\n", "latency"),
        ("[faults]\nerror_rate = 0.1\n", "error_rate"),
        ("[auth]\nwindow = 10\n", "window"),
        ('[[users]]\nid = "1"\npassword = "x"\n', "password"),
        ("[limits.per_window]\nuploads = 5\n", "uploads"),
        ("colour = 'blue'\n", "colour"),
    ],
)
def test_unknown_keys_and_sections_are_named(tmp_path: Path, text: str, named: str) -> None:
    path = write_profile(tmp_path, text)
    with pytest.raises(ConfigError, match=named) as caught:
        EmulatorConfig.from_toml(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[network]\nlatency_ms = -1\n", "network.latency_ms"),
        ("[network]\nspike_rate = 1.5\n", "network.spike_rate"),
        ("[faults]\nerror_500_rate = 1.01\n", "faults.error_500_rate"),
        ("[faults]\ndrop_response_rate = -0.1\n", "faults.drop_response_rate"),
        ('[storage]\nmode = "x"\n', "storage.mode"),
        ("[limits]\ntime_scale = 0\n", "time_scale"),
        ('[limits.per_window]\nappend = "many"\n', "limits.per_window.append"),
        ("[lifetimes]\nmax_chunk_bytes = 0\n", "max_chunk_bytes"),
        ("[lifetimes]\nupload_expiry_secs = -1\n", "upload_expiry_secs"),
        ("[auth]\ntimestamp_window_secs = 0\n", "timestamp_window_secs"),
        ('[[users]]\nid = "alice"\n', "numeric"),
        ('[[users]]\nid = "1"\nconsumer_key = "k"\n', "consumer_secret"),
        ('[[users]]\nid = "1"\n[[users]]\nid = "1"\n', "share an id"),
        ('[users]\nid = "1"\n', r"\[\[users\]\]"),
        ("network = 5\n", "network"),
        ('app_bearer_tokens = "one"\n', "app_bearer_tokens"),
        ('[network]\nlatency_ms = "fast"\n', "latency_ms|str"),
    ],
)
def test_bad_values_are_config_errors(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        EmulatorConfig.from_toml(write_profile(tmp_path, text))


def test_unreadable_or_invalid_profile_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read profile"):
        EmulatorConfig.from_toml(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="invalid TOML"):
        EmulatorConfig.from_toml(write_profile(tmp_path, "[network\n"))


def test_settings_validate_when_built_in_python() -> None:
    with pytest.raises(ConfigError, match=r"network.latency_ms"):
        Network(latency_ms=-5)
    with pytest.raises(ConfigError, match=r"faults.processing_failure_rate"):
        Faults(processing_failure_rate=2)
    with pytest.raises(ConfigError, match=r"storage.mode"):
        Storage(mode="x")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown endpoint"):
        RateLimits(per_window={"tweets": 1})
    assert issubclass(ConfigError, ValueError)


# --- users from the environment ---------------------------------------------------------------
ENV = {
    "X_API_KEY": "env-consumer-key",
    "X_API_SECRET": "env-consumer-secret",
    "X_ACCESS_TOKEN": "env-access-token",
    "X_ACCESS_TOKEN_SECRET": "env-token-secret",
    "X_BEARER_TOKEN": "env-bearer",
}


async def statuses(*clients: RawClient) -> list[int]:
    """The status of a v2 INIT by each client."""
    return [(await c.v2_init(1, "image/png")).status for c in clients]


async def test_env_vars_define_the_user(http: aiohttp.ClientSession) -> None:
    async with Emulator(EmulatorConfig(), environ=ENV) as emu:
        user = emu.user
        assert (user.consumer_key, user.consumer_secret) == (
            "env-consumer-key",
            "env-consumer-secret",
        )
        assert (user.access_token, user.access_token_secret) == (
            "env-access-token",
            "env-token-secret",
        )
        assert user.bearer_tokens == ("env-bearer",)
        results = await statuses(
            RawClient(http, emu),
            RawClient(http, emu, bearer="env-bearer"),
            RawClient(http, emu, DEMO_USER),
            RawClient(http, emu, bearer=DEMO_USER.bearer_tokens[0]),
        )
    assert results == [200, 200, 401, 401]


async def test_partial_env_fills_in_from_the_demo_user(http: aiohttp.ClientSession) -> None:
    async with Emulator(EmulatorConfig(), environ={"X_BEARER_TOKEN": "only-bearer"}) as emu:
        assert emu.user.consumer_key == DEMO_USER.consumer_key
        results = await statuses(
            RawClient(http, emu, DEMO_USER), RawClient(http, emu, bearer="only-bearer")
        )
    assert results == [200, 200]


async def test_process_environment_is_read_when_environ_is_not_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("X_BEARER_TOKEN", "from-os-environ")
    async with Emulator(EmulatorConfig()) as emu:
        assert emu.user.bearer_tokens == ("from-os-environ",)


async def test_without_users_or_env_the_demo_user_is_served(http: aiohttp.ClientSession) -> None:
    async with Emulator(EmulatorConfig(), environ={}) as emu:
        assert emu.users == (DEMO_USER,)
        assert await statuses(RawClient(http, emu)) == [200]


async def test_configured_users_win_over_env(http: aiohttp.ClientSession) -> None:
    only = User(id="7", bearer_tokens=("seven",))
    async with Emulator(EmulatorConfig(users=(only,)), environ=ENV) as emu:
        assert emu.users == (only,)
        results = await statuses(
            RawClient(http, emu, bearer="seven"), RawClient(http, emu, bearer="env-bearer")
        )
    assert results == [200, 401]


# --- the Emulator Python API -------------------------------------------------------------------
async def test_emulator_serves_on_a_free_port_and_stops(http: aiohttp.ClientSession) -> None:
    emu = Emulator(environ={})
    with pytest.raises(RuntimeError, match="not running"):
        _ = emu.state
    async with emu:
        assert emu.url == f"http://127.0.0.1:{emu.port}"
        assert emu.port > 0
        status, _ = await inspect(http, emu, "/health")
        assert status == 200
        root = emu.state.store.root
        assert root.is_dir()
    assert not root.exists()  # the temporary storage is removed
    with pytest.raises(aiohttp.ClientConnectionError):
        await inspect(http, emu, "/health")


async def test_two_emulators_run_side_by_side(http: aiohttp.ClientSession) -> None:
    async with Emulator(environ={}) as one, Emulator(environ={}) as two:
        assert one.port != two.port
        await RawClient(http, one).v2_init(1, "image/png")
        assert len(one.all_media()) == 1
        assert two.all_media() == []


async def test_storage_dir_is_kept_after_stop(
    tmp_path: Path, http: aiohttp.ClientSession, png: bytes
) -> None:
    config = EmulatorConfig(storage=Storage(dir=str(tmp_path / "kept")))
    async with Emulator(config, environ={}) as emu:
        media_id = await RawClient(http, emu).v1_upload(png, "image/png", "tweet_image")
    assert (tmp_path / "kept" / f"{media_id}.bin").read_bytes() == png


async def test_self_signed_tls(http: aiohttp.ClientSession, tmp_path: Path) -> None:
    async with Emulator(environ={}, tls="self-signed", ca_path=tmp_path / "ca.pem") as emu:
        assert emu.url.startswith("https://")
        assert emu.ca_path == tmp_path / "ca.pem"
        trust = ssl.create_default_context(cafile=str(emu.ca_path))
        async with http.get(emu.url + "/_emulator/health", ssl=trust) as resp:
            assert resp.status == 200
        assert (await _tls_init(http, emu, trust)).status == 202  # signed for https://


async def _tls_init(http: aiohttp.ClientSession, emu: Emulator, trust: ssl.SSLContext) -> Reply:
    client = RawClient(http, emu)
    form = {"command": "INIT", "total_bytes": "1", "media_type": "image/png"}
    url = client.url("/1.1/media/upload.json")
    headers = {"Authorization": client.auth_header("POST", url, form)}
    async with http.post(url, data=form, headers=headers, ssl=trust) as resp:
        return Reply(resp.status, dict(resp.headers), await resp.read())


async def test_bad_tls_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="tls"):
        async with Emulator(environ={}, tls="plain"):
            pass
