"""Client credentials: OAuth 1.0a user context or an OAuth 2.0 user access token.

Read from the environment (``X_API_KEY``, ``X_API_SECRET``, ``X_ACCESS_TOKEN``,
``X_ACCESS_TOKEN_SECRET``, or ``X_BEARER_TOKEN``). Each kind produces the
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

from bulkup import oauth1
from bulkup.errors import ConfigError

OAUTH1_VARS = ("X_API_KEY", "X_API_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET")
BEARER_VAR = "X_BEARER_TOKEN"


class Auth(Protocol):
    """Something that can authorize requests."""

    @property
    def account(self) -> str: ...

    def header(self, method: str, url: str, form: Mapping[str, str] | None) -> str: ...


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True, repr=False)
class OAuth1Auth:
    """OAuth 1.0a HMAC-SHA1 user context."""

    credentials: oauth1.Credentials

    @property
    def account(self) -> str:
        return "oauth1:" + _fingerprint(self.credentials.consumer_key, self.credentials.token)

    def header(self, method: str, url: str, form: Mapping[str, str] | None) -> str:
        return oauth1.sign(method, url, self.credentials, form=form)

    def __repr__(self) -> str:
        return f"OAuth1Auth({self.credentials!r})"


@dataclass(frozen=True, slots=True, repr=False)
class BearerAuth:
    """An OAuth 2.0 user access token (scope ``media.write``)."""

    token: str = field()

    @property
    def account(self) -> str:
        return "bearer:" + _fingerprint(self.token)

    def header(self, method: str, url: str, form: Mapping[str, str] | None) -> str:
        return f"Bearer {self.token}"

    def __repr__(self) -> str:
        return "BearerAuth(token=***)"


def secrets_of(auth: Auth | None) -> tuple[str, ...]:
    """The secret strings of ``auth``, for the log redactor."""
    if isinstance(auth, OAuth1Auth):
        creds = auth.credentials
        return (creds.consumer_secret, creds.token_secret, creds.token)
    if isinstance(auth, BearerAuth):
        return (auth.token,)
    return ()


def auth_from_env(environ: Mapping[str, str] | None = None) -> Auth:
    """OAuth 1.0a if all four ``X_*`` OAuth variables are set, else ``X_BEARER_TOKEN``."""
    env = os.environ if environ is None else environ
    values = {name: env.get(name, "").strip() for name in OAUTH1_VARS}
    if all(values.values()):
        return OAuth1Auth(
            oauth1.Credentials(
                consumer_key=values["X_API_KEY"],
                consumer_secret=values["X_API_SECRET"],
                token=values["X_ACCESS_TOKEN"],
                token_secret=values["X_ACCESS_TOKEN_SECRET"],
            )
        )
    bearer = env.get(BEARER_VAR, "").strip()
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
        "with the media.write scope)."
    )
