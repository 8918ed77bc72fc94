"""OAuth 1.0a HMAC-SHA1 for both sides of the wire: the client signs, the emulator verifies.

Synchronous and free of I/O. The RFC 5849 primitives (percent-encoding, base string URI,
parameter normalisation) come from ``authlib.oauth1.rfc5849``; this module is the glue:

* :func:`sign` builds the ``Authorization`` header for one request. It is on the uploader's
  hot path, so per-credential work (the HMAC key) is done once in :class:`Credentials` and the
  URL split (base string URI + decoded query) is memoised per URL.
* :func:`parse_authorization` turns an ``Authorization: OAuth …`` header back into a dict.
* :func:`verify` is the emulator's check; :class:`NonceCache` is its bounded replay memory.

What is signed (spec §5, RFC 5849 §3.4.1.3.1): the query string, the ``oauth_*`` protocol
parameters, and the body **only** when it is a single-part ``application/x-www-form-urlencoded``
body. Multipart (APPEND, simple upload) and JSON bodies add nothing.

Multipart choice: the seeds say that for multipart requests "query string parameters are not
used", which contradicts the RFC and what real clients (oauthlib/tweepy) send. :func:`verify`
follows the RFC, and when called with ``multipart=True`` it *also* accepts a signature computed
over the ``oauth_*`` parameters alone, so clients written to either reading are served.
"""

from __future__ import annotations

import base64
import enum
import hmac
import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import parse_qsl, urlsplit

from authlib.oauth1.rfc5849.signature import normalize_base_string_uri, normalize_parameters
from authlib.oauth1.rfc5849.util import escape, unescape

__all__ = [
    "DEFAULT_WINDOW_SECS",
    "SIGNATURE_METHOD",
    "AuthorizationError",
    "Credentials",
    "NonceCache",
    "VerifyResult",
    "base_string_uri",
    "parse_authorization",
    "sign",
    "signature_base_string",
    "verify",
]

SIGNATURE_METHOD = "HMAC-SHA1"
OAUTH_VERSION = "1.0"
#: Accepted clock skew between client and server, either direction (spec §5).
DEFAULT_WINDOW_SECS = 300.0
#: Protocol parameters :func:`verify` requires (``oauth_version`` is optional, RFC 5849 §3.1).
REQUIRED_PARAMS = frozenset(
    {
        "oauth_consumer_key",
        "oauth_token",
        "oauth_signature_method",
        "oauth_signature",
        "oauth_timestamp",
        "oauth_nonce",
    }
)


class AuthorizationError(ValueError):
    """An ``Authorization`` header that is not OAuth or cannot be parsed."""


def _mask(value: str) -> str:
    return (value[:3] if len(value) > 8 else "") + "…"


def _signing_key(consumer_secret: str, token_secret: str) -> bytes:
    return f"{escape(consumer_secret)}&{escape(token_secret)}".encode()


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Credentials:
    """User-context OAuth 1.0a credentials. ``repr``/``str`` never show the secrets."""

    consumer_key: str
    consumer_secret: str
    token: str
    token_secret: str
    # HMAC key ``pct(consumer_secret)&pct(token_secret)``, derived once.
    _key: bytes = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if not self.consumer_key or not self.consumer_secret:
            raise ValueError("consumer_key and consumer_secret must be non-empty")
        object.__setattr__(self, "_key", _signing_key(self.consumer_secret, self.token_secret))

    def __repr__(self) -> str:
        return (
            f"Credentials(consumer_key={_mask(self.consumer_key)!r}, "
            f"token={_mask(self.token)!r}, secrets=***)"
        )

    __str__ = __repr__


# --- base string ---------------------------------------------------------------------


def base_string_uri(url: str) -> str:
    """``scheme://host[:non-default port]/path``: lowercase scheme and host, no query/fragment."""
    return str(normalize_base_string_uri(url))


@lru_cache(maxsize=1024)
def _split_url(url: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """(escaped base string URI, decoded query pairs); memoised because URLs repeat."""
    query = urlsplit(url).query
    pairs = tuple(parse_qsl(query, keep_blank_values=True)) if query else ()
    return escape(base_string_uri(url)), pairs


def _base_string(method: str, escaped_uri: str, params: Sequence[tuple[str, str]]) -> str:
    return f"{method.upper()}&{escaped_uri}&{escape(normalize_parameters(params))}"


def signature_base_string(method: str, url: str, params: Sequence[tuple[str, str]]) -> str:
    """RFC 5849 §3.4.1 base string.

    ``params`` are the *decoded* parameters to sign: query + ``oauth_*`` (without
    ``oauth_signature``) + form body when applicable. The query of ``url`` is ignored here.
    """
    return _base_string(method, escape(base_string_uri(url)), params)


def _hmac_sha1(key: bytes, base: str) -> str:
    return base64.b64encode(hmac.digest(key, base.encode(), "sha1")).decode("ascii")


# --- client side ---------------------------------------------------------------------


def sign(
    method: str,
    url: str,
    creds: Credentials,
    *,
    form: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
    nonce: str | None = None,
    timestamp: int | None = None,
) -> str:
    """Return the ``Authorization`` header value for one request.

    The query of ``url`` is always signed; ``form`` only when given — pass it for
    ``application/x-www-form-urlencoded`` bodies only, never for multipart or JSON.
    """
    oauth = [
        ("oauth_consumer_key", creds.consumer_key),
        ("oauth_nonce", secrets.token_hex(16) if nonce is None else nonce),
        ("oauth_signature_method", SIGNATURE_METHOD),
        ("oauth_timestamp", str(int(time.time()) if timestamp is None else timestamp)),
        ("oauth_token", creds.token),
        ("oauth_version", OAUTH_VERSION),
    ]
    escaped_uri, query = _split_url(url)
    params = [*query, *oauth]
    if form is not None:
        params.extend(form.items() if isinstance(form, Mapping) else form)
    signature = _hmac_sha1(creds._key, _base_string(method, escaped_uri, params))
    oauth.insert(2, ("oauth_signature", signature))
    return "OAuth " + ", ".join(f'{k}="{escape(v)}"' for k, v in oauth)


# --- server side ---------------------------------------------------------------------

_AUTH_PARAM = re.compile(r'\s*([^\s=,"]+)\s*=\s*(?:"([^"]*)"|([^\s,"]*))\s*(?:,|$)')


def parse_authorization(header: str) -> dict[str, str]:
    """Parse ``OAuth k="v", …`` into a dict of percent-decoded values.

    Tolerates odd spacing, unquoted values and a trailing comma; drops ``realm``.
    Raises :class:`AuthorizationError` for other schemes, bad syntax or repeated names.
    """
    scheme, rest = ([*header.split(None, 1), "", ""])[:2]
    if scheme.lower() != "oauth":
        raise AuthorizationError(f"not an OAuth Authorization header: {scheme[:20]!r}")
    rest = rest.strip()
    if not rest:
        raise AuthorizationError("OAuth header without parameters")
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        m = _AUTH_PARAM.match(rest, pos)
        if m is None or m.end() == pos:
            raise AuthorizationError(f"malformed OAuth header near offset {pos}")
        name = unescape(m[1])
        if name in params:
            raise AuthorizationError(f"repeated OAuth parameter {name!r}")
        params[name] = unescape(m[2] if m[2] is not None else m[3])
        pos = m.end()
    params.pop("realm", None)
    return params


class VerifyResult(enum.Enum):
    """Outcome of :func:`verify`; only ``OK`` authorises the request."""

    OK = "ok"
    BAD_SIGNATURE = "bad_signature"
    STALE_TIMESTAMP = "stale_timestamp"
    REPLAYED_NONCE = "replayed_nonce"
    UNKNOWN_CONSUMER = "unknown_consumer"
    UNKNOWN_TOKEN = "unknown_token"
    MISSING_PARAMS = "missing_params"  # also: malformed timestamp, oauth_version not "1.0"
    UNSUPPORTED_METHOD = "unsupported_method"


class NonceCache:
    """Remembers ``(consumer_key, token, nonce)`` keys long enough to refuse replays.

    A request accepted at server time ``t`` carries a timestamp of at most
    ``t + window_secs``, which goes stale at ``t + 2 * window_secs`` at the latest; so each
    key is kept for ``2 * window_secs`` after it was recorded, after which the timestamp
    check alone refuses a replay. Memory: one entry per request accepted in that span.
    Eviction is amortised O(1): keys sit in a deque in insertion (= expiry) order.
    """

    __slots__ = ("_expiry", "_keys", "_retain")

    def __init__(self, window_secs: float = DEFAULT_WINDOW_SECS) -> None:
        if window_secs <= 0:
            raise ValueError("window_secs must be positive")
        self._retain = 2.0 * window_secs
        self._expiry: deque[tuple[float, tuple[str, str, str]]] = deque()
        self._keys: set[tuple[str, str, str]] = set()

    def __len__(self) -> int:
        return len(self._keys)

    def seen(self, key: tuple[str, str, str], now: float) -> bool:
        """True if ``key`` was already used (a replay); otherwise record it and return False."""
        expiry = self._expiry
        while expiry and expiry[0][0] <= now:
            self._keys.discard(expiry.popleft()[1])
        if key in self._keys:
            return True
        self._keys.add(key)
        expiry.append((now + self._retain, key))
        return False


def _signature_ok(
    method: str, escaped_uri: str, params: list[tuple[str, str]], key: bytes, given: bytes
) -> bool:
    expected = _hmac_sha1(key, _base_string(method, escaped_uri, params)).encode()
    return hmac.compare_digest(expected, given)


def verify(
    method: str,
    url: str,
    oauth_params: Mapping[str, str],
    *,
    query: Sequence[tuple[str, str]],
    form: Sequence[tuple[str, str]] | None,
    lookup: Callable[[str, str], tuple[str, str] | None],
    consumers: Container[str],
    nonces: NonceCache,
    now: float,
    window_secs: float = DEFAULT_WINDOW_SECS,
    multipart: bool = False,
) -> VerifyResult:
    """Check one request's OAuth 1.0a signature, as the emulator's server.

    ``url``: the URL the client addressed (scheme, ``Host`` incl. non-default port, path);
    its query is ignored — pass the decoded query pairs as ``query``. ``oauth_params``: the
    result of :func:`parse_authorization`. ``form``: decoded pairs of an
    ``application/x-www-form-urlencoded`` body, else None. ``consumers``: the known consumer
    keys; ``lookup(consumer_key, token)`` returns ``(consumer_secret, token_secret)``, or None
    when that token is not issued to that consumer. ``nonces`` should be built with the same
    ``window_secs``.

    Order: required params → method → consumer → token → timestamp → signature → nonce. The
    nonce is recorded only after a valid signature, so forged requests cannot burn nonces.
    """
    if not REQUIRED_PARAMS.issubset(oauth_params):
        return VerifyResult.MISSING_PARAMS
    if oauth_params.get("oauth_version", OAUTH_VERSION) != OAUTH_VERSION:
        return VerifyResult.MISSING_PARAMS
    if oauth_params["oauth_signature_method"] != SIGNATURE_METHOD:
        return VerifyResult.UNSUPPORTED_METHOD
    consumer_key, token = oauth_params["oauth_consumer_key"], oauth_params["oauth_token"]
    if consumer_key not in consumers:
        return VerifyResult.UNKNOWN_CONSUMER
    secrets_pair = lookup(consumer_key, token)
    if secrets_pair is None:
        return VerifyResult.UNKNOWN_TOKEN
    timestamp = oauth_params["oauth_timestamp"]
    if not (timestamp.isascii() and timestamp.isdigit()):
        return VerifyResult.MISSING_PARAMS
    if abs(int(timestamp) - now) > window_secs:
        return VerifyResult.STALE_TIMESTAMP

    key = _signing_key(*secrets_pair)
    given = oauth_params["oauth_signature"].encode()
    signed = [(k, v) for k, v in oauth_params.items() if k != "oauth_signature"]
    escaped_uri = escape(base_string_uri(url))
    ok = _signature_ok(method, escaped_uri, [*query, *signed, *(form or ())], key, given)
    if not ok and multipart:
        ok = _signature_ok(method, escaped_uri, signed, key, given)
    if not ok:
        return VerifyResult.BAD_SIGNATURE
    if nonces.seen((consumer_key, token, oauth_params["oauth_nonce"]), now):
        return VerifyResult.REPLAYED_NONCE
    return VerifyResult.OK
