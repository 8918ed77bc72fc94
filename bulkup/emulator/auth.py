"""Authenticating requests as the real upload API does.

- OAuth 1.0a (HMAC-SHA1), both dialects: the signature is checked over the URL the
  client addressed, by RFC 5849, with the timestamp window and nonce replay checks of
  :mod:`bulkup.auth.oauth1`. Multipart requests may also be signed over the ``oauth_*``
  parameters alone (what the v1.1 guide tells clients to do).
- OAuth 2.0 bearer tokens, v2 only: a user token needs the ``media.write`` scope; an
  application-only token is refused with 403, as on the real API. User tokens are
  the profile's ``bearer_tokens`` (they never expire) and those the emulator's token
  endpoint issued (:mod:`bulkup.emulator.oauth2`; refused with 401 once expired).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

from bulkup.auth import oauth1
from bulkup.emulator import errors
from bulkup.emulator.config import MEDIA_WRITE_SCOPE, EmulatorConfig, User
from bulkup.emulator.errors import ApiError
from bulkup.emulator.oauth2 import Grant
from bulkup.emulator.params import FORM, MULTIPART

_OAUTH_FAILURES = {
    oauth1.VerifyResult.STALE_TIMESTAMP: errors.STALE_TIMESTAMP,
    oauth1.VerifyResult.MISSING_PARAMS: errors.BAD_AUTH_DATA,
    oauth1.VerifyResult.UNSUPPORTED_METHOD: errors.BAD_AUTH_DATA,
}


class Authenticator:
    """Maps a request's ``Authorization`` header to a configured :class:`User`."""

    def __init__(
        self,
        config: EmulatorConfig,
        users: tuple[User, ...],
        issued: Callable[[str], Grant | None] = lambda token: None,
    ) -> None:
        self._issued = issued
        self._window = config.timestamp_window_secs
        self._app_tokens = frozenset(config.app_bearer_tokens)
        self._bearer: dict[str, User] = {t: u for u in users for t in u.bearer_tokens}
        self._oauth: dict[tuple[str, str], User] = {
            (u.consumer_key, u.access_token): u for u in users if u.consumer_key
        }
        self._consumers = frozenset(u.consumer_key for u in users if u.consumer_key)
        self._nonces = oauth1.NonceCache(self._window)

    async def authenticate(self, request: web.Request, dialect: str) -> User:
        header = request.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer":
            return self._bearer_user(credentials.strip(), dialect)
        if scheme.lower() == "oauth":
            return await self._oauth_user(request, header)
        raise ApiError(errors.BAD_AUTH_DATA if dialect == "v1.1" else errors.UNAUTHORIZED)

    def _bearer_user(self, token: str, dialect: str) -> User:
        if token in self._app_tokens:
            raise ApiError(
                errors.FORBIDDEN_APP_ONLY,
                "Authenticating with OAuth 2.0 Application-Only is forbidden for this "
                "endpoint.  Supported authentication types are [OAuth 1.0a User Context, "
                "OAuth 2.0 User Context].",
            )
        user = self._bearer.get(token)
        scopes = user.scopes if user is not None else ()
        grant = self._issued(token) if user is None else None
        if grant is not None:
            user, scopes = grant.user, grant.scopes
        if user is None:
            raise ApiError(errors.UNAUTHORIZED)
        if dialect == "v1.1":
            raise ApiError(errors.FORBIDDEN_APP_ONLY, "v1.1 media upload requires OAuth 1.0a.")
        if MEDIA_WRITE_SCOPE not in scopes:
            raise ApiError(errors.FORBIDDEN_SCOPE, "The token lacks the media.write scope.")
        return user

    async def _oauth_user(self, request: web.Request, header: str) -> User:
        try:
            oauth_params = oauth1.parse_authorization(header)
        except oauth1.AuthorizationError:
            raise ApiError(errors.BAD_AUTH_DATA) from None
        form: list[tuple[str, str]] | None = None
        if request.content_type == FORM:
            posted = await request.post()
            form = [(k, v) for k, v in posted.items() if isinstance(v, str)]
        url = str(request.url.with_query(None))
        result = oauth1.verify(
            request.method,
            url,
            oauth_params,
            query=list(request.rel_url.query.items()),
            form=form,
            lookup=self._lookup,
            consumers=self._consumers,
            nonces=self._nonces,
            now=time.time(),  # clients sign with the host's clock, not the emulated one
            window_secs=self._window,
            multipart=request.content_type == MULTIPART,
        )
        if result is not oauth1.VerifyResult.OK:
            raise ApiError(_OAUTH_FAILURES.get(result, errors.UNAUTHORIZED))
        return self._oauth[(oauth_params["oauth_consumer_key"], oauth_params["oauth_token"])]

    def _lookup(self, consumer_key: str, token: str) -> tuple[str, str] | None:
        user = self._oauth.get((consumer_key, token))
        if user is None:
            return None
        return user.consumer_secret, user.access_token_secret
