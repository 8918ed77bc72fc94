"""Authentication over real sockets: OAuth 1.0a signatures and OAuth 2.0 user tokens.

Every refusal is checked in the body the real API sends for that dialect: v1.1
``{"errors": [{"code", "message"}]}``, v2 an ``application/problem+json`` problem.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from bulkup.auth import oauth1
from bulkup.emulator import DEMO_APP_BEARER, DEMO_USER, Emulator, EmulatorConfig, Lifetimes, User
from bulkup.media import samples
from tests.apiclient import Part, RawClient, Reply, credentials

pytestmark = pytest.mark.anyio

V1 = "/1.1/media/upload.json"
V2_INIT = "/2/media/upload/initialize"
INIT_FORM = {"command": "INIT", "total_bytes": "10", "media_type": "image/png"}
INIT_JSON = {"total_bytes": 10, "media_type": "image/png"}

COULD_NOT_AUTHENTICATE = {"errors": [{"code": 32, "message": "Could not authenticate you."}]}
STALE_TIMESTAMP_CODE = 135
BAD_AUTH_DATA = {"errors": [{"code": 215, "message": "Bad authentication data."}]}

NO_SCOPE_USER = User(
    id="2000000000000000002",
    screen_name="read_only",
    bearer_tokens=("read-only-user-token",),
    scopes=("tweet.read", "users.read"),
)
OTHER_USER = User(
    id="4000000000000000004",
    consumer_key="other-consumer-key",
    consumer_secret="other-consumer-secret",
    access_token="4000000000000000004-other",
    access_token_secret="other-token-secret",
)


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(
        users=(DEMO_USER, NO_SCOPE_USER, OTHER_USER),
        lifetimes=Lifetimes(processing_secs=0, check_after_secs=0),
    )


@pytest.fixture
def png(tmp_path: Path) -> bytes:
    return samples.write_image(tmp_path / "a.png").read_bytes()


def bearer_client(client: RawClient, token: str) -> RawClient:
    return RawClient(client.http, client.emulator, bearer=token)


def signed_for(url: str, *, form: dict[str, str] | None = None, **kw: Any) -> str:
    """An Authorization header signed by the demo user for ``url`` (not the one requested)."""
    return oauth1.sign("POST", url, credentials(DEMO_USER), form=form, **kw)


def tamper(header: str) -> str:
    """The same header with one character of the signature changed."""
    params = oauth1.parse_authorization(header)
    sig = params["oauth_signature"]
    params["oauth_signature"] = ("A" if sig[0] != "A" else "B") + sig[1:]
    return "OAuth " + ", ".join(f'{k}="{quote(v, safe="~")}"' for k, v in params.items())


def assert_v2_problem(reply: Reply, status: int, title: str) -> dict[str, Any]:
    assert reply.status == status, reply.raw
    assert reply.content_type == "application/problem+json"
    body: dict[str, Any] = reply.json
    assert body["status"] == status
    assert body["title"] == title
    assert body["type"] and body["detail"]
    return body


async def media_id_v1(client: RawClient) -> str:
    init = await client.v1_init(3, "image/png", "tweet_image")
    assert init.status == 202, init.raw
    media_id: str = init.json["media_id_string"]
    return media_id


# --- OAuth 1.0a: accepted in every encoding -----------------------------------------
async def test_oauth1_url_encoded_body_is_signed_with_the_form(client: RawClient) -> None:
    reply = await client.request("POST", V1, form=INIT_FORM)
    assert reply.status == 202, reply.raw
    assert reply.json["expires_after_secs"] > 0


async def test_oauth1_multipart_signed_over_query_and_oauth_params_rfc_form(
    client: RawClient, emulator: Emulator
) -> None:
    media_id = await media_id_v1(client)
    query = {"command": "APPEND", "media_id": media_id, "segment_index": "0"}
    # RawClient signs the URL's query (RFC 5849) and nothing of the multipart body.
    reply = await client.request("POST", V1, query=query, parts=[Part("media", b"abc", "b")])
    assert reply.status == 204, reply.raw
    assert (emulator.media(media_id) or {})["segments"] == [0]


async def test_oauth1_multipart_signed_over_oauth_params_alone(
    client: RawClient, emulator: Emulator
) -> None:
    media_id = await media_id_v1(client)
    query = {"command": "APPEND", "media_id": media_id, "segment_index": "0"}
    # The v1.1 guide's reading: sign only the oauth_* parameters, even with a query string.
    header = signed_for(client.url(V1))
    reply = await client.request(
        "POST", V1, query=query, parts=[Part("media", b"abc", "b")], authorization=header
    )
    assert reply.status == 204, reply.raw
    assert (emulator.media(media_id) or {})["received_bytes"] == 3


async def test_oauth_params_only_signature_is_refused_for_url_encoded_body(
    client: RawClient,
) -> None:
    reply = await client.request(
        "POST", V1, form=INIT_FORM, authorization=signed_for(client.url(V1))
    )
    assert reply.status == 401
    assert reply.json == COULD_NOT_AUTHENTICATE


async def test_multipart_signed_for_another_port_is_refused(
    client: RawClient, emulator: Emulator
) -> None:
    media_id = await media_id_v1(client)
    header = signed_for(f"http://127.0.0.1:{emulator.port + 1}{V1}")
    parts = [Part("command", "APPEND"), Part("media_id", media_id), Part("segment_index", "0")]
    parts.append(Part("media", b"abc", "b"))
    reply = await client.request("POST", V1, parts=parts, authorization=header)
    assert reply.status == 401
    assert reply.json == COULD_NOT_AUTHENTICATE
    assert (emulator.media(media_id) or {})["segments"] == []


async def test_oauth1_json_body_on_v2_adds_nothing_to_the_signature(client: RawClient) -> None:
    reply = await client.request("POST", V2_INIT, json_body=INIT_JSON)
    assert reply.status == 200, reply.raw
    assert reply.json["data"]["id"].isdigit()


async def test_v2_json_fields_signed_as_if_a_form_are_refused(client: RawClient) -> None:
    as_form = {k: str(v) for k, v in INIT_JSON.items()}
    header = signed_for(client.url(V2_INIT), form=as_form)
    reply = await client.request("POST", V2_INIT, json_body=INIT_JSON, authorization=header)
    assert_v2_problem(reply, 401, "Unauthorized")


@pytest.mark.parametrize("dialect", ["v1.1", "v2"])
async def test_oauth1_get_with_query_is_accepted(
    client: RawClient, dialect: str, png: bytes
) -> None:
    media_id = await client.v1_upload(png, "image/png", "tweet_image")
    if dialect == "v1.1":
        reply = await client.v1_status(media_id)
        assert reply.status == 200, reply.raw
        assert reply.json["media_id_string"] == media_id
    else:
        reply = await client.v2_status(media_id)
        assert reply.status == 200, reply.raw
        assert reply.json["data"]["id"] == media_id


async def test_oauth1_get_with_unsigned_query_is_refused(client: RawClient, png: bytes) -> None:
    media_id = await client.v1_upload(png, "image/png", "tweet_image")
    query = {"command": "STATUS", "media_id": media_id}
    header = oauth1.sign("GET", client.url(V1), credentials(DEMO_USER))  # query left out
    reply = await client.request("GET", V1, query=query, authorization=header)
    assert reply.status == 401
    assert reply.json == COULD_NOT_AUTHENTICATE


# --- OAuth 1.0a: the base URL is the one the client addressed ------------------------
@pytest.mark.parametrize(
    "wrong",
    [
        pytest.param(lambda e: f"http://127.0.0.1:{e.port + 1}{V1}", id="other-port"),
        pytest.param(lambda e: f"http://localhost:{e.port}{V1}", id="other-host"),
        pytest.param(lambda e: f"https://127.0.0.1:{e.port}{V1}", id="other-scheme"),
        pytest.param(lambda e: f"http://127.0.0.1:{e.port}/1.1/media/upload", id="other-path"),
        pytest.param(lambda e: f"http://127.0.0.1:{e.port}/1.1/media/upload.json?x=1", id="query"),
    ],
)
async def test_signature_for_another_url_is_refused(
    client: RawClient, emulator: Emulator, wrong: Any
) -> None:
    header = signed_for(wrong(emulator), form=INIT_FORM)
    reply = await client.request("POST", V1, form=INIT_FORM, authorization=header)
    assert reply.status == 401
    assert reply.json == COULD_NOT_AUTHENTICATE


async def test_signature_for_the_addressed_url_is_accepted(
    client: RawClient, emulator: Emulator
) -> None:
    header = signed_for(f"http://127.0.0.1:{emulator.port}{V1}", form=INIT_FORM)
    reply = await client.request("POST", V1, form=INIT_FORM, authorization=header)
    assert reply.status == 202, reply.raw


# --- OAuth 1.0a: refusals -------------------------------------------------------------
async def test_bad_signature_is_v1_401_code_32(client: RawClient) -> None:
    header = tamper(client.auth_header("POST", client.url(V1), INIT_FORM))
    reply = await client.request("POST", V1, form=INIT_FORM, authorization=header)
    assert reply.status == 401
    assert reply.json == COULD_NOT_AUTHENTICATE


async def test_tampered_form_value_is_refused(client: RawClient) -> None:
    header = client.auth_header("POST", client.url(V1), INIT_FORM)
    changed = {**INIT_FORM, "total_bytes": "11"}
    reply = await client.request("POST", V1, form=changed, authorization=header)
    assert reply.status == 401
    assert reply.json == COULD_NOT_AUTHENTICATE


async def test_wrong_secret_is_refused(client: RawClient) -> None:
    impostor = User(
        id=DEMO_USER.id,
        consumer_key=DEMO_USER.consumer_key,
        consumer_secret="not-the-secret",
        access_token=DEMO_USER.access_token,
        access_token_secret=DEMO_USER.access_token_secret,
    )
    reply = await RawClient(client.http, client.emulator, impostor).v1_init(10, "image/png")
    assert reply.status == 401
    assert reply.json == COULD_NOT_AUTHENTICATE


@pytest.mark.parametrize("skew", [-301, -400, 310])
async def test_timestamp_out_of_window_is_401_code_135(client: RawClient, skew: int) -> None:
    reply = await client.request(
        "POST", V1, form=INIT_FORM, sign_kw={"timestamp": int(time.time()) + skew}
    )
    assert reply.status == 401
    assert reply.json["errors"][0]["code"] == STALE_TIMESTAMP_CODE


@pytest.mark.parametrize("skew", [-290, 290])
async def test_timestamp_inside_window_is_accepted(client: RawClient, skew: int) -> None:
    reply = await client.request(
        "POST", V1, form=INIT_FORM, sign_kw={"timestamp": int(time.time()) + skew}
    )
    assert reply.status == 202, reply.raw


async def test_replayed_nonce_is_refused_with_code_32(client: RawClient) -> None:
    sign_kw = {"timestamp": int(time.time()), "nonce": "once-only-nonce"}
    first = await client.request("POST", V1, form=INIT_FORM, sign_kw=sign_kw)
    assert first.status == 202, first.raw
    replay = await client.request("POST", V1, form=INIT_FORM, sign_kw=sign_kw)
    assert replay.status == 401
    assert replay.json == COULD_NOT_AUTHENTICATE
    fresh = await client.request("POST", V1, form=INIT_FORM, sign_kw={"nonce": "another-nonce"})
    assert fresh.status == 202, fresh.raw


async def test_refused_request_does_not_burn_its_nonce(client: RawClient) -> None:
    sign_kw = {"nonce": "retry-after-fix"}
    header = tamper(client.auth_header("POST", client.url(V1), INIT_FORM, **sign_kw))
    refused = await client.request("POST", V1, form=INIT_FORM, authorization=header)
    assert refused.status == 401
    accepted = await client.request("POST", V1, form=INIT_FORM, sign_kw=sign_kw)
    assert accepted.status == 202, accepted.raw


async def test_unknown_consumer_or_token_is_401_code_32(client: RawClient) -> None:
    stranger = User(
        id="3",
        consumer_key="who",
        consumer_secret="knows",
        access_token="a",
        access_token_secret="b",
    )
    reply = await RawClient(client.http, client.emulator, stranger).v1_init(10, "image/png")
    assert reply.status == 401
    assert reply.json == COULD_NOT_AUTHENTICATE


async def test_missing_authorization_v1_is_400_code_215(client: RawClient) -> None:
    reply = await client.request("POST", V1, form=INIT_FORM, authorization="")
    assert reply.status == 400
    assert reply.json == BAD_AUTH_DATA


async def test_malformed_oauth_header_is_400_code_215(client: RawClient) -> None:
    reply = await client.request("POST", V1, form=INIT_FORM, authorization='OAuth oauth_nonce="x"')
    assert reply.status == 400
    assert reply.json == BAD_AUTH_DATA


async def test_missing_authorization_v2_is_401_problem(client: RawClient) -> None:
    reply = await client.request("POST", V2_INIT, json_body=INIT_JSON, authorization="")
    assert_v2_problem(reply, 401, "Unauthorized")


async def test_v2_bad_signature_is_401_problem(client: RawClient) -> None:
    header = tamper(client.auth_header("POST", client.url(V2_INIT)))
    reply = await client.request("POST", V2_INIT, json_body=INIT_JSON, authorization=header)
    assert_v2_problem(reply, 401, "Unauthorized")


async def test_v2_stale_timestamp_is_401_problem(client: RawClient) -> None:
    reply = await client.request(
        "POST", V2_INIT, json_body=INIT_JSON, sign_kw={"timestamp": int(time.time()) - 301}
    )
    assert_v2_problem(reply, 401, "Unauthorized")


async def test_v2_replayed_nonce_is_401_problem(client: RawClient) -> None:
    sign_kw = {"nonce": "v2-once"}
    first = await client.request("POST", V2_INIT, json_body=INIT_JSON, sign_kw=sign_kw)
    assert first.status == 200, first.raw
    replay = await client.request("POST", V2_INIT, json_body=INIT_JSON, sign_kw=sign_kw)
    assert_v2_problem(replay, 401, "Unauthorized")


async def test_refused_requests_create_no_media(client: RawClient, emulator: Emulator) -> None:
    await client.request("POST", V1, form=INIT_FORM, authorization="")
    await client.request("POST", V2_INIT, json_body=INIT_JSON, authorization="Bearer nope")
    assert emulator.all_media() == []


# --- OAuth 2.0 bearer tokens ----------------------------------------------------------
async def test_user_bearer_with_media_write_uploads_on_v2(
    client: RawClient, emulator: Emulator
) -> None:
    user = bearer_client(client, DEMO_USER.bearer_tokens[0])
    init = await user.v2_init(3, "image/png", "tweet_image")
    assert init.status == 200, init.raw
    media_id = init.json["data"]["id"]
    append = await user.v2_append(media_id, 0, b"abc")
    assert append.status == 200, append.raw
    assert (emulator.media(media_id) or {})["owner"] == DEMO_USER.id


async def test_user_bearer_without_media_write_scope_is_403(client: RawClient) -> None:
    reply = await bearer_client(client, "read-only-user-token").v2_init(10, "image/png")
    body = assert_v2_problem(reply, 403, "Forbidden")
    assert "media.write" in body["detail"]


async def test_app_only_bearer_is_403_unsupported_authentication(client: RawClient) -> None:
    reply = await bearer_client(client, DEMO_APP_BEARER).v2_init(10, "image/png")
    body = assert_v2_problem(reply, 403, "Unsupported Authentication")
    assert "Application-Only" in body["detail"]


async def test_unknown_bearer_is_401_problem(client: RawClient) -> None:
    reply = await bearer_client(client, "no-such-token").v2_init(10, "image/png")
    assert_v2_problem(reply, 401, "Unauthorized")


async def test_user_bearer_on_v1_is_403(client: RawClient) -> None:
    reply = await bearer_client(client, DEMO_USER.bearer_tokens[0]).v1_init(10, "image/png")
    assert reply.status == 403
    assert reply.json["errors"][0]["code"] == 220


async def test_bearer_scheme_is_case_insensitive(client: RawClient) -> None:
    token = DEMO_USER.bearer_tokens[0]
    reply = await client.request(
        "POST", V2_INIT, json_body=INIT_JSON, authorization=f"bearer {token}"
    )
    assert reply.status == 200, reply.raw


async def test_each_user_sees_only_their_own_media(client: RawClient) -> None:
    media_id = await media_id_v1(client)
    reply = await RawClient(client.http, client.emulator, OTHER_USER).v1_append(media_id, 0, b"x")
    assert reply.status == 400
    assert reply.json["errors"][0]["code"] == 325
    own = await RawClient(client.http, client.emulator, OTHER_USER).v1_init(1, "image/png")
    assert own.status == 202, own.raw
