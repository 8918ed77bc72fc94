"""Client credentials: OAuth 1.0a user context or an OAuth 2.0 user access token.

Read from the environment (``X_API_KEY``, ``X_API_SECRET``, ``X_ACCESS_TOKEN``,
``X_ACCESS_TOKEN_SECRET``, or ``X_BEARER_TOKEN``). An OAuth 2.0 token that can renew
itself (:class:`bulkup.auth.oauth2.OAuth2Auth`) comes from ``X_BEARER_TOKEN`` with
``X_REFRESH_TOKEN``, or from ``X_TOKEN_FILE`` (written by ``bulkup auth login``),
each with ``X_CLIENT_ID`` and, for a confidential client, ``X_CLIENT_SECRET``;
``X_TOKEN_URL`` defaults to X's token URL when the upload endpoint is X's API, and
must be set for another server. Each kind produces the
``Authorization`` header for a request and an :attr:`account` fingerprint that
identifies the account in checkpoints without revealing anything. Their reprs never
show a secret.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp

from bulkup import redact
from bulkup.auth import oauth1
from bulkup.auth.oauth2 import OAuth2Auth, OAuth2Client, default_token_url
from bulkup.auth.tokenstore import TokenStore
from bulkup.errors import ConfigError

OAUTH1_VARS = ("X_API_KEY", "X_API_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET")
BEARER_VAR = "X_BEARER_TOKEN"
REFRESH_VAR = "X_REFRESH_TOKEN"
TOKEN_FILE_VAR = "X_TOKEN_FILE"
#: The OAuth 2.0 client a refreshable token needs (the secret only if confidential).
CLIENT_VARS = ("X_CLIENT_ID", "X_TOKEN_URL")
CLIENT_SECRET_VAR = "X_CLIENT_SECRET"
#: Any of these set in the environment means the credentials come from it.
CREDENTIAL_VARS = (*OAUTH1_VARS, BEARER_VAR, REFRESH_VAR, TOKEN_FILE_VAR)


class Auth(Protocol):
    """Something that can authorize requests, and perhaps renew itself.

    The transport calls :meth:`prepare` before each request and, after a 401,
    :meth:`renew` with what ``prepare`` gave: credentials that cannot renew answer
    None and False, and the transport needs to know nothing more of them.
    """

    @property
    def account(self) -> str: ...

    def header(self, method: str, url: str, form: Mapping[str, str] | None) -> str: ...

    async def prepare(self, http: aiohttp.ClientSession) -> str | None:
        """The credentials about to be sent (renewed first if about to expire); None
        when they cannot renew. A refusal of the token endpoint raises AuthError."""
        ...

    async def renew(self, http: aiohttp.ClientSession, sent: str) -> bool:
        """After a 401 for ``sent``: True if there are new credentials to try."""
        ...


class Static:
    """Credentials that never change: nothing to prepare, nothing to renew."""

    async def prepare(self, http: aiohttp.ClientSession) -> str | None:
        return None

    async def renew(self, http: aiohttp.ClientSession, sent: str) -> bool:
        return False


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True, repr=False)
class OAuth1Auth(Static):
    """OAuth 1.0a HMAC-SHA1 user context."""

    credentials: oauth1.Credentials

    def __post_init__(self) -> None:
        redact.register(secrets_of(self))  # masked in every output from now on

    @property
    def account(self) -> str:
        return "oauth1:" + _fingerprint(self.credentials.consumer_key, self.credentials.token)

    def header(self, method: str, url: str, form: Mapping[str, str] | None) -> str:
        return oauth1.sign(method, url, self.credentials, form=form)

    def __repr__(self) -> str:
        return f"OAuth1Auth({self.credentials!r})"


def oauth1_auth(api_key: str, api_secret: str, access_token: str, token_secret: str) -> OAuth1Auth:
    """OAuth 1.0a user context from the four values, in the order of :data:`OAUTH1_VARS`."""
    return OAuth1Auth(
        oauth1.Credentials(
            consumer_key=api_key,
            consumer_secret=api_secret,
            token=access_token,
            token_secret=token_secret,
        )
    )


@dataclass(frozen=True, slots=True, repr=False)
class BearerAuth(Static):
    """An OAuth 2.0 user access token (scope ``media.write``)."""

    token: str = field()

    def __post_init__(self) -> None:
        redact.register(secrets_of(self))  # masked in every output from now on

    @property
    def account(self) -> str:
        return "bearer:" + _fingerprint(self.token)

    def header(self, method: str, url: str, form: Mapping[str, str] | None) -> str:
        return f"Bearer {self.token}"

    def __repr__(self) -> str:
        return "BearerAuth(token=***)"


def secrets_of(auth: Auth | None) -> tuple[str, ...]:
    """The secret strings of ``auth``, for :mod:`bulkup.redact` (the API key too: X
    asks to keep it secret, and an echoed OAuth 1.0a header carries it)."""
    if isinstance(auth, OAuth1Auth):
        creds = auth.credentials
        return (creds.consumer_secret, creds.token_secret, creds.token, creds.consumer_key)
    if isinstance(auth, BearerAuth):
        return (auth.token,)
    if isinstance(auth, OAuth2Auth):
        return auth.secrets()
    return ()


def auth_from_env(environ: Mapping[str, str] | None = None, *, endpoint: str | None = None) -> Auth:
    """OAuth 1.0a if all four ``X_*`` OAuth variables are set, else OAuth 2.0.

    OAuth 2.0 is a token that renews itself when ``X_TOKEN_FILE`` or
    ``X_REFRESH_TOKEN`` is set (with the client's variables), else ``X_BEARER_TOKEN``.
    ``endpoint`` is the upload endpoint (None: X's API): it decides whether
    ``X_TOKEN_URL`` may be left out (see :func:`bulkup.auth.oauth2.default_token_url`).
    """
    env = os.environ if environ is None else environ
    values = {name: env.get(name, "").strip() for name in OAUTH1_VARS}
    if all(values.values()):
        return oauth1_auth(*(values[name] for name in OAUTH1_VARS))
    bearer = env.get(BEARER_VAR, "").strip()
    refreshable = _oauth2_from_env(env, bearer, endpoint)
    if refreshable is not None:
        return refreshable
    if bearer:
        return BearerAuth(bearer)
    present = [name for name, value in values.items() if value]
    if present:
        missing = [name for name, value in values.items() if not value]
        raise ConfigError(
            f"incomplete OAuth 1.0a credentials: {', '.join(present)} set but "
            f"{', '.join(missing)} missing. Set all four, or set {BEARER_VAR} instead."
        )
    raise ConfigError(
        "no credentials: set X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN and "
        f"X_ACCESS_TOKEN_SECRET (OAuth 1.0a), or {BEARER_VAR} (OAuth 2.0 user token "
        f"with the media.write scope), or {TOKEN_FILE_VAR} with X_CLIENT_ID "
        "(the token file `bulkup auth login` writes)."
    )


def _oauth2_from_env(
    env: Mapping[str, str], bearer: str, endpoint: str | None
) -> OAuth2Auth | None:
    """A refreshable OAuth 2.0 token, if ``X_TOKEN_FILE`` or ``X_REFRESH_TOKEN`` is set."""
    token_file = env.get(TOKEN_FILE_VAR, "").strip()
    refresh = env.get(REFRESH_VAR, "").strip()
    if not token_file and not refresh:
        return None
    if token_file and (bearer or refresh):
        raise ConfigError(
            f"{TOKEN_FILE_VAR} and {BEARER_VAR}/{REFRESH_VAR} are both set: "
            "use the token file or the variables, not both"
        )
    source = TOKEN_FILE_VAR if token_file else REFRESH_VAR
    if refresh and not bearer:
        raise ConfigError(f"{REFRESH_VAR} is set but {BEARER_VAR} is missing: set both")
    client_id, token_url = (env.get(name, "").strip() for name in CLIENT_VARS)
    token_url = token_url or default_token_url(endpoint) or ""
    if not client_id or not token_url:
        given = (client_id, token_url)
        missing = [name for name, value in zip(CLIENT_VARS, given, strict=True) if not value]
        why = "" if token_url else f" ({endpoint} is not X's API: there is no default)"
        raise ConfigError(
            f"{source} is set but {' and '.join(missing)} missing: a token is refreshed by "
            f"its client at the token URL{why} (add {CLIENT_SECRET_VAR} for a confidential "
            "client)"
        )
    client = OAuth2Client(
        client_id=client_id,
        client_secret=env.get(CLIENT_SECRET_VAR, "").strip() or None,
        token_url=token_url,
    )
    store = TokenStore.file(token_file) if token_file else TokenStore.memory(bearer, refresh)
    return OAuth2Auth(store=store, client=client)
