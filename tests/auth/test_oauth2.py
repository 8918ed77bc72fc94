"""OAuth 2.0 user tokens against the emulator: login with PKCE, refresh during uploads.

Everything talks HTTP over real sockets: :func:`login_pkce` serves its loopback
redirect on a callback the emulator's clients register (a free port per test), a
"browser" (an aiohttp client following redirects) approves at the emulator, and
uploads run through the real :class:`Uploader` and ``bulkup`` command line. Token
expiry is the emulator's clock moved forward, never a sleep; a token renewed before
it expires is seen on the emulator's clock too.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import aiohttp
import anyio
import pytest

from bulkup.auth.credentials import BearerAuth, auth_from_env, secrets_of
from bulkup.auth.oauth2 import (
    REFRESH_BEFORE_EXPIRY,
    X_TOKEN_URL,
    OAuth2Auth,
    OAuth2Client,
    TokenStore,
    login_pkce,
)
from bulkup.client.config import UploadConfig
from bulkup.client.progress import NullObserver
from bulkup.client.uploader import Uploader
from bulkup.core.items import Item, Result
from bulkup.emulator import (
    DEMO_CLIENT,
    DEMO_CONFIDENTIAL_CLIENT,
    Emulator,
    EmulatorConfig,
    Lifetimes,
    OAuth2,
)
from bulkup.errors import ConfigError, LoginFailed, TokenRefused
from bulkup.media import samples
from tests.conftest import KiB

pytestmark = pytest.mark.anyio

TOKEN_LIFETIME = 600
TOKEN_PATH = "/2/oauth2/token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def oauth2_config(callback: str, access_token_secs: int = TOKEN_LIFETIME) -> EmulatorConfig:
    """Fast processing; the demo clients register ``callback`` (only); tokens live
    ``access_token_secs`` on the emulator's clock."""
    clients = tuple(
        dataclasses.replace(app, redirect_uris=(callback,))
        for app in (DEMO_CLIENT, DEMO_CONFIDENTIAL_CLIENT)
    )
    return EmulatorConfig(
        lifetimes=Lifetimes(processing_secs=0, check_after_secs=0),
        oauth2=OAuth2(clients=clients, access_token_secs=access_token_secs),
    )


@pytest.fixture
def callback() -> str:
    """A callback URL on a free loopback port, registered by the emulator's clients."""
    return f"http://127.0.0.1:{free_port()}/callback"


@pytest.fixture
def emulator_config(callback: str) -> EmulatorConfig:
    return oauth2_config(callback)


def callback_of(emulator: Emulator) -> str:
    """The callback the emulator's demo client registers."""
    return emulator.config.oauth2.clients[0].redirect_uris[0]


def client_for(emulator: Emulator, *, confidential: bool = False, **kw: Any) -> OAuth2Client:
    app = DEMO_CONFIDENTIAL_CLIENT if confidential else DEMO_CLIENT
    return OAuth2Client(
        client_id=app.client_id,
        client_secret=app.client_secret or None,
        token_url=emulator.url + TOKEN_PATH,
        authorize_url=emulator.url + "/i/oauth2/authorize",
        **kw,
    )


def browser(
    http: aiohttp.ClientSession, tamper: Callable[[str], str] = lambda url: url
) -> Callable[[str], Awaitable[None]]:
    """Approve like a browser: follow the authorize URL's redirect to the loopback."""

    async def follow(url: str) -> None:
        async with http.get(tamper(url), allow_redirects=False) as resp:
            location = resp.headers["Location"]
        async with http.get(location) as resp:
            assert resp.status == 200
            assert "you can close this window" in await resp.text()

    return follow


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


def token_requests(emulator: Emulator) -> dict[str, int]:
    counts: dict[str, int] = emulator.stats()["requests"].get(TOKEN_PATH, {})
    return counts


async def refresh_by_hand(
    emulator: Emulator, http: aiohttp.ClientSession, refresh_token: str
) -> tuple[int, dict[str, Any]]:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": DEMO_CLIENT.client_id,
    }
    async with http.post(emulator.url + TOKEN_PATH, data=form) as resp:
        body: dict[str, Any] = await resp.json()
        return resp.status, body


def read_json(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def logged_in(
    emulator: Emulator, http: aiohttp.ClientSession, path: Path, **kw: Any
) -> dict[str, Any]:
    """Log in to the emulator with PKCE; the token file's content."""
    client = client_for(emulator, **kw)
    await login_pkce(
        client,
        store=TokenStore.file(path),
        open_browser=browser(http),
        redirect_uri=callback_of(emulator),
        timeout=10,
    )
    return read_json(path)


class ExpireTokens(NullObserver):
    """Moves the emulator's clock by ``seconds`` (default: past the token lifetime) at
    the first acknowledged chunk."""

    def __init__(self, emulator: Emulator, seconds: float = TOKEN_LIFETIME + 1) -> None:
        self.emulator = emulator
        self.seconds = seconds
        self.done = False

    def bytes_acked(self, item_id: str, count: int) -> None:
        if not self.done:
            self.done = True
            self.emulator.advance(self.seconds)


@dataclasses.dataclass
class FrozenClock:
    at: float

    def now(self) -> float:
        return self.at


# --- login ------------------------------------------------------------------------------
async def test_login_with_pkce_saves_private_tokens_the_api_accepts(
    emulator: Emulator, http: aiohttp.ClientSession, tmp_path: Path, big_png: bytes
) -> None:
    path = tmp_path / "config" / "token.json"
    saved = await logged_in(emulator, http, path)

    assert mode(path) == 0o600
    assert set(saved) == {"access_token", "refresh_token", "token_type", "expires_at", "scope"}
    assert saved["scope"] == "media.write offline.access"
    photo = tmp_path / "big.png"
    photo.write_bytes(big_png)
    auth = OAuth2Auth(store=TokenStore.file(path), client=client_for(emulator))
    config = UploadConfig(endpoint=emulator.url, chunk_size=16 * KiB, strategy="chunked")
    async with Uploader(config, auth=auth) as up:
        result = await up.upload(photo)
    assert result.status == "succeeded", result.error
    assert (emulator.media(str(result.media_id_string)) or {})["sha256"] == sha256(big_png)


async def test_a_redirect_with_another_state_is_refused_and_nothing_saved(
    emulator: Emulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    path = tmp_path / "token.json"
    forged = browser(http, lambda url: with_query(url, state="attacker-state"))
    with pytest.raises(LoginFailed, match="state") as caught:
        await login_pkce(
            client_for(emulator),
            store=TokenStore.file(path),
            open_browser=forged,
            redirect_uri=callback_of(emulator),
            timeout=10,
        )
    assert caught.value.error == "state_mismatch"
    assert not path.exists() and not token_requests(emulator)


async def test_a_code_issued_for_another_challenge_is_refused(
    emulator: Emulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    # An injected code: authorized with the attacker's challenge, not this login's.
    swapped = browser(http, lambda url: with_query(url, code_challenge="A" * 43))
    with pytest.raises(LoginFailed, match="invalid_grant"):
        await login_pkce(
            client_for(emulator),
            store=TokenStore.file(tmp_path / "token.json"),
            open_browser=swapped,
            redirect_uri=callback_of(emulator),
            timeout=10,
        )
    assert token_requests(emulator) == {"400": 1}


async def test_a_refused_authorization_is_reported_with_its_rfc6749_code(
    emulator: Emulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    with pytest.raises(LoginFailed, match="invalid_scope") as caught:
        await login_pkce(
            client_for(emulator, scope="media.write no.such.scope"),
            store=TokenStore.file(tmp_path / "token.json"),
            open_browser=browser(http),
            redirect_uri=callback_of(emulator),
            timeout=10,
        )
    assert caught.value.error == "invalid_scope"


async def test_a_login_without_media_write_is_granted_and_its_uploads_get_403(
    emulator: Emulator, http: aiohttp.ClientSession, tmp_path: Path, png: bytes
) -> None:
    path = tmp_path / "token.json"
    saved = await logged_in(emulator, http, path, scope="tweet.read offline.access")
    assert saved["scope"] == "tweet.read offline.access"  # X grants what was asked
    photo = tmp_path / "i.png"
    photo.write_bytes(png)
    auth = OAuth2Auth(store=TokenStore.file(path), client=client_for(emulator))
    async with Uploader(UploadConfig(endpoint=emulator.url), auth=auth) as up:
        result = await up.upload(photo)
    assert result.status == "failed" and result.error is not None
    assert (result.error.kind, result.error.http_status) == ("auth_error", 403)
    assert token_requests(emulator) == {"200": 1}  # a 403 is not a reason to refresh


async def test_a_login_listens_on_the_redirect_uri_it_is_given_and_sends_it_verbatim(
    emulator: Emulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    sent: list[str] = []

    async def approve(url: str) -> None:
        sent.append(parse_qs(urlsplit(url).query)["redirect_uri"][0])
        await browser(http)(url)

    await login_pkce(
        client_for(emulator),
        store=TokenStore.file(tmp_path / "token.json"),
        open_browser=approve,
        redirect_uri=callback_of(emulator),
        timeout=10,
    )
    assert sent == [callback_of(emulator)]


async def test_a_login_on_a_port_in_use_fails_naming_the_port(
    emulator: Emulator, tmp_path: Path
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(LoginFailed, match=f"port {port}") as caught:
            await login_pkce(
                client_for(emulator),
                store=TokenStore.file(tmp_path / "token.json"),
                open_browser=lambda url: None,
                redirect_uri=f"http://127.0.0.1:{port}/callback",
                timeout=10,
            )
    assert caught.value.error == "cannot_listen"
    assert not (tmp_path / "token.json").exists()


@pytest.mark.parametrize(
    "redirect_uri",
    ["https://127.0.0.1:8976/callback", "http://192.0.2.1:8976/callback", "http://[::1"],
    ids=["https", "not-loopback", "malformed"],
)
async def test_a_redirect_uri_a_login_cannot_listen_on_is_a_config_error(
    emulator: Emulator, tmp_path: Path, redirect_uri: str
) -> None:
    with pytest.raises(ConfigError, match=r"127\.0\.0\.1"):
        await login_pkce(
            client_for(emulator),
            store=TokenStore.file(tmp_path / "token.json"),
            redirect_uri=redirect_uri,
            timeout=10,
        )


async def test_a_login_nobody_approves_times_out(emulator: Emulator, tmp_path: Path) -> None:
    with pytest.raises(LoginFailed, match="within 0 s"):
        await login_pkce(
            client_for(emulator),
            store=TokenStore.file(tmp_path / "token.json"),
            open_browser=lambda url: None,
            redirect_uri=callback_of(emulator),
            timeout=0,
        )


async def test_a_confidential_client_logs_in_with_its_secret(
    emulator: Emulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    saved = await logged_in(emulator, http, tmp_path / "token.json", confidential=True)
    assert saved["access_token"] and token_requests(emulator) == {"200": 1}


# --- refresh during an upload ---------------------------------------------------------------
def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def upload_all(
    emulator: Emulator,
    auth: OAuth2Auth,
    paths: list[Path],
    *,
    advance: float = TOKEN_LIFETIME + 1,
    **config: Any,
) -> list[Result]:
    settings: dict[str, Any] = {"chunk_size": 4 * KiB, "strategy": "chunked", "concurrency": 8}
    settings |= config
    upload_config = UploadConfig(endpoint=emulator.url, segments_per_file=4, **settings)
    items = [Item(id=p.name, path=p) for p in paths]
    observer = ExpireTokens(emulator, advance)
    async with Uploader(upload_config, auth=auth, observer=observer) as up:
        return [r async for r in up.upload_many(items)]


def photos(folder: Path, count: int) -> list[Path]:
    folder.mkdir(exist_ok=True)
    return [
        samples.write_image(folder / f"p{i}.png", target_bytes=40 * KiB, seed=i)
        for i in range(count)
    ]


async def test_tokens_expiring_mid_upload_are_refreshed_once_and_saved(
    emulator: Emulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    path = tmp_path / "token.json"
    before = await logged_in(emulator, http, path)
    auth = OAuth2Auth(store=TokenStore.file(path), client=client_for(emulator))
    account = auth.account
    files = photos(tmp_path / "media", 3)

    results = await upload_all(emulator, auth, files)

    assert [r.status for r in results] == ["succeeded"] * 3, [r.error for r in results]
    for result, file in zip(sorted(results, key=lambda r: r.id), files, strict=True):
        media = emulator.media(str(result.media_id_string)) or {}
        assert media["sha256"] == sha256(file.read_bytes())
    assert token_requests(emulator) == {"200": 2}  # the login, then one refresh
    answered = emulator.stats()["requests"]
    assert sum(counts.get("401", 0) for counts in answered.values()) >= 1
    after = read_json(path)
    assert mode(path) == 0o600
    assert after["access_token"] == auth.access_token != before["access_token"]
    assert after["refresh_token"] != before["refresh_token"]
    assert auth.account == account  # a checkpoint written before the refresh still matches
    status, body = await refresh_by_hand(emulator, http, before["refresh_token"])
    assert (status, body["error"]) == (400, "invalid_grant")


def refused(emulator: Emulator) -> int:
    """How many requests the emulator answered with 401."""
    answered = emulator.stats()["requests"]
    return sum(counts.get("401", 0) for counts in answered.values())


async def test_a_token_about_to_expire_is_renewed_before_the_api_refuses_it(
    emulator: Emulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    path = tmp_path / "token.json"
    before = await logged_in(emulator, http, path)
    clock = emulator.state.clock  # the client sees time move as the emulator does
    auth = OAuth2Auth(store=TokenStore.file(path), client=client_for(emulator), clock=clock)
    files = photos(tmp_path / "media", 3)

    # At the first chunk the token has REFRESH_BEFORE_EXPIRY / 2 left: still accepted.
    left = REFRESH_BEFORE_EXPIRY / 2
    results = await upload_all(emulator, auth, files, advance=TOKEN_LIFETIME - left)

    assert [r.status for r in results] == ["succeeded"] * 3, [r.error for r in results]
    assert token_requests(emulator) == {"200": 2}  # the login, then one renewal for all
    assert refused(emulator) == 0  # renewed before it ran out, not after a 401
    after = read_json(path)
    assert mode(path) == 0o600
    assert after["access_token"] == auth.access_token != before["access_token"]
    assert after["refresh_token"] != before["refresh_token"]
    assert after["expires_at"] > clock.now() + TOKEN_LIFETIME - left  # on the same clock
    status, body = await refresh_by_hand(emulator, http, before["refresh_token"])
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_a_token_that_lives_less_than_the_margin_is_not_renewed_before_every_request(
    http: aiohttp.ClientSession, tmp_path: Path, callback: str
) -> None:
    lifetime = int(REFRESH_BEFORE_EXPIRY * 3 / 4)  # due for renewal as soon as issued
    config = oauth2_config(callback, access_token_secs=lifetime)
    async with Emulator(config, environ={}) as emulator:
        path = tmp_path / "token.json"
        await logged_in(emulator, http, path)
        clock = FrozenClock(emulator.state.clock.now())  # no time passes for the client
        auth = OAuth2Auth(store=TokenStore.file(path), client=client_for(emulator), clock=clock)

        results = await upload_all(emulator, auth, photos(tmp_path / "media", 3), advance=0)

        assert [r.status for r in results] == ["succeeded"] * 3, [r.error for r in results]
        assert token_requests(emulator) == {"200": 2}  # one renewal, then the new token lasts
        assert refused(emulator) == 0


async def test_without_a_refresh_token_an_expired_token_is_one_clear_refusal(
    emulator: Emulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    path = tmp_path / "token.json"
    await logged_in(emulator, http, path, scope="media.write")  # no offline.access
    auth = OAuth2Auth(store=TokenStore.file(path), client=client_for(emulator))
    files = photos(tmp_path / "media", 6)

    results = await upload_all(emulator, auth, files, concurrency=2, files_in_flight=1)

    assert "succeeded" not in {r.status for r in results}  # the rest is skipped, unsent
    assert all(
        r.error and (r.error.kind, r.error.http_status) == ("auth_error", 401) for r in results
    )
    assert token_requests(emulator) == {"200": 1}  # the login only: no refresh attempted
    answered = emulator.stats()["requests"]
    assert sum(counts.get("401", 0) for counts in answered.values()) <= 2  # no storm


async def test_a_refused_refresh_says_to_log_in_again_and_stops_the_run(
    emulator: Emulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    path = tmp_path / "token.json"
    saved = await logged_in(emulator, http, path)
    status, _ = await refresh_by_hand(emulator, http, saved["refresh_token"])
    assert status == 200  # someone else used the refresh token: it is dead now
    auth = OAuth2Auth(store=TokenStore.file(path), client=client_for(emulator))

    results = await upload_all(emulator, auth, photos(tmp_path / "media", 6))

    assert "succeeded" not in {r.status for r in results}
    assert all(r.error and r.error.kind == "auth_error" for r in results)
    first = next(r.error for r in results if r.status == "failed")
    assert first is not None and "invalid_grant" in first.message
    assert "run `bulkup auth login --token-file" in first.message
    assert token_requests(emulator) == {"200": 2, "400": 1}  # one refused refresh, not one each
    assert read_json(path) == saved  # nothing overwritten


# --- token stores, environment, reprs ----------------------------------------------------
def test_a_token_file_others_can_read_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    path.write_text('{"access_token": "abcdefgh"}')
    path.chmod(0o644)
    with pytest.raises(ConfigError) as caught:
        TokenStore.file(path).load()
    assert str(path) in str(caught.value) and f"chmod 600 {path}" in str(caught.value)
    assert "abcdefgh" not in str(caught.value)


@pytest.mark.parametrize(
    ("content", "says"),
    [(None, "bulkup auth login"), ("{not json", "not JSON"), ('{"scope": "x"}', "access_token")],
    ids=["missing", "not-json", "no-token"],
)
def test_a_missing_or_broken_token_file_says_what_to_do(
    tmp_path: Path, content: str | None, says: str
) -> None:
    path = tmp_path / "token.json"
    if content is not None:
        path.write_text(content)
        path.chmod(0o600)
    with pytest.raises(ConfigError, match=says):
        TokenStore.file(path).load()


def test_a_saved_token_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "new" / "token.json"
    old = os.umask(0)
    try:
        TokenStore.file(path).save({"access_token": "a" * 10, "refresh_token": "r" * 10})
    finally:
        os.umask(old)
    assert mode(path) == 0o600
    assert read_json(path) == {"access_token": "a" * 10, "refresh_token": "r" * 10}
    assert [p.name for p in path.parent.iterdir()] == ["token.json"]  # no temporary left


def test_a_saved_token_file_is_whole_when_the_system_writes_a_few_bytes_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "token.json"
    token = {"access_token": "a" * 40, "refresh_token": "r" * 40, "scope": "media.write"}
    real_write = os.write
    with monkeypatch.context() as m:  # a short write, as a signal or a network disk can cause
        m.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data[:7])))
        TokenStore.file(path).save(token)
    assert read_json(path) == token


def test_a_token_save_that_fails_keeps_the_previous_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "token.json"
    store = TokenStore.file(path)
    store.save({"access_token": "old-access", "refresh_token": "old-refresh"})
    real_write = os.write

    def half_then_full(fd: int, data: Any) -> int:
        if len(data) > 10:
            return real_write(fd, bytes(data[:10]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as m, pytest.raises(OSError, match="No space left"):
        m.setattr(os, "write", half_then_full)
        store.save({"access_token": "new-access", "refresh_token": "new-refresh"})
    assert read_json(path) == {"access_token": "old-access", "refresh_token": "old-refresh"}
    assert [p.name for p in path.parent.iterdir()] == ["token.json"]  # no temporary left


CLIENT_ENV = {"X_CLIENT_ID": "cid", "X_TOKEN_URL": "http://127.0.0.1:1/2/oauth2/token"}
#: An upload endpoint that is not X's API (the emulator, say): no default token URL.
OTHER_SERVER = "http://127.0.0.1:8765"


def test_the_environment_gives_a_refreshable_token_from_variables_or_a_file(
    tmp_path: Path,
) -> None:
    env = CLIENT_ENV | {"X_BEARER_TOKEN": "access-123", "X_REFRESH_TOKEN": "refresh-456"}
    auth = auth_from_env(env | {"X_CLIENT_SECRET": "secret-789"})
    assert isinstance(auth, OAuth2Auth) and auth.can_refresh
    assert set(secrets_of(auth)) == {"access-123", "refresh-456", "secret-789"}
    path = tmp_path / "token.json"
    TokenStore.file(path).save({"access_token": "file-access", "refresh_token": "file-refresh"})
    from_file = auth_from_env(CLIENT_ENV | {"X_TOKEN_FILE": str(path)})
    assert isinstance(from_file, OAuth2Auth) and from_file.access_token == "file-access"
    assert from_file.account != auth.account
    assert isinstance(auth_from_env({"X_BEARER_TOKEN": "plain-token"}), BearerAuth)


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"X_BEARER_TOKEN": "a", "X_REFRESH_TOKEN": "r"}, "X_CLIENT_ID and X_TOKEN_URL"),
        ({"X_REFRESH_TOKEN": "r"} | CLIENT_ENV, "X_BEARER_TOKEN is missing"),
        ({"X_TOKEN_FILE": "t.json", "X_CLIENT_ID": "c"}, "X_TOKEN_URL"),
        ({"X_TOKEN_FILE": "t.json", "X_BEARER_TOKEN": "a"} | CLIENT_ENV, "not both"),
    ],
    ids=["no-client", "no-access", "no-url", "both"],
)
def test_incomplete_oauth2_variables_are_named(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        auth_from_env(env, endpoint=OTHER_SERVER)


def saved_token_file(folder: Path) -> Path:
    path = folder / "token.json"
    TokenStore.file(path).save({"access_token": "access-1", "refresh_token": "refresh-2"})
    return path


@pytest.mark.parametrize(
    "endpoint", [None, "https://api.x.com", "https://api.twitter.com/", "https://upload.x.com"]
)
def test_a_renewable_token_for_x_api_is_refreshed_at_x_token_url_by_default(
    tmp_path: Path, endpoint: str | None
) -> None:
    by_file = {"X_TOKEN_FILE": str(saved_token_file(tmp_path)), "X_CLIENT_ID": "cid"}
    by_variables = {"X_BEARER_TOKEN": "a", "X_REFRESH_TOKEN": "r", "X_CLIENT_ID": "cid"}
    for env in (by_file, by_variables):
        auth = auth_from_env(env, endpoint=endpoint)
        assert isinstance(auth, OAuth2Auth) and auth.can_refresh
        assert auth.client is not None and auth.client.token_url == X_TOKEN_URL
    with pytest.raises(ConfigError, match="but X_CLIENT_ID missing"):
        auth_from_env({"X_TOKEN_FILE": by_file["X_TOKEN_FILE"]}, endpoint=endpoint)


def test_another_server_needs_its_token_url_named(tmp_path: Path) -> None:
    env = {"X_TOKEN_FILE": str(saved_token_file(tmp_path)), "X_CLIENT_ID": "cid"}
    with pytest.raises(ConfigError, match=f"X_TOKEN_URL missing.*{OTHER_SERVER} is not X's"):
        auth_from_env(env, endpoint=OTHER_SERVER)
    named = auth_from_env(env | {"X_TOKEN_URL": OTHER_SERVER + TOKEN_PATH}, endpoint=OTHER_SERVER)
    assert isinstance(named, OAuth2Auth) and named.client is not None
    assert named.client.token_url == OTHER_SERVER + TOKEN_PATH
    x_named = auth_from_env(env | {"X_TOKEN_URL": OTHER_SERVER + TOKEN_PATH})
    assert isinstance(x_named, OAuth2Auth) and x_named.client is not None
    assert x_named.client.token_url == OTHER_SERVER + TOKEN_PATH  # a named one always wins


def test_reprs_show_no_token_or_secret(tmp_path: Path) -> None:
    secret, access, refresh = "client-secret-1", "access-token-2", "refresh-token-3"
    client = OAuth2Client(client_id="cid", client_secret=secret, token_url="https://t/x")
    memory = OAuth2Auth(store=TokenStore.memory(access, refresh), client=client)
    path = tmp_path / "token.json"
    TokenStore.file(path).save({"access_token": access, "refresh_token": refresh})
    from_file = OAuth2Auth(store=TokenStore.file(path), client=client)
    texts = [repr(client), repr(memory), str(memory.store), repr(from_file), memory.account]
    texts += [from_file.account, repr(from_file.store)]
    assert not [t for t in texts if secret in t or access in t or refresh in t], texts


async def test_many_requests_refused_at_once_share_one_refresh(
    emulator: Emulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    path = tmp_path / "token.json"
    await logged_in(emulator, http, path)
    auth = OAuth2Auth(store=TokenStore.file(path), client=client_for(emulator))
    failed = auth.access_token
    outcomes: list[bool] = []

    async def refused_request() -> None:
        outcomes.append(await auth.refresh(http, failed_token=failed))

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(refused_request)

    assert outcomes == [True] * 20
    assert token_requests(emulator) == {"200": 2}  # the login and one refresh
    assert auth.access_token != failed


async def test_a_wrong_client_secret_is_named_when_a_refresh_is_refused(
    emulator: Emulator, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    path = tmp_path / "token.json"
    await logged_in(emulator, http, path, confidential=True)
    client = client_for(emulator, confidential=True)
    wrong = OAuth2Client(
        client_id=client.client_id, client_secret="not-the-secret", token_url=client.token_url
    )
    auth = OAuth2Auth(store=TokenStore.file(path), client=wrong)
    with pytest.raises(TokenRefused, match="X_CLIENT_SECRET") as caught:
        await auth.refresh(http, failed_token=auth.access_token)
    assert (caught.value.error, caught.value.http_status) == ("invalid_client", 401)
    assert "not-the-secret" not in str(caught.value)
