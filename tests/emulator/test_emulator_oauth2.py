"""The emulator's OAuth 2.0 server over real sockets: authorize, token, refresh, expiry.

Requests are built by hand (no bulkup client code), so the checks are of the
server as any OAuth client would meet it: RFC 6749 redirects and JSON errors,
redirect URIs matched exactly against the client's registered callbacks (as X does),
RFC 7636 S256 verification, single-use codes, refresh-token rotation, and access
tokens that the upload endpoints accept until the emulator's clock expires them, and
refuse with 403 when they lack ``media.write``.
"""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from bulkup.auth.oauth2 import DEFAULT_REDIRECT_URI as CLIENT_DEFAULT_REDIRECT_URI
from bulkup.emulator import (
    DEMO_CLIENT,
    DEMO_CONFIDENTIAL_CLIENT,
    DEMO_USER,
    ConfigError,
    Emulator,
    EmulatorConfig,
    Lifetimes,
    OAuth2,
    OAuth2App,
)
from bulkup.emulator.config import DEFAULT_REDIRECT_URI
from tests.apiclient import RawClient

pytestmark = pytest.mark.anyio

VERIFIER = "v" * 20 + "-erifier.with~all_allowed-characters0123"
REDIRECT = "http://127.0.0.1:53682/callback"
AUTHORIZE = "/i/oauth2/authorize"
TOKEN = "/2/oauth2/token"


#: The demo clients, registering REDIRECT as their callback (and nothing else).
CLIENTS = tuple(
    dataclasses.replace(app, redirect_uris=(REDIRECT,))
    for app in (DEMO_CLIENT, DEMO_CONFIDENTIAL_CLIENT)
)


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(
        lifetimes=Lifetimes(processing_secs=0, check_after_secs=0),
        oauth2=OAuth2(clients=CLIENTS, access_token_secs=600),
    )


def authorize_query(**changes: str | None) -> dict[str, str]:
    query: dict[str, str | None] = {
        "response_type": "code",
        "client_id": DEMO_CLIENT.client_id,
        "redirect_uri": REDIRECT,
        "scope": "media.write offline.access",
        "state": "state-123",
        "code_challenge": create_s256_code_challenge(VERIFIER),
        "code_challenge_method": "S256",
    } | changes
    return {k: v for k, v in query.items() if v is not None}


async def authorize(
    http: aiohttp.ClientSession, emulator: Emulator, **changes: str | None
) -> tuple[int, dict[str, str], str]:
    """Status, the redirect's query (flattened) and the body of an authorize request."""
    url = f"{emulator.url}{AUTHORIZE}?{urlencode(authorize_query(**changes))}"
    async with http.get(url, allow_redirects=False) as resp:
        body = await resp.text()
        location = resp.headers.get("Location", "")
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    if location:
        assert location.startswith(REDIRECT.split("?")[0]), location
    return resp.status, query, body


async def token(
    http: aiohttp.ClientSession,
    emulator: Emulator,
    form: dict[str, str],
    *,
    basic: tuple[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    headers = {}
    if basic is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(basic).encode()).decode()
    async with http.post(emulator.url + TOKEN, data=form, headers=headers) as resp:
        assert resp.headers["Cache-Control"] == "no-store"
        return resp.status, await resp.json()


async def code_for(http: aiohttp.ClientSession, emulator: Emulator, **changes: str | None) -> str:
    status, query, _ = await authorize(http, emulator, **changes)
    assert status == 302 and "code" in query, query
    return query["code"]


def exchange_form(code: str, **changes: str) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
        "client_id": DEMO_CLIENT.client_id,
    } | changes


async def login(http: aiohttp.ClientSession, emulator: Emulator) -> dict[str, Any]:
    status, body = await token(http, emulator, exchange_form(await code_for(http, emulator)))
    assert status == 200, body
    return body


async def can_upload(http: aiohttp.ClientSession, emulator: Emulator, access_token: str) -> int:
    reply = await RawClient(http, emulator, bearer=access_token).v2_init(10, "image/png")
    return reply.status


# --- authorize --------------------------------------------------------------------------
async def test_authorize_redirects_back_with_a_code_and_the_state(
    http: aiohttp.ClientSession, emulator: Emulator
) -> None:
    status, query, _ = await authorize(http, emulator)
    assert status == 302
    assert query["state"] == "state-123" and len(query["code"]) >= 32


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": None}, "invalid_request"),
        ({"state": None}, "invalid_request"),
        ({"scope": None}, "invalid_scope"),
        ({"scope": "media.write no.such.scope"}, "invalid_scope"),
    ],
    ids=["implicit", "plain-pkce", "no-pkce", "no-state", "no-scope", "unknown-scope"],
)
async def test_a_bad_authorization_request_is_redirected_back_with_an_rfc6749_error(
    http: aiohttp.ClientSession, emulator: Emulator, changes: dict[str, str | None], error: str
) -> None:
    status, query, _ = await authorize(http, emulator, **changes)
    assert status == 302
    assert query["error"] == error and query["error_description"]
    assert "code" not in query


@pytest.mark.parametrize(
    "changes",
    [
        {"client_id": "nobody"},
        {"redirect_uri": "https://evil.example/callback"},
        {"redirect_uri": "http://192.0.2.1:8080/callback"},
        {"redirect_uri": None},
    ],
    ids=["unknown-client", "https-elsewhere", "not-loopback", "no-redirect"],
)
async def test_an_unknown_client_or_redirect_gets_an_error_page_and_no_redirect(
    http: aiohttp.ClientSession, emulator: Emulator, changes: dict[str, str | None]
) -> None:
    status, query, body = await authorize(http, emulator, **changes)
    assert status == 400 and not query
    assert "refused" in body


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:53683/callback",  # another loopback port: RFC 8252 would allow it
        "http://127.0.0.1:53682/callback/",
        "http://localhost:53682/callback",
        "http://127.0.0.1:53682/Callback",
        "http://127.0.0.1:53682/callback?next=1",
    ],
    ids=["other-port", "trailing-slash", "localhost", "case", "query"],
)
async def test_a_redirect_uri_not_registered_character_for_character_gets_an_error_page(
    http: aiohttp.ClientSession, emulator: Emulator, redirect_uri: str
) -> None:
    url = f"{emulator.url}{AUTHORIZE}?{urlencode(authorize_query(redirect_uri=redirect_uri))}"
    async with http.get(url, allow_redirects=False) as resp:
        status, location, body = resp.status, resp.headers.get("Location"), await resp.text()
    assert (status, location) == (400, None)  # no redirect: not even to the wrong place
    assert repr(redirect_uri) in body and f"registered: {REDIRECT}" in body


async def test_the_demo_clients_register_the_callback_bulkup_logs_in_with(
    http: aiohttp.ClientSession,
) -> None:
    assert DEFAULT_REDIRECT_URI == CLIENT_DEFAULT_REDIRECT_URI == "http://127.0.0.1:8976/callback"
    assert DEMO_CLIENT.redirect_uris == DEMO_CONFIDENTIAL_CLIENT.redirect_uris
    assert DEMO_CLIENT.redirect_uris == (DEFAULT_REDIRECT_URI,)
    async with Emulator(EmulatorConfig(), environ={}) as emulator:
        query = authorize_query(redirect_uri=DEFAULT_REDIRECT_URI)
        url = f"{emulator.url}{AUTHORIZE}?{urlencode(query)}"
        async with http.get(url, allow_redirects=False) as resp:
            assert resp.status == 302
            assert resp.headers["Location"].startswith(DEFAULT_REDIRECT_URI + "?code=")


# --- the code exchange ----------------------------------------------------------------
async def test_the_code_and_its_verifier_give_tokens_the_upload_endpoints_accept(
    http: aiohttp.ClientSession, emulator: Emulator
) -> None:
    body = await login(http, emulator)
    assert body["token_type"] == "bearer" and body["expires_in"] == 600
    assert body["scope"] == "media.write offline.access" and body["refresh_token"]
    assert await can_upload(http, emulator, body["access_token"]) == 200


async def test_a_wrong_verifier_is_refused_and_burns_the_code(
    http: aiohttp.ClientSession, emulator: Emulator
) -> None:
    code = await code_for(http, emulator)
    wrong = "w" * 43
    status, body = await token(http, emulator, exchange_form(code, code_verifier=wrong))
    assert (status, body["error"]) == (400, "invalid_grant")
    status, body = await token(http, emulator, exchange_form(code))
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_a_missing_verifier_is_an_invalid_request(
    http: aiohttp.ClientSession, emulator: Emulator
) -> None:
    form = exchange_form(await code_for(http, emulator))
    del form["code_verifier"]
    status, body = await token(http, emulator, form)
    assert (status, body["error"]) == (400, "invalid_request")


async def test_a_reused_code_is_refused_and_revokes_the_tokens_it_gave(
    http: aiohttp.ClientSession, emulator: Emulator
) -> None:
    code = await code_for(http, emulator)
    status, first = await token(http, emulator, exchange_form(code))
    assert status == 200
    status, again = await token(http, emulator, exchange_form(code))
    assert (status, again["error"]) == (400, "invalid_grant")
    assert await can_upload(http, emulator, first["access_token"]) == 401
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    status, body = await token(http, emulator, refresh | {"client_id": DEMO_CLIENT.client_id})
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_a_code_expires_after_code_secs(
    http: aiohttp.ClientSession, emulator: Emulator
) -> None:
    code = await code_for(http, emulator)
    emulator.advance(emulator.config.oauth2.code_secs + 1)
    status, body = await token(http, emulator, exchange_form(code))
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_the_redirect_uri_must_be_the_one_authorized(
    http: aiohttp.ClientSession, emulator: Emulator
) -> None:
    code = await code_for(http, emulator)
    form = exchange_form(code, redirect_uri="http://127.0.0.1:1/callback")
    status, body = await token(http, emulator, form)
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_without_offline_access_there_is_no_refresh_token(
    http: aiohttp.ClientSession, emulator: Emulator
) -> None:
    code = await code_for(http, emulator, scope="media.write")
    status, body = await token(http, emulator, exchange_form(code))
    assert status == 200 and "refresh_token" not in body


async def test_a_token_granted_without_media_write_gets_a_403_problem_from_the_media_endpoints(
    http: aiohttp.ClientSession, emulator: Emulator
) -> None:
    code = await code_for(http, emulator, scope="tweet.read users.read offline.access")
    status, body = await token(http, emulator, exchange_form(code))
    assert status == 200 and body["scope"] == "tweet.read users.read offline.access"

    reply = await RawClient(http, emulator, bearer=body["access_token"]).v2_init(10, "image/png")

    assert reply.status == 403
    assert reply.content_type == "application/problem+json"  # RFC 7807
    problem = reply.json
    assert problem["status"] == 403 and problem["title"] and problem["type"]
    assert "media.write" in problem["detail"]


# --- clients ----------------------------------------------------------------------------
async def test_a_confidential_client_authenticates_with_http_basic(
    http: aiohttp.ClientSession, emulator: Emulator
) -> None:
    app = DEMO_CONFIDENTIAL_CLIENT
    creds = (app.client_id, app.client_secret)
    form = exchange_form(await code_for(http, emulator, client_id=app.client_id))
    del form["client_id"]
    status, body = await token(http, emulator, form, basic=(app.client_id, "wrong-secret"))
    assert (status, body["error"]) == (401, "invalid_client")
    code = await code_for(http, emulator, client_id=app.client_id)
    form = exchange_form(code, client_id=app.client_id)
    status, body = await token(http, emulator, form)
    assert (status, body["error"]) == (401, "invalid_client")  # no Basic: refused
    code = await code_for(http, emulator, client_id=app.client_id)
    form = exchange_form(code, client_id=app.client_id)  # may repeat the Basic one
    status, body = await token(http, emulator, form, basic=creds)
    assert status == 200 and body["access_token"]


async def test_a_code_works_only_for_the_client_it_was_issued_to(
    http: aiohttp.ClientSession, emulator: Emulator
) -> None:
    app = DEMO_CONFIDENTIAL_CLIENT
    form = exchange_form(await code_for(http, emulator))  # issued to the public client
    del form["client_id"]
    status, body = await token(http, emulator, form, basic=(app.client_id, app.client_secret))
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_unsupported_and_missing_grant_types(
    http: aiohttp.ClientSession, emulator: Emulator
) -> None:
    client_id = {"client_id": DEMO_CLIENT.client_id}
    status, body = await token(http, emulator, client_id | {"grant_type": "password"})
    assert (status, body["error"]) == (400, "unsupported_grant_type")
    status, body = await token(http, emulator, client_id)
    assert (status, body["error"]) == (400, "invalid_request")


# --- refresh and expiry -------------------------------------------------------------------
async def test_an_access_token_expires_on_the_emulator_clock(
    http: aiohttp.ClientSession, emulator: Emulator
) -> None:
    body = await login(http, emulator)
    emulator.advance(599)
    assert await can_upload(http, emulator, body["access_token"]) == 200
    emulator.advance(2)
    assert await can_upload(http, emulator, body["access_token"]) == 401


async def test_a_refresh_rotates_both_tokens_and_the_old_refresh_token_dies(
    http: aiohttp.ClientSession, emulator: Emulator
) -> None:
    first = await login(http, emulator)
    emulator.advance(601)
    form = {
        "grant_type": "refresh_token",
        "refresh_token": first["refresh_token"],
        "client_id": DEMO_CLIENT.client_id,
    }
    status, second = await token(http, emulator, form)
    assert status == 200
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert await can_upload(http, emulator, second["access_token"]) == 200
    status, body = await token(http, emulator, form)
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_a_refresh_token_is_not_an_access_token(
    http: aiohttp.ClientSession, emulator: Emulator
) -> None:
    body = await login(http, emulator)
    assert await can_upload(http, emulator, body["refresh_token"]) == 401


# --- configuration ----------------------------------------------------------------------
def test_a_profile_lists_its_own_clients_and_lifetimes(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text(
        "[oauth2]\naccess_token_secs = 5\n"
        '[[oauth2.clients]]\nclient_id = "mine"\nclient_secret = "s3cret"\n'
        f'user_id = "{DEMO_USER.id}"\n'
        'redirect_uris = ["http://127.0.0.1:9000/cb", "https://app.example/oauth"]\n'
        '[[oauth2.clients]]\nclient_id = "theirs"\n'
    )
    config = EmulatorConfig.from_toml(profile)
    assert config.oauth2.access_token_secs == 5
    assert config.oauth2.clients == (
        OAuth2App(
            client_id="mine",
            client_secret="s3cret",
            user_id=DEMO_USER.id,
            redirect_uris=("http://127.0.0.1:9000/cb", "https://app.example/oauth"),
        ),
        OAuth2App(client_id="theirs", redirect_uris=(DEFAULT_REDIRECT_URI,)),
    )
    assert "s3cret" not in repr(config)


def test_the_default_profile_documents_the_default_oauth2_settings() -> None:
    profile = Path(__file__).resolve().parents[2] / "configs" / "emulator-default.toml"
    assert EmulatorConfig.from_toml(profile).oauth2 == OAuth2()
    assert OAuth2().clients == (DEMO_CLIENT, DEMO_CONFIDENTIAL_CLIENT)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("[oauth2]\naccess_token_secs = -1\n", "access_token_secs"),
        ("[oauth2]\ntoken_secs = 1\n", "token_secs"),
        ("[oauth2]\nclients = 3\n", "[[oauth2.clients]]"),
        ('[[oauth2.clients]]\nclient_id = "a"\ncolour = "red"\n', "colour"),
        ('[[oauth2.clients]]\nclient_id = "a"\n[[oauth2.clients]]\nclient_id = "a"\n', "share"),
        ('[[oauth2.clients]]\nclient_id = "a"\nredirect_uris = "http://x/cb"\n', "redirect_uris"),
        ('[[oauth2.clients]]\nclient_id = "a"\nredirect_uris = []\n', "redirect_uris"),
        ('[[oauth2.clients]]\nclient_id = "a"\nredirect_uris = ["/cb"]\n', "redirect_uris"),
        ('[[oauth2.clients]]\nclient_id = "a"\nredirect_uris = ["http://h/#f"]\n', "redirect_uris"),
    ],
)
def test_a_bad_oauth2_section_is_refused_naming_the_key(
    tmp_path: Path, text: str, names: str
) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text(text)
    with pytest.raises(ConfigError, match=names.replace("[", r"\[").replace("]", r"\]")):
        EmulatorConfig.from_toml(profile)


async def test_a_client_of_an_unknown_user_fails_at_start() -> None:
    config = EmulatorConfig(oauth2=OAuth2(clients=(OAuth2App(client_id="a", user_id="99"),)))
    with pytest.raises(ConfigError, match="no user 99"):
        async with Emulator(config, environ={}):
            pass
