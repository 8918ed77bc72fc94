"""OAuth 2.0 user tokens: refresh on expiry, and the login that obtains them.

- :class:`OAuth2Client` names the app (client id, and secret for a confidential
  client) and the token and authorize URLs.
- :class:`TokenStore` is where the tokens came from and go back to: a JSON file
  (``bulkup auth login`` writes it, mode 0600) or the environment (cannot be written:
  a refresh there lives only in this process).
- :class:`OAuth2Auth` signs requests with the access token (it is a
  :class:`bulkup.auth.credentials.Auth`). Before each request the transport asks
  :meth:`OAuth2Auth.fresh_token`, which renews a token that expires within
  :data:`REFRESH_BEFORE_EXPIRY` seconds; and when the API answers 401 anyway, it
  calls :meth:`OAuth2Auth.refresh`. Either way one refresh serves however many
  requests need it, the new tokens are saved through the store, and a refused
  request is sent once more.
- :func:`login_pkce` runs the authorization code flow with PKCE (RFC 7636, S256)
  with a loopback redirect and saves the tokens. X accepts only a ``redirect_uri``
  registered on the app, character for character (not RFC 8252's any-port rule), so
  the redirect URI is fixed: :data:`DEFAULT_REDIRECT_URI` unless told otherwise.
- :func:`default_token_url`: X's token URL for X's API, none for another server.

authlib builds the authorize URL, the token request bodies, client authentication and
the PKCE challenge; the HTTP is aiohttp. X rotates refresh tokens: each works once.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import inspect
import json
import math
import socket
import sys
import webbrowser
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import anyio
from authlib.common.security import generate_token
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749 import OAuth2Token
from authlib.oauth2.rfc6749.errors import MismatchingStateException, MissingCodeException
from authlib.oauth2.rfc6749.parameters import (
    parse_authorization_code_response,
    prepare_grant_uri,
    prepare_token_request,
)
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from bulkup import logs, redact
from bulkup.auth.tokenstore import TokenStore
from bulkup.core.clock import Clock, OffsetClock
from bulkup.errors import (
    ConfigError,
    LoginFailed,
    ServerError,
    TokenRefused,
    TransportError,
    UploadError,
)

if TYPE_CHECKING:
    from aiohttp import web

__all__ = [
    "DEFAULT_REDIRECT_URI",
    "DEFAULT_SCOPE",
    "REFRESH_BEFORE_EXPIRY",
    "X_AUTHORIZE_URL",
    "X_TOKEN_URL",
    "OAuth2Auth",
    "OAuth2Client",
    "TokenStore",
    "default_authorize_url",
    "default_token_url",
    "login_pkce",
    "loopback_address",
    "print_and_open",
    "print_url",
    "redirect_uri_for",
    "request_token",
]

DEFAULT_SCOPE = "media.write offline.access"
#: X's endpoints; the emulator serves the same paths.
X_AUTHORIZE_URL = "https://x.com/i/oauth2/authorize"
X_TOKEN_URL = "https://api.x.com/2/oauth2/token"
#: Hosts of X's API: an endpoint on one of them (or none given) uses X's OAuth 2.0 URLs.
X_API_HOSTS = frozenset({"api.x.com", "api.twitter.com", "upload.x.com", "upload.twitter.com"})
CALLBACK_PATH = "/callback"
DEFAULT_REDIRECT_PORT = 8976
#: The callback to register on the app for ``bulkup auth login``.
DEFAULT_REDIRECT_URI = f"http://127.0.0.1:{DEFAULT_REDIRECT_PORT}{CALLBACK_PATH}"
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
#: An access token with a known expiry is renewed this many seconds before it (or
#: after half its lifetime, for a token that lives less than twice this long).
REFRESH_BEFORE_EXPIRY = 60.0
#: A token request that takes longer than this failed (it is retried like any request).
TOKEN_TIMEOUT = 30.0
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True, kw_only=True)
class OAuth2Client:
    """An OAuth 2.0 app: public (PKCE alone) or confidential (with ``client_secret``)."""

    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    token_url: str
    authorize_url: str | None = None
    scope: str = DEFAULT_SCOPE

    def __post_init__(self) -> None:
        if not self.client_id.strip():
            raise ConfigError("OAuth 2.0: the client id is empty")
        for name in ("token_url", "authorize_url"):
            url = getattr(self, name)
            if url is not None and not url.startswith(("https://", "http://")):
                raise ConfigError(f"OAuth 2.0: {name} must be an http(s) URL, got {url!r}")


def _is_x_api(endpoint: str | None) -> bool:
    return endpoint is None or urlsplit(endpoint).hostname in X_API_HOSTS


def default_token_url(endpoint: str | None) -> str | None:
    """X's token URL when ``endpoint`` is X's API (None: the default host), else None.

    Another server (the emulator, a proxy) has its own token URL: the user names it.
    """
    return X_TOKEN_URL if _is_x_api(endpoint) else None


def default_authorize_url(endpoint: str | None) -> str | None:
    """X's authorize URL when ``endpoint`` is X's API (None: the default host), else None."""
    return X_AUTHORIZE_URL if _is_x_api(endpoint) else None


class OAuth2Auth:
    """A user access token, renewed shortly before it expires or when the API answers 401.

    :attr:`account` identifies the client and where the tokens live (the token file's
    absolute path, or the environment), never a token: X's tokens carry no user id,
    and a refresh replaces both tokens, so a checkpoint written before a refresh
    must still match after it. Logging in again into the same file keeps it.

    ``clock`` tells when a token is due for renewal; a renewed token's ``expires_at``
    is counted on it too.
    """

    def __init__(
        self, *, store: TokenStore, client: OAuth2Client | None = None, clock: Clock | None = None
    ) -> None:
        self.store = store
        self.client = client
        self._clock = clock or OffsetClock()  # the host's clock
        self._token = store.load()
        redact.register(self.secrets())  # masked in every output from now on
        self._lock = anyio.Lock()
        self._refused: TokenRefused | None = None
        self._warned = False
        #: Lifetime of the current token, when this process obtained it.
        self._lifetime: float | None = None
        #: An access token whose early renewal failed for a passing reason: it is
        #: used until the API refuses it (then the 401 path renews it).
        self._early_failed: str | None = None
        client_id = client.client_id if client else ""
        digest = hashlib.sha256(f"{client_id}\0{store.identity}".encode()).hexdigest()
        self._account = "oauth2:" + digest[:16]

    @property
    def account(self) -> str:
        return self._account

    @property
    def access_token(self) -> str:
        return str(self._token["access_token"])

    @property
    def can_refresh(self) -> bool:
        return self.client is not None and bool(self._token.get("refresh_token"))

    def header(self, method: str, url: str, form: Mapping[str, str] | None) -> str:
        return f"Bearer {self._token['access_token']}"

    def secrets(self) -> tuple[str, ...]:
        """The access and refresh tokens and the client secret, for the log redactor."""
        found = (self._token.get("access_token"), self._token.get("refresh_token"))
        secret = self.client.client_secret if self.client else None
        return tuple(str(s) for s in (*found, secret) if s)

    def __repr__(self) -> str:
        return f"OAuth2Auth(client={self.client!r}, store={self.store!r}, token=***)"

    @property
    def due(self) -> bool:
        """The token expires within the margin and can be renewed (no renewal failed)."""
        expires_at = self._token.get("expires_at")
        if not isinstance(expires_at, int | float) or isinstance(expires_at, bool):
            return False
        if not self.can_refresh or self._early_failed == self.access_token:
            return False
        margin = REFRESH_BEFORE_EXPIRY
        if self._lifetime is not None:  # a token living under 2 min: not one refresh per request
            margin = min(margin, self._lifetime / 2)
        return self._clock.now() >= expires_at - margin

    async def fresh_token(self, http: aiohttp.ClientSession) -> str:
        """The access token to send now, renewed first if it is :attr:`due`.

        Requests that find it due together share one refresh. If the token endpoint
        refuses (:class:`~bulkup.errors.TokenRefused`), that is raised as for a 401;
        if it fails for a passing reason (5xx, network), the current token is used
        until it runs out, and the 401 path renews it then.
        """
        due = self.access_token
        if self.due:
            async with self._lock:
                if self._refused is not None:
                    raise self._refused
                if due == self.access_token:  # else renewed meanwhile, for another request
                    await self._renew_early(http)
        return self.access_token

    async def _renew_early(self, http: aiohttp.ClientSession) -> None:
        token = self.access_token
        try:
            await self._renew(http)
        except (ServerError, TransportError) as exc:
            self._early_failed = token
            logs.event(
                "warning",
                "oauth2_early_refresh_failed",
                error=str(exc),
                hint="the token is used until it expires, and renewed then",
            )

    async def prepare(self, http: aiohttp.ClientSession) -> str | None:
        """The transport's hook before a request: :meth:`fresh_token`."""
        return await self.fresh_token(http)

    async def renew(self, http: aiohttp.ClientSession, sent: str) -> bool:
        """The transport's hook after a 401: :meth:`refresh` the token ``sent``."""
        return await self.refresh(http, failed_token=sent)

    async def refresh(self, http: aiohttp.ClientSession, *, failed_token: str) -> bool:
        """Refresh the token ``failed_token`` was refused for; False if impossible.

        Requests refused together share one refresh: whoever comes after it finds a
        token other than the one that failed and just tries again.
        """
        async with self._lock:
            if self._refused is not None:
                raise self._refused
            if failed_token != self.access_token:
                return True  # refreshed meanwhile, for another request
            if not self.can_refresh:
                self._cannot_refresh()
                return False
            await self._renew(http)
            return True

    async def _renew(self, http: aiohttp.ClientSession) -> None:
        """Exchange the refresh token and save the new tokens; the lock is held.

        A store shared between processes may hold newer tokens another process
        obtained: those are used instead (:meth:`TokenStore.refreshing`). The exchange
        and the save are shielded from cancellation: the server has already
        invalidated the old refresh token once it answers.
        """
        assert self.client is not None
        async with self.store.refreshing(self._token) as newer:
            with anyio.CancelScope(shield=True):
                if newer is not None:
                    self._token, self._lifetime = OAuth2Token(dict(newer)), None
                    redact.register(self.secrets())
                    logs.event("info", "oauth2_shared_tokens", expires_at=newer.get("expires_at"))
                    return
                try:
                    token = await self._exchange(http, self.client)
                except TokenRefused as exc:
                    self._refused = exc
                    raise
                self._token = token
                redact.register(self.secrets())
                self._save(token)
        logs.event("info", "oauth2_refreshed", expires_at=token.get("expires_at"))

    async def _exchange(self, http: aiohttp.ClientSession, client: OAuth2Client) -> OAuth2Token:
        old_refresh = str(self._token["refresh_token"])
        params = {"refresh_token": old_refresh}
        try:
            token = await request_token(http, client, "refresh_token", params)
        except _Refused as exc:
            fix = self.store.relogin_hint()
            if exc.error == "invalid_client":
                fix = "check the client id and secret (X_CLIENT_ID, X_CLIENT_SECRET)"
            raise TokenRefused(
                f"the token endpoint refused to refresh the access token ({exc}); {fix}",
                http_status=exc.status,
                error=exc.error,
            ) from None
        if not token.get("refresh_token"):
            token["refresh_token"] = old_refresh  # a server that does not rotate
        self._lifetime = _seconds(token.get("expires_in"))
        if self._lifetime is not None:
            token["expires_at"] = int(self._clock.now() + self._lifetime)  # on our clock
        return token

    def _save(self, token: OAuth2Token) -> None:
        try:
            self.store.save(token)
        except OSError as exc:
            logs.event(
                "error",
                "oauth2_token_not_saved",
                where=str(self.store),
                error=exc.strerror or str(exc),
                hint="the refreshed tokens live only in this process; run `bulkup auth login`",
            )

    def _cannot_refresh(self) -> None:
        if not self._warned:
            self._warned = True
            missing = "client id and token URL" if self.client is None else "refresh token"
            logs.event(
                "warning",
                "oauth2_cannot_refresh",
                reason=f"the access token was refused and there is no {missing} to renew it",
                hint=self.store.relogin_hint(),
            )


class _Refused(Exception):
    """The token endpoint answered with an RFC 6749 §5.2 error."""

    def __init__(self, status: int, error: str | None, description: str) -> None:
        words = ": ".join(w for w in (error, description) if w)
        super().__init__(f"HTTP {status}: {words or 'no reason given'}")
        self.status = status
        self.error = error


async def request_token(
    http: aiohttp.ClientSession, client: OAuth2Client, grant_type: str, params: Mapping[str, str]
) -> OAuth2Token:
    """POST a token request (client authentication by authlib) and parse the answer."""
    body = prepare_token_request(grant_type, **params)
    method = "client_secret_basic" if client.client_secret else "none"
    auth = ClientAuth(client.client_id, client.client_secret, method)
    headers = {"Content-Type": FORM, "Accept": "application/json"}
    url, headers, body = auth.prepare("POST", client.token_url, headers, body)
    timeout = aiohttp.ClientTimeout(total=TOKEN_TIMEOUT)
    try:
        async with http.post(url, data=body.encode(), headers=headers, timeout=timeout) as resp:
            status, raw = resp.status, await resp.read()
    except TimeoutError as exc:
        raise TransportError(f"token endpoint: no answer within {TOKEN_TIMEOUT:g} s") from exc
    except aiohttp.ClientError as exc:
        raise TransportError(f"token endpoint: {type(exc).__name__}: {exc}") from exc
    return _parse_token(status, raw)


def _parse_token(status: int, raw: bytes) -> OAuth2Token:
    try:
        data = json.loads(raw) if raw.strip() else None
    except ValueError:
        data = None
    if status >= 500:
        raise ServerError(f"token endpoint: HTTP {status}", http_status=status)
    if not isinstance(data, dict):
        raise _Refused(status, None, "the answer is not a JSON object")
    if status != 200 or "error" in data:
        raise _Refused(status, _str(data.get("error")), _str(data.get("error_description")) or "")
    if not isinstance(data.get("access_token"), str):
        raise _Refused(status, None, "the answer has no access_token")
    return OAuth2Token(data)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _seconds(value: object) -> float | None:
    """``expires_in`` as a positive number of seconds, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 < seconds < math.inf else None


# --- login: authorization code with PKCE ---------------------------------------------
_DONE_PAGE = (
    "<!doctype html><title>bulkup</title><p>bulkup has your authorization: "
    "you can close this window.</p>"
)


def print_url(url: str) -> None:
    """Show the authorize URL for a person to open (``--no-browser``)."""
    print(f"Open this URL in a browser to authorize bulkup:\n  {url}", file=sys.stderr)
    print("Waiting for the authorization…", file=sys.stderr, flush=True)


def print_and_open(url: str) -> None:
    """The default ``open_browser``: print the URL, then try the system browser."""
    print_url(url)
    webbrowser.open(url)


async def login_pkce(
    client: OAuth2Client,
    *,
    store: TokenStore,
    open_browser: Callable[[str], object] | None = None,
    redirect_uri: str = DEFAULT_REDIRECT_URI,
    timeout: float,  # noqa: ASYNC109 - a person's time to log in, not a request's
    http: aiohttp.ClientSession | None = None,
) -> OAuth2Token:
    """Log in with the authorization code flow and PKCE; save and return the tokens.

    Listens on ``redirect_uri``'s host, port and path (see :func:`loopback_address`;
    it must be a callback registered on the app, as X compares them exactly), hands
    the authorize URL (S256 challenge, random ``state``) to ``open_browser`` (its
    result is awaited if awaitable), waits up to ``timeout`` seconds for the redirect,
    checks ``state``, and exchanges the code and verifier at the token URL.
    Raises :class:`~bulkup.errors.LoginFailed` (``error="cannot_listen"`` if the port
    is taken), or :class:`~bulkup.errors.ConfigError` for a ``redirect_uri`` that is
    not a loopback ``http`` URI.
    """
    if client.authorize_url is None:
        raise ConfigError("OAuth 2.0 login needs the authorize URL")
    verifier = generate_token(64)  # 43..128 characters of [A-Za-z0-9] (RFC 7636 §4.1)
    state = generate_token(32)
    async with _Callback(redirect_uri) as callback, contextlib.AsyncExitStack() as stack:
        url = prepare_grant_uri(
            client.authorize_url,
            client.client_id,
            "code",
            redirect_uri=callback.redirect_uri,
            scope=client.scope,
            state=state,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
        try:
            with anyio.fail_after(timeout):
                opened = (open_browser or print_and_open)(url)
                if inspect.isawaitable(opened):
                    await opened
                redirected = await callback.url()
        except TimeoutError:
            raise LoginFailed(f"no authorization arrived within {timeout:g} s") from None
        code = _code_of(redirected, state)
        if http is None:
            http = await stack.enter_async_context(aiohttp.ClientSession())
        params = {"code": code, "code_verifier": verifier, "client_id": client.client_id}
        try:
            token = await request_token(
                http,
                client,
                "authorization_code",
                {**params, "redirect_uri": callback.redirect_uri},
            )
        except (_Refused, UploadError) as exc:
            raise LoginFailed(f"the token endpoint refused the code: {exc}") from None
    store.save(token)
    return token


def _code_of(redirected: str, state: str) -> str:
    """The code in the redirect, once ``state`` is checked; else :class:`LoginFailed`."""
    query = dict(parse_qsl(urlsplit(redirected).query))
    if "error" in query:
        detail = query.get("error_description", "")
        raise LoginFailed(
            f"authorization refused: {query['error']}" + (f" ({detail})" if detail else ""),
            error=query["error"],
        )
    try:
        params = parse_authorization_code_response(redirected, state)
    except MismatchingStateException:
        raise LoginFailed(
            "the redirect's state does not match this login: it came from another "
            "authorization request (possible CSRF); nothing was saved",
            error="state_mismatch",
        ) from None
    except MissingCodeException:
        raise LoginFailed("the redirect carries no authorization code") from None
    return str(params["code"])


def redirect_uri_for(port: int = DEFAULT_REDIRECT_PORT) -> str:
    """The default redirect URI with another port."""
    return f"http://127.0.0.1:{port}{CALLBACK_PATH}"


def loopback_address(redirect_uri: str) -> tuple[str, int, str]:
    """The host, port and path a login listens on for ``redirect_uri``.

    It must be ``http`` to a loopback host (``127.0.0.1``, ``[::1]`` or ``localhost``,
    which listens on 127.0.0.1), without a fragment; no port means 80, and port 0 any
    free port (only for a server that allows any loopback port, RFC 8252 §7.3: X
    does not). Else :class:`~bulkup.errors.ConfigError`.
    """
    try:
        parts = urlsplit(redirect_uri)
        port = parts.port
    except ValueError:  # a port that is not a number or out of range, a broken [::1]
        parts, port = urlsplit(""), None
    host = parts.hostname
    if parts.scheme != "http" or host not in LOOPBACK_HOSTS or parts.fragment:
        raise ConfigError(
            "the redirect URI must be http:// to 127.0.0.1, [::1] or localhost (a port "
            f"on this machine), e.g. {DEFAULT_REDIRECT_URI}; got {redirect_uri!r}"
        )
    assert host is not None
    return host, 80 if port is None else port, parts.path or "/"


class _Callback:
    """The loopback server that receives the authorization redirect."""

    def __init__(self, redirect_uri: str) -> None:
        host, port, path = loopback_address(redirect_uri)
        bind = "127.0.0.1" if host == "localhost" else host
        family = socket.AF_INET6 if ":" in bind else socket.AF_INET
        try:
            self._sock = socket.create_server((bind, port), family=family)
        except OSError as exc:
            why = exc.strerror or str(exc)
            if exc.errno == errno.EADDRINUSE:
                why += ": another program, or another login, is using it"
            raise LoginFailed(
                f"cannot listen on {bind} port {port} for the redirect to {redirect_uri} ({why})",
                error="cannot_listen",
            ) from None
        self._sock.setblocking(False)
        self.redirect_uri = redirect_uri
        if port == 0:  # any free port: the URI names the one bound
            shown = f"[{host}]" if ":" in host else host
            bound = self._sock.getsockname()[1]
            self.redirect_uri = urlsplit(redirect_uri)._replace(netloc=f"{shown}:{bound}").geturl()
        self._received = anyio.Event()
        self._url = ""
        from aiohttp import web  # only a login serves: uploads start without aiohttp.web

        self._site = web.SockSite
        app = web.Application()
        app.router.add_get(path, self._on_redirect)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)

    async def __aenter__(self) -> _Callback:
        try:
            await self._runner.setup()
            await self._site(self._runner, self._sock).start()
        except BaseException:
            await self._runner.cleanup()
            self._sock.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        with anyio.CancelScope(shield=True):
            await self._runner.cleanup()
        self._sock.close()

    async def _on_redirect(self, request: web.Request) -> web.Response:
        if not self._received.is_set():  # the first redirect counts
            self._url = str(request.url)
            self._received.set()
        from aiohttp import web

        return web.Response(text=_DONE_PAGE, content_type="text/html")

    async def url(self) -> str:
        await self._received.wait()
        return self._url
