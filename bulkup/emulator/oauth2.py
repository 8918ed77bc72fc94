"""The emulator's OAuth 2.0 authorization server: authorization code with PKCE, refresh.

Two endpoints, as X serves them (``x.com`` and ``api.x.com``), on the emulator's port:

- ``GET /i/oauth2/authorize``: the consent page. The emulator is headless and
  approves at once for the client's user: it checks ``client_id`` (a known client)
  and ``redirect_uri``, which must be one of the client's registered callbacks
  (:attr:`OAuth2App.redirect_uris`) character for character, as X requires ("exact
  match validation"; X does not apply RFC 8252's any-loopback-port rule). Then
  ``response_type=code``, ``code_challenge`` with ``code_challenge_method=S256``, a
  ``scope`` of known scopes and a ``state``; it grants the scopes asked for (a token
  without ``media.write`` is then refused by the media endpoints with 403, as on X)
  and answers ``302`` to ``redirect_uri`` with ``code`` and ``state``. Errors go back
  to the client as ``error=`` in that redirect (RFC 6749 §4.1.2.1) when ``client_id``
  and ``redirect_uri`` are good, else as a 400 page, naming the problem, that
  redirects nowhere (RFC 6749 §4.1.2.1: never to an unverified URI).
- ``POST /2/oauth2/token`` (form encoded): ``grant_type=authorization_code`` with
  ``code``, ``redirect_uri`` and the PKCE ``code_verifier`` (codes are single-use and
  live ``oauth2.code_secs``; a reused code also revokes what it gave), or
  ``grant_type=refresh_token``, which issues a new access token *and* a new refresh
  token and invalidates the old refresh token (rotation, as X does). A confidential
  client authenticates with HTTP Basic ``client_id:client_secret``, a public one
  names its ``client_id`` in the form. Answers ``{"token_type": "bearer",
  "expires_in", "access_token", "scope", "refresh_token"}`` (a refresh token only with
  the ``offline.access`` scope); errors are RFC 6749 §5.2 JSON ``{"error",
  "error_description"}``, 401 for ``invalid_client``.

Access tokens expire ``oauth2.access_token_secs`` after issue on the emulator's clock
(``Emulator.advance`` expires them without sleeping); until then the upload endpoints
accept them as the client's user with the granted scopes.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote_plus, urlencode, urlsplit

from aiohttp import web
from authlib.oauth2.rfc7636.challenge import CODE_VERIFIER_PATTERN, compare_s256_code_challenge

from bulkup.core.clock import OffsetClock
from bulkup.emulator.config import ConfigError, OAuth2, OAuth2App, User

AUTHORIZE_PATH: Final = "/i/oauth2/authorize"
TOKEN_PATH: Final = "/2/oauth2/token"
OFFLINE_SCOPE: Final = "offline.access"
#: The scopes X documents for OAuth 2.0 user tokens.
KNOWN_SCOPES: Final = frozenset(
    {
        *("tweet.read", "tweet.write", "tweet.moderate.write", "users.read", "users.email"),
        *("follows.read", "follows.write", "offline.access", "space.read", "mute.read"),
        *("mute.write", "like.read", "like.write", "list.read", "list.write", "block.read"),
        *("block.write", "bookmark.read", "bookmark.write", "dm.read", "dm.write"),
        "media.write",
    }
)
TOKEN_KEYS: Final = ("access_token", "refresh_token")


class OAuthError(Exception):
    """An RFC 6749 error: ``error`` is the code, ``status`` the token endpoint's status."""

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


class BadClient(Exception):
    """``client_id`` or ``redirect_uri`` is wrong: the authorize page redirects nowhere."""


@dataclass(frozen=True, slots=True)
class Grant:
    """What a token stands for: a client acting for a user with some scopes."""

    client_id: str
    user: User
    scopes: tuple[str, ...]
    #: Emulator time after which an access token is refused (unused for refresh tokens).
    expires_at: float = float("inf")


@dataclass(frozen=True, slots=True)
class _Code:
    grant: Grant
    redirect_uri: str
    challenge: str
    expires_at: float


class OAuth2Server:
    """Known clients, and the codes and tokens issued to them."""

    def __init__(self, settings: OAuth2, users: tuple[User, ...], clock: OffsetClock) -> None:
        self.settings = settings
        self.clock = clock
        by_id = {u.id: u for u in users}
        self.clients: dict[str, OAuth2App] = {c.client_id: c for c in settings.clients}
        self._users: dict[str, User] = {}
        for client in settings.clients:
            user = by_id.get(client.user_id) if client.user_id else users[0]
            if user is None:
                raise ConfigError(f"oauth2 client {client.client_id}: no user {client.user_id}")
            self._users[client.client_id] = user
        self._codes: dict[str, _Code] = {}
        #: Codes already exchanged, and the tokens each gave (revoked if it comes again).
        self._used: dict[str, tuple[str, ...]] = {}
        self._access: dict[str, Grant] = {}
        self._refresh: dict[str, Grant] = {}
        #: Every access and refresh token ever issued, for tests that look for leaks.
        self.issued: list[str] = []

    # --- what the upload endpoints ask ----------------------------------------------
    def lookup(self, access_token: str) -> Grant | None:
        """The grant of an access token that is still valid, else None."""
        grant = self._access.get(access_token)
        if grant is None or self.clock.now() >= grant.expires_at:
            return None
        return grant

    # --- the authorize endpoint -------------------------------------------------------
    def authorize(self, query: Mapping[str, str]) -> str:
        """The redirect (with ``code`` or ``error``) for an authorization request."""
        client = self.clients.get(query.get("client_id", ""))
        if client is None:
            raise BadClient(f"unknown client_id {query.get('client_id', '')!r}")
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            registered = ", ".join(client.redirect_uris)
            raise BadClient(
                f"redirect_uri {redirect_uri!r} is not a callback URL registered for client "
                f"{client.client_id!r} (registered: {registered}); it must match one of them "
                "character for character"
            )
        state = query.get("state")
        try:
            scopes = self._check_request(query)
        except OAuthError as exc:
            return _with_query(redirect_uri, error=exc.error, error_description=exc.description)
        code = secrets.token_urlsafe(32)
        grant = Grant(client.client_id, self._users[client.client_id], scopes)
        expires_at = self.clock.now() + self.settings.code_secs
        self._codes[code] = _Code(grant, redirect_uri, query["code_challenge"], expires_at)
        return _with_query(redirect_uri, code=code, state=state)

    def _check_request(self, query: Mapping[str, str]) -> tuple[str, ...]:
        if query.get("response_type") != "code":
            raise OAuthError("unsupported_response_type", "response_type must be 'code'")
        if not query.get("state"):
            raise OAuthError("invalid_request", "state is required")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            raise OAuthError("invalid_request", "PKCE needs a code_challenge, method S256")
        scopes = tuple(query.get("scope", "").split())
        if not scopes:
            raise OAuthError("invalid_scope", "scope is required")
        unknown = sorted(set(scopes) - KNOWN_SCOPES)
        if unknown:
            raise OAuthError("invalid_scope", f"unknown scope(s): {' '.join(unknown)}")
        return scopes  # granted as asked: the media endpoints check for media.write

    # --- the token endpoint -----------------------------------------------------------
    def token(self, form: Mapping[str, str], authorization: str) -> dict[str, object]:
        """The token response for a token request, or :class:`OAuthError`."""
        client = self._client(form, authorization)
        grant_type = form.get("grant_type", "")
        if grant_type == "authorization_code":
            return self._exchange_code(client, form)
        if grant_type == "refresh_token":
            return self._refresh_grant(client, form)
        if not grant_type:
            raise OAuthError("invalid_request", "grant_type is required")
        raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")

    def _client(self, form: Mapping[str, str], authorization: str) -> OAuth2App:
        """Client authentication (RFC 6749 §2.3): HTTP Basic, or a public client's id."""
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() == "basic":
            client_id, secret = _basic(encoded)
            client = self.clients.get(client_id)
            if client is None or not secrets.compare_digest(secret, client.client_secret):
                raise _invalid_client("client authentication failed")
            if form.get("client_id", client_id) != client_id:
                raise OAuthError("invalid_request", "client_id differs from the authenticated one")
            return client
        client = self.clients.get(form.get("client_id", ""))
        if client is None:
            raise _invalid_client("unknown or missing client_id")
        if client.confidential:
            raise _invalid_client("a confidential client must authenticate with HTTP Basic")
        return client

    def _exchange_code(self, client: OAuth2App, form: Mapping[str, str]) -> dict[str, object]:
        code = form.get("code", "")
        if code in self._used:
            for token in self._used[code]:  # RFC 6749 §4.1.2: revoke what the code gave
                self._access.pop(token, None)
                self._refresh.pop(token, None)
            raise OAuthError("invalid_grant", "the authorization code was already used")
        issued = self._codes.pop(code, None)
        if issued is None or self.clock.now() > issued.expires_at:
            raise OAuthError("invalid_grant", "unknown or expired authorization code")
        self._used[code] = ()  # single use, whatever the outcome
        if issued.grant.client_id != client.client_id:
            raise OAuthError("invalid_grant", "the code was issued to another client")
        if form.get("redirect_uri") != issued.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri differs from the authorization request")
        verifier = form.get("code_verifier", "")
        if not CODE_VERIFIER_PATTERN.match(verifier):
            raise OAuthError("invalid_request", "code_verifier is missing or malformed")
        if not compare_s256_code_challenge(verifier, issued.challenge):
            raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
        response = self._issue(issued.grant)
        self._used[code] = tuple(str(response[k]) for k in TOKEN_KEYS if k in response)
        return response

    def _refresh_grant(self, client: OAuth2App, form: Mapping[str, str]) -> dict[str, object]:
        grant = self._refresh.get(form.get("refresh_token", ""))
        if grant is None or grant.client_id != client.client_id:
            raise OAuthError("invalid_grant", "the refresh token is invalid or was already used")
        del self._refresh[form["refresh_token"]]  # rotation: each refresh token works once
        return self._issue(grant)

    def _issue(self, grant: Grant) -> dict[str, object]:
        lifetime = self.settings.access_token_secs
        access = secrets.token_urlsafe(32)
        self._access[access] = Grant(
            grant.client_id, grant.user, grant.scopes, self.clock.now() + lifetime
        )
        response: dict[str, object] = {
            "token_type": "bearer",
            "expires_in": lifetime,
            "access_token": access,
            "scope": " ".join(grant.scopes),
        }
        if OFFLINE_SCOPE in grant.scopes:
            refresh = secrets.token_urlsafe(32)
            self._refresh[refresh] = grant
            response["refresh_token"] = refresh
        self.issued += [str(response[k]) for k in TOKEN_KEYS if k in response]
        return response


def _with_query(uri: str, **params: str | None) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{uri}{'&' if urlsplit(uri).query else '?'}{query}"


def _basic(encoded: str) -> tuple[str, str]:
    """``client_id`` and ``client_secret`` of an HTTP Basic header (form-encoded, §2.3.1)."""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise _invalid_client("malformed HTTP Basic credentials") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise _invalid_client("malformed HTTP Basic credentials")
    return unquote_plus(client_id), unquote_plus(secret)


def _invalid_client(description: str) -> OAuthError:
    return OAuthError("invalid_client", description, status=401)


# --- routes ----------------------------------------------------------------------------
SERVER_KEY: web.AppKey[OAuth2Server] = web.AppKey("bulkup_oauth2_server")


async def authorize(request: web.Request) -> web.StreamResponse:
    server = request.app[SERVER_KEY]
    try:
        location = server.authorize(request.rel_url.query)
    except BadClient as exc:
        return web.Response(status=400, text=f"OAuth 2.0 authorization refused: {exc}\n")
    raise web.HTTPFound(location)


async def token(request: web.Request) -> web.Response:
    server = request.app[SERVER_KEY]
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1
    posted = await request.post()
    form = {k: v for k, v in posted.items() if isinstance(v, str)}
    try:
        body = server.token(form, request.headers.get("Authorization", ""))
    except OAuthError as exc:
        if exc.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="bulkup emulator"'
        error = {"error": exc.error, "error_description": exc.description}
        return web.json_response(error, status=exc.status, headers=headers)
    return web.json_response(body, headers=headers)


def add_routes(app: web.Application, server: OAuth2Server) -> None:
    app[SERVER_KEY] = server
    app.router.add_get(AUTHORIZE_PATH, authorize)
    app.router.add_post(TOKEN_PATH, token)
