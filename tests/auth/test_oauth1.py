"""OAuth 1.0a signing and verification: the published vector, oauthlib interop, every refusal."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest
from oauthlib.oauth1 import Client
from oauthlib.oauth1.rfc5849 import signature as oauthlib_signature

from bulkup.auth.oauth1 import (
    AuthorizationError,
    Credentials,
    NonceCache,
    VerifyResult,
    base_string_uri,
    parse_authorization,
    sign,
    signature_base_string,
    verify,
)

# Spec §7, X's "Creating a signature" guide.
CK = "xvz1evFS4wEEPTGEFPHBog"
CS = "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw"
TOKEN = "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb"
TS = "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE"
NONCE = "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"
TIMESTAMP = 1318622958
VECTOR_URL = "https://api.x.com/1.1/statuses/update.json?include_entities=true"
VECTOR_FORM = {"status": "Hello Ladies + Gentlemen, a signed OAuth request!"}
VECTOR_SIGNATURE = "Ls93hJiZbQ3akF3HF3x1Bz8/zU4="

CREDS = Credentials(consumer_key=CK, consumer_secret=CS, token=TOKEN, token_secret=TS)
LOCAL_UPLOAD = "http://127.0.0.1:8443/1.1/media/upload.json"
FORM_CT = {"Content-Type": "application/x-www-form-urlencoded"}


def lookup(consumer_key: str, token: str) -> tuple[str, str] | None:
    return (CS, TS) if (consumer_key, token) == (CK, TOKEN) else None


def check(
    method: str,
    url: str,
    header: str,
    *,
    form: Sequence[tuple[str, str]] | None = None,
    nonces: NonceCache | None = None,
    now: float = TIMESTAMP,
    multipart: bool = False,
) -> VerifyResult:
    """Verify as the emulator would: query taken from the addressed URL."""
    return verify(
        method,
        url,
        parse_authorization(header),
        query=parse_qsl(urlsplit(url).query, keep_blank_values=True),
        form=form,
        lookup=lookup,
        consumers={CK},
        nonces=nonces if nonces is not None else NonceCache(),
        now=now,
        multipart=multipart,
    )


def vector_header(**overrides: Any) -> str:
    kwargs: dict[str, Any] = {"form": VECTOR_FORM, "nonce": NONCE, "timestamp": TIMESTAMP}
    kwargs.update(overrides)
    return sign("POST", VECTOR_URL, CREDS, **kwargs)


def oauthlib_client(**kwargs: Any) -> Client:
    kwargs.setdefault("nonce", NONCE)
    kwargs.setdefault("timestamp", str(TIMESTAMP))
    return Client(CK, CS, TOKEN, TS, **kwargs)


def with_param(header: str, name: str, value: str) -> str:
    params = parse_authorization(header)
    params[name] = value
    return "OAuth " + ", ".join(f'{k}="{quote(v, safe="")}"' for k, v in params.items())


# --- published vector ----------------------------------------------------------------


def test_published_vector_signature_matches() -> None:
    assert parse_authorization(vector_header())["oauth_signature"] == VECTOR_SIGNATURE


def test_published_vector_header_shape() -> None:
    header = vector_header()
    assert header.startswith('OAuth oauth_consumer_key="xvz1evFS4wEEPTGEFPHBog", ')
    assert 'oauth_signature="Ls93hJiZbQ3akF3HF3x1Bz8%2FzU4%3D"' in header
    assert 'oauth_signature_method="HMAC-SHA1"' in header
    assert 'oauth_version="1.0"' in header
    assert list(parse_authorization(header)) == sorted(parse_authorization(header))


def test_published_vector_is_accepted_by_verify() -> None:
    result = check("POST", VECTOR_URL, vector_header(), form=list(VECTOR_FORM.items()))
    assert result is VerifyResult.OK


def test_form_given_as_pairs_or_mapping_signs_the_same() -> None:
    assert vector_header(form=list(VECTOR_FORM.items())) == vector_header()


# --- base string pieces --------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://API.X.com:80/1.1/x.json?y=1#f", "http://api.x.com/1.1/x.json"),
        ("https://Upload.X.com:443/2/media/upload", "https://upload.x.com/2/media/upload"),
        ("http://127.0.0.1:8443/1.1/media/upload.json", LOCAL_UPLOAD),
        ("https://localhost:80/a", "https://localhost:80/a"),
        ("http://example.com", "http://example.com/"),
    ],
)
def test_base_string_uri_normalizes(url: str, expected: str) -> None:
    assert base_string_uri(url) == expected


def test_signature_base_string_matches_rfc5849_example() -> None:
    params = [
        ("b5", "=%3D"),
        ("a3", "a"),
        ("c@", ""),
        ("a2", "r b"),
        ("oauth_consumer_key", "9djdj82h48djs9d2"),
        ("oauth_token", "kkk9d7dh3k39sjv7"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "137131201"),
        ("oauth_nonce", "7d8f3e4a"),
        ("c2", ""),
        ("a3", "2 q"),
    ]
    assert signature_base_string("post", "http://example.com/request?b5=x", params) == (
        "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q"
        "%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_"
        "key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_m"
        "ethod%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk"
        "9d7dh3k39sjv7"
    )


def test_sign_defaults_fresh_nonce_and_current_timestamp() -> None:
    a = parse_authorization(sign("GET", LOCAL_UPLOAD, CREDS))
    b = parse_authorization(sign("GET", LOCAL_UPLOAD, CREDS))
    assert a["oauth_nonce"] != b["oauth_nonce"]
    assert len(a["oauth_nonce"]) == 32
    assert a["oauth_timestamp"].isdigit()


# --- interop with oauthlib (what tweepy uses) ----------------------------------------

ODD_FORM = [("command", "INIT"), ("status", "Ünïcode + spaces & ☃ ~*'()!"), ("empty", "")]
INTEROP_CASES = [
    pytest.param("POST", VECTOR_URL, list(VECTOR_FORM.items()), id="form-vector"),
    pytest.param("POST", LOCAL_UPLOAD + "?x=1", ODD_FORM, id="form-odd-chars-port"),
    pytest.param(
        "GET",
        "https://upload.x.com/1.1/media/upload.json?command=STATUS&media_id=710511363345354753",
        None,
        id="query-get",
    ),
    pytest.param("GET", LOCAL_UPLOAD + "?q=a%20b+c&q=%2B&flag=", None, id="query-port-dupes"),
]


@pytest.mark.parametrize(("method", "url", "form"), INTEROP_CASES)
def test_oauthlib_signed_requests_are_accepted(
    method: str, url: str, form: list[tuple[str, str]] | None
) -> None:
    body = urlencode(form) if form is not None else None
    _, headers, _ = oauthlib_client().sign(url, method, body, FORM_CT if form else None)
    assert check(method, url, headers["Authorization"], form=form) is VerifyResult.OK


@pytest.mark.parametrize(("method", "url", "form"), INTEROP_CASES)
def test_our_signature_equals_oauthlibs(
    method: str, url: str, form: list[tuple[str, str]] | None
) -> None:
    body = urlencode(form) if form is not None else None
    _, headers, _ = oauthlib_client().sign(url, method, body, FORM_CT if form else None)
    ours = sign(method, url, CREDS, form=form, nonce=NONCE, timestamp=TIMESTAMP)
    theirs = parse_authorization(headers["Authorization"])
    assert parse_authorization(ours) == theirs


@pytest.mark.parametrize(("method", "url", "form"), INTEROP_CASES)
def test_oauthlib_verifier_accepts_our_signature(
    method: str, url: str, form: list[tuple[str, str]] | None
) -> None:
    header = sign(method, url, CREDS, form=form)
    body = urlencode(form) if form is not None else None
    request = SimpleNamespace(
        uri=url,
        http_method=method,
        params=oauthlib_signature.collect_parameters(
            urlsplit(url).query, body, {"Authorization": header}
        ),
        signature=parse_authorization(header)["oauth_signature"],
    )
    assert oauthlib_signature.verify_hmac_sha1(request, CS, TS)


# --- multipart -----------------------------------------------------------------------

APPEND_URL = LOCAL_UPLOAD + "?command=APPEND&media_id=123&segment_index=0"


def test_multipart_accepts_signature_over_oauth_params_only() -> None:
    # The seeds' reading: query not signed for multipart.
    oauth_only = sign("POST", LOCAL_UPLOAD, CREDS, timestamp=TIMESTAMP)
    assert check("POST", APPEND_URL, oauth_only, multipart=True) is VerifyResult.OK


def test_oauth_only_signature_rejected_when_not_multipart() -> None:
    oauth_only = sign("POST", LOCAL_UPLOAD, CREDS, timestamp=TIMESTAMP)
    assert check("POST", APPEND_URL, oauth_only) is VerifyResult.BAD_SIGNATURE


def test_multipart_accepts_rfc_signature_over_query() -> None:
    # oauthlib with a multipart body: query + oauth signed, body not.
    headers = {"Content-Type": "multipart/form-data; boundary=xyz"}
    _, signed, _ = oauthlib_client().sign(APPEND_URL, "POST", None, headers)
    assert check("POST", APPEND_URL, signed["Authorization"], multipart=True) is VerifyResult.OK
    ours = sign("POST", APPEND_URL, CREDS, timestamp=TIMESTAMP)
    assert check("POST", APPEND_URL, ours, multipart=True) is VerifyResult.OK


# --- every refusal -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("oauth_nonce", "other"),
        ("oauth_timestamp", str(TIMESTAMP + 1)),
        ("oauth_signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        ("oauth_signature", "ünï"),
        ("oauth_extra", "1"),
    ],
)
def test_tampered_oauth_param_is_bad_signature(name: str, value: str) -> None:
    header = with_param(vector_header(), name, value)
    result = check("POST", VECTOR_URL, header, form=list(VECTOR_FORM.items()))
    assert result is VerifyResult.BAD_SIGNATURE


def test_tampered_form_or_query_is_bad_signature() -> None:
    header = vector_header()
    assert check("POST", VECTOR_URL, header, form=[("status", "Hello")]) is (
        VerifyResult.BAD_SIGNATURE
    )
    other_url = VECTOR_URL.replace("true", "false")
    form = list(VECTOR_FORM.items())
    assert check("POST", other_url, header, form=form) is VerifyResult.BAD_SIGNATURE
    assert check("PUT", VECTOR_URL, header, form=form) is VerifyResult.BAD_SIGNATURE


def test_wrong_port_in_addressed_url_is_bad_signature() -> None:
    header = sign("GET", LOCAL_UPLOAD, CREDS, timestamp=TIMESTAMP)
    other_port = LOCAL_UPLOAD.replace("8443", "8444")
    assert check("GET", other_port, header) is VerifyResult.BAD_SIGNATURE


def test_wrong_secret_is_bad_signature() -> None:
    wrong = Credentials(consumer_key=CK, consumer_secret=CS, token=TOKEN, token_secret="nope")
    header = sign("GET", LOCAL_UPLOAD, wrong, timestamp=TIMESTAMP)
    assert check("GET", LOCAL_UPLOAD, header) is VerifyResult.BAD_SIGNATURE


@pytest.mark.parametrize(
    ("skew", "expected"),
    [
        (-301, VerifyResult.STALE_TIMESTAMP),
        (301, VerifyResult.STALE_TIMESTAMP),
        (-300, VerifyResult.OK),
        (300, VerifyResult.OK),
    ],
)
def test_timestamp_window_is_300_seconds_either_way(skew: int, expected: VerifyResult) -> None:
    header = sign("GET", LOCAL_UPLOAD, CREDS, timestamp=TIMESTAMP + skew)
    assert check("GET", LOCAL_UPLOAD, header) is expected


def test_second_identical_request_is_replayed_nonce() -> None:
    nonces = NonceCache()
    header = vector_header()
    form = list(VECTOR_FORM.items())
    assert check("POST", VECTOR_URL, header, form=form, nonces=nonces) is VerifyResult.OK
    again = check("POST", VECTOR_URL, header, form=form, nonces=nonces, now=TIMESTAMP + 10)
    assert again is VerifyResult.REPLAYED_NONCE


def test_rejected_requests_do_not_burn_the_nonce() -> None:
    nonces = NonceCache()
    good = sign("GET", LOCAL_UPLOAD, CREDS, nonce="n1", timestamp=TIMESTAMP)
    forged = with_param(good, "oauth_signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    stale = sign("GET", LOCAL_UPLOAD, CREDS, nonce="n1", timestamp=TIMESTAMP - 1000)
    assert check("GET", LOCAL_UPLOAD, forged, nonces=nonces) is VerifyResult.BAD_SIGNATURE
    assert check("GET", LOCAL_UPLOAD, stale, nonces=nonces) is VerifyResult.STALE_TIMESTAMP
    assert check("GET", LOCAL_UPLOAD, good, nonces=nonces) is VerifyResult.OK
    assert check("GET", LOCAL_UPLOAD, good, nonces=nonces) is VerifyResult.REPLAYED_NONCE


def test_same_nonce_from_another_token_is_not_a_replay() -> None:
    nonces = NonceCache()
    nonces.seen((CK, "other-token", "n1"), TIMESTAMP)
    header = sign("GET", LOCAL_UPLOAD, CREDS, nonce="n1", timestamp=TIMESTAMP)
    assert check("GET", LOCAL_UPLOAD, header, nonces=nonces) is VerifyResult.OK


def test_unknown_consumer() -> None:
    stranger = Credentials(consumer_key="who", consumer_secret=CS, token=TOKEN, token_secret=TS)
    header = sign("GET", LOCAL_UPLOAD, stranger, timestamp=TIMESTAMP)
    assert check("GET", LOCAL_UPLOAD, header) is VerifyResult.UNKNOWN_CONSUMER


def test_unknown_token() -> None:
    stranger = Credentials(consumer_key=CK, consumer_secret=CS, token="who", token_secret=TS)
    header = sign("GET", LOCAL_UPLOAD, stranger, timestamp=TIMESTAMP)
    assert check("GET", LOCAL_UPLOAD, header) is VerifyResult.UNKNOWN_TOKEN


@pytest.mark.parametrize(
    "missing",
    [
        "oauth_consumer_key",
        "oauth_token",
        "oauth_signature_method",
        "oauth_signature",
        "oauth_timestamp",
        "oauth_nonce",
    ],
)
def test_missing_param(missing: str) -> None:
    params = parse_authorization(vector_header())
    del params[missing]
    header = "OAuth " + ", ".join(f'{k}="{quote(v, safe="")}"' for k, v in params.items())
    result = check("POST", VECTOR_URL, header, form=list(VECTOR_FORM.items()))
    assert result is VerifyResult.MISSING_PARAMS


@pytest.mark.parametrize(
    ("name", "value"),
    [("oauth_timestamp", "12e3"), ("oauth_timestamp", ""), ("oauth_version", "2")],
)
def test_malformed_param_is_missing_params(name: str, value: str) -> None:
    header = with_param(vector_header(), name, value)
    result = check("POST", VECTOR_URL, header, form=list(VECTOR_FORM.items()))
    assert result is VerifyResult.MISSING_PARAMS


def test_oauth_version_may_be_absent() -> None:
    params = parse_authorization(sign("GET", LOCAL_UPLOAD, CREDS, timestamp=TIMESTAMP))
    del params["oauth_version"], params["oauth_signature"]
    base = signature_base_string("GET", LOCAL_UPLOAD, list(params.items()))
    params["oauth_signature"] = oauthlib_signature.sign_hmac_sha1(base, CS, TS)
    header = "OAuth " + ", ".join(f'{k}="{quote(v, safe="")}"' for k, v in params.items())
    assert check("GET", LOCAL_UPLOAD, header) is VerifyResult.OK


@pytest.mark.parametrize("method", ["PLAINTEXT", "RSA-SHA1", "HMAC-SHA256"])
def test_other_signature_methods_unsupported(method: str) -> None:
    header = with_param(vector_header(), "oauth_signature_method", method)
    result = check("POST", VECTOR_URL, header, form=list(VECTOR_FORM.items()))
    assert result is VerifyResult.UNSUPPORTED_METHOD


# --- parse_authorization -------------------------------------------------------------


def test_parse_drops_realm() -> None:
    parsed = parse_authorization('OAuth realm="https://api.x.com/", oauth_nonce="abc"')
    assert parsed == {"oauth_nonce": "abc"}


def test_parse_tolerates_spacing_unquoted_values_and_lowercase_scheme() -> None:
    header = '  oauth   a="1" ,b = "2",c=3 ,\td=""  ,'
    assert parse_authorization(header) == {"a": "1", "b": "2", "c": "3", "d": ""}


def test_parse_percent_decodes_names_and_values() -> None:
    parsed = parse_authorization('OAuth oauth_signature="Ls93%2FzU4%3D", x%5Fy="a%20b+c"')
    assert parsed == {"oauth_signature": "Ls93/zU4=", "x_y": "a b+c"}


@pytest.mark.parametrize(
    "header",
    [
        "Basic dXNlcjpwYXNz",
        "Bearer abc",
        "",
        "OAuth",
        "OAuth   ",
        'OAuth a="1',
        'OAuth a="1" b="2"',
        "OAuth a",
        'OAuth a="1", a="2"',
        'OAuth ="1"',
    ],
)
def test_parse_rejects_non_oauth_or_malformed(header: str) -> None:
    with pytest.raises(AuthorizationError):
        parse_authorization(header)
    assert issubclass(AuthorizationError, ValueError)


# --- Credentials ---------------------------------------------------------------------


def test_credentials_repr_and_str_hide_secrets() -> None:
    for text in (repr(CREDS), str(CREDS), f"{CREDS}", repr([CREDS])):
        assert CS not in text
        assert TS not in text
        assert TOKEN not in text
        assert "secrets=***" in text
    assert repr(CREDS) == "Credentials(consumer_key='xvz…', token='370…', secrets=***)"


def test_credentials_repr_masks_short_values_entirely() -> None:
    creds = Credentials(consumer_key="abcd", consumer_secret="s", token="tok", token_secret="t")
    assert repr(creds) == "Credentials(consumer_key='…', token='…', secrets=***)"


def test_credentials_are_keyword_only_frozen_and_validated() -> None:
    with pytest.raises(TypeError):
        Credentials(CK, CS, TOKEN, TS)  # type: ignore[call-arg]
    with pytest.raises(AttributeError):
        CREDS.token = "x"  # type: ignore[misc]
    with pytest.raises(ValueError):
        Credentials(consumer_key="", consumer_secret=CS, token=TOKEN, token_secret=TS)
    same = Credentials(consumer_key=CK, consumer_secret=CS, token=TOKEN, token_secret=TS)
    assert same == CREDS and hash(same) == hash(CREDS)


# --- NonceCache ----------------------------------------------------------------------


def test_nonce_cache_detects_replay_and_forgets_after_retention() -> None:
    cache = NonceCache(window_secs=300)
    key = (CK, TOKEN, "n")
    assert cache.seen(key, 1000.0) is False
    assert cache.seen(key, 1599.0) is True
    assert cache.seen(key, 1600.0) is False  # forgotten: timestamp check covers it now


def test_replay_from_a_client_clock_ahead_is_still_refused() -> None:
    # Accepted at now=T with a timestamp T+300; replayed at T+599 the timestamp is
    # still inside the window, so the nonce must still be remembered.
    nonces = NonceCache()
    header = sign("GET", LOCAL_UPLOAD, CREDS, timestamp=TIMESTAMP + 300)
    assert check("GET", LOCAL_UPLOAD, header, nonces=nonces) is VerifyResult.OK
    replay = check("GET", LOCAL_UPLOAD, header, nonces=nonces, now=TIMESTAMP + 599)
    assert replay is VerifyResult.REPLAYED_NONCE


def test_nonce_cache_memory_is_bounded() -> None:
    cache = NonceCache(window_secs=300)
    for i in range(10_000):
        assert cache.seen((CK, TOKEN, f"n{i}"), float(i * 1000)) is False
    assert len(cache) == 1
    assert len(cache._expiry) == 1


def test_nonce_cache_holds_only_the_window() -> None:
    cache = NonceCache(window_secs=10)
    for i in range(1000):
        cache.seen((CK, TOKEN, f"n{i}"), float(i))
    assert len(cache) == 20  # 2 * window of one-per-second traffic


def test_nonce_cache_rejects_nonpositive_window() -> None:
    with pytest.raises(ValueError):
        NonceCache(window_secs=0)
