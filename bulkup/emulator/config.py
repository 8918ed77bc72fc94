"""Emulator settings: users, OAuth 2.0 clients, lifetimes, limits, network, faults, answers.

A profile is a TOML file (see ``configs/emulator-*.toml``) read by
:meth:`EmulatorConfig.from_toml`; every section and key is optional and falls back
to the defaults below, which follow ``shared/spec/x-media-upload.md``. All settings
are frozen dataclasses validated on construction, so a bad profile fails at start
with a message naming the key, never halfway through a test.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkup.emulator.sections import DEFAULT_CHECK_AFTER_SECS as DEFAULT_CHECK_AFTER_SECS
from bulkup.emulator.sections import DEFAULT_MEDIA_EXPIRY_SECS as DEFAULT_MEDIA_EXPIRY_SECS
from bulkup.emulator.sections import DEFAULT_PROCESSING_SECS as DEFAULT_PROCESSING_SECS
from bulkup.emulator.sections import DEFAULT_UPLOAD_EXPIRY_SECS as DEFAULT_UPLOAD_EXPIRY_SECS
from bulkup.emulator.sections import Answers as Answers
from bulkup.emulator.sections import ConfigError as ConfigError
from bulkup.emulator.sections import Faults as Faults
from bulkup.emulator.sections import Lifetimes as Lifetimes
from bulkup.emulator.sections import Network as Network
from bulkup.emulator.sections import RateLimits as RateLimits
from bulkup.emulator.sections import Storage as Storage
from bulkup.emulator.sections import _check_non_negative

DEFAULT_TIMESTAMP_WINDOW_SECS = 300.0

MEDIA_WRITE_SCOPE = "media.write"
#: X's access token lifetime (the token endpoint's ``expires_in``).
DEFAULT_ACCESS_TOKEN_SECS = 7200
#: X's authorization codes are valid for 30 seconds.
DEFAULT_CODE_SECS = 30


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """An account the emulator accepts, with its OAuth 1.0a and OAuth 2.0 credentials."""

    id: str
    screen_name: str = "user"
    consumer_key: str = ""
    consumer_secret: str = field(default="", repr=False)
    access_token: str = field(default="", repr=False)
    access_token_secret: str = field(default="", repr=False)
    #: OAuth 2.0 user access tokens (authorization code flow).
    bearer_tokens: tuple[str, ...] = field(default=(), repr=False)
    scopes: tuple[str, ...] = ("tweet.read", "users.read", MEDIA_WRITE_SCOPE, "offline.access")

    def __post_init__(self) -> None:
        if not self.id.isdigit():
            raise ConfigError(f"user id must be a numeric string, got {self.id!r}")
        if bool(self.consumer_key) != bool(self.consumer_secret):
            raise ConfigError(f"user {self.id}: set both consumer_key and consumer_secret")
        if bool(self.access_token) != bool(self.access_token_secret):
            raise ConfigError(f"user {self.id}: set both access_token and access_token_secret")


DEMO_USER = User(
    id="1000000000000000001",
    screen_name="bulkup_demo",
    consumer_key="bulkup-demo-consumer-key",
    consumer_secret="bulkup-demo-consumer-secret",
    access_token="1000000000000000001-bulkupdemoaccesstoken",
    access_token_secret="bulkup-demo-access-token-secret",
    bearer_tokens=("bulkup-demo-user-bearer-token",),
)
#: An application-only bearer token: accepted as a valid token but, as on the real
#: API, refused with 403 by the media endpoints.
DEMO_APP_BEARER = "bulkup-demo-app-only-bearer-token"


#: The callback ``bulkup auth login`` uses unless told otherwise; every client
#: registers it unless its ``redirect_uris`` say otherwise.
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8976/callback"


@dataclass(frozen=True, slots=True, kw_only=True)
class OAuth2App:
    """An OAuth 2.0 client (an app) that may obtain user tokens from the emulator.

    A public client has no secret and authenticates by PKCE alone; a confidential one
    also sends HTTP Basic ``client_id:client_secret`` to the token endpoint. Tokens
    are issued for ``user_id`` (empty: the first user the emulator accepts).
    ``redirect_uris`` are the app's registered callback URLs, as on X's developer
    console: the authorize endpoint redirects only to one of them, compared character
    for character (default: :data:`DEFAULT_REDIRECT_URI`, bulkup's own default).
    """

    client_id: str
    client_secret: str = field(default="", repr=False)
    user_id: str = ""
    redirect_uris: tuple[str, ...] = (DEFAULT_REDIRECT_URI,)

    def __post_init__(self) -> None:
        if not self.client_id or not self.client_id.isprintable() or ":" in self.client_id:
            raise ConfigError(f"client_id must be printable, non-empty and without ':': {self!r}")
        if self.user_id and not self.user_id.isdigit():
            raise ConfigError(f"client {self.client_id}: user_id must be a numeric string")
        uris = self.redirect_uris
        if not isinstance(uris, list | tuple) or not uris or not all(map(self.callback_url, uris)):
            raise ConfigError(
                f"client {self.client_id}: redirect_uris must list at least one callback "
                f"URL (absolute, no #fragment), e.g. [{DEFAULT_REDIRECT_URI!r}]; got {uris!r}"
            )
        object.__setattr__(self, "redirect_uris", tuple(uris))  # a TOML array is a list

    @property
    def confidential(self) -> bool:
        return bool(self.client_secret)

    @staticmethod
    def callback_url(uri: object) -> bool:
        """An absolute URL without a fragment (RFC 6749 §3.1.2), as X's console takes them."""
        from urllib.parse import urlsplit

        if not isinstance(uri, str) or not uri.isprintable() or " " in uri or "#" in uri:
            return False
        try:
            parts = urlsplit(uri)
            parts.port  # noqa: B018 - raises ValueError for a malformed port
        except ValueError:
            return False
        return bool(parts.scheme and parts.netloc)


#: The public demo client (PKCE only), as ``bulkup auth login --client-id`` takes it.
DEMO_CLIENT = OAuth2App(client_id="bulkup-demo-client-id")
#: A confidential demo client: the token endpoint wants HTTP Basic with its secret.
DEMO_CONFIDENTIAL_CLIENT = OAuth2App(
    client_id="bulkup-demo-confidential-client-id", client_secret="bulkup-demo-client-secret"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class OAuth2:
    """The authorize and token endpoints: known clients, token and code lifetimes."""

    clients: tuple[OAuth2App, ...] = (DEMO_CLIENT, DEMO_CONFIDENTIAL_CLIENT)
    access_token_secs: int = DEFAULT_ACCESS_TOKEN_SECS
    code_secs: int = DEFAULT_CODE_SECS

    def __post_init__(self) -> None:
        _check_non_negative(self, "access_token_secs", "code_secs")
        ids = [c.client_id for c in self.clients]
        if len(ids) != len(set(ids)):
            raise ConfigError("oauth2.clients: two clients share a client_id")


ENV_VARS = (
    "X_API_KEY",
    "X_API_SECRET",
    "X_ACCESS_TOKEN",
    "X_ACCESS_TOKEN_SECRET",
    "X_BEARER_TOKEN",
)


def user_from_env(environ: Mapping[str, str]) -> User | None:
    """The user described by the client's ``X_*`` variables, or None if none is set.

    Variables that are missing take the demo user's values, so exporting only
    ``X_BEARER_TOKEN`` still gives a complete account.
    """
    if not any(environ.get(name) for name in ENV_VARS):
        return None
    bearer = environ.get("X_BEARER_TOKEN")
    return dataclasses.replace(
        DEMO_USER,
        screen_name="env_user",
        consumer_key=environ.get("X_API_KEY") or DEMO_USER.consumer_key,
        consumer_secret=environ.get("X_API_SECRET") or DEMO_USER.consumer_secret,
        access_token=environ.get("X_ACCESS_TOKEN") or DEMO_USER.access_token,
        access_token_secret=environ.get("X_ACCESS_TOKEN_SECRET") or DEMO_USER.access_token_secret,
        bearer_tokens=(bearer,) if bearer else DEMO_USER.bearer_tokens,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class EmulatorConfig:
    """Everything the emulator can be told; the defaults emulate the real API."""

    users: tuple[User, ...] = ()
    app_bearer_tokens: tuple[str, ...] = (DEMO_APP_BEARER,)
    timestamp_window_secs: float = DEFAULT_TIMESTAMP_WINDOW_SECS
    lifetimes: Lifetimes = field(default_factory=Lifetimes)
    limits: RateLimits = field(default_factory=RateLimits)
    network: Network = field(default_factory=Network)
    faults: Faults = field(default_factory=Faults)
    storage: Storage = field(default_factory=Storage)
    oauth2: OAuth2 = field(default_factory=OAuth2)
    answers: Answers = field(default_factory=Answers)

    def __post_init__(self) -> None:
        ids = [u.id for u in self.users]
        if len(ids) != len(set(ids)):
            raise ConfigError("users: two users share an id")
        if not self.timestamp_window_secs > 0:
            raise ConfigError(
                f"auth.timestamp_window_secs must be > 0, got {self.timestamp_window_secs!r}"
            )
        if not all(isinstance(t, str) and t for t in self.app_bearer_tokens):
            raise ConfigError("app_bearer_tokens must be a list of non-empty strings")

    def effective_users(self, environ: Mapping[str, str] | None = None) -> tuple[User, ...]:
        """Configured users, else the ``X_*`` environment user, else the demo user."""
        if self.users:
            return self.users
        env_user = user_from_env(os.environ if environ is None else environ)
        return (env_user or DEMO_USER,)

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> EmulatorConfig:
        """Read a profile; errors name the file and the offending key."""
        path = Path(path)
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read profile: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
        try:
            return cls.from_mapping(data)
        except (TypeError, ValueError) as exc:  # ConfigError is a ValueError
            raise ConfigError(f"{path}: {exc}") from exc

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> EmulatorConfig:
        sections = {
            "lifetimes": Lifetimes,
            "limits": RateLimits,
            "network": Network,
            "faults": Faults,
            "storage": Storage,
            "answers": Answers,
        }
        known = {*sections, "users", "app_bearer_tokens", "auth", "oauth2"}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown section(s) {sorted(unknown)}; known: {sorted(known)}")
        kwargs: dict[str, Any] = {
            name: _build(section_cls, _table(data.get(name, {}), name), name)
            for name, section_cls in sections.items()
        }
        users = data.get("users", [])
        if not isinstance(users, list):
            raise ConfigError("users must be an array of tables: write [[users]], not [users]")
        kwargs["users"] = tuple(
            _build(User, _user_fields(_table(u, f"users[{i}]")), f"users[{i}]")
            for i, u in enumerate(users)
        )
        if "app_bearer_tokens" in data:
            tokens = data["app_bearer_tokens"]
            if not isinstance(tokens, list):
                raise ConfigError("app_bearer_tokens must be a list of strings")
            kwargs["app_bearer_tokens"] = tuple(tokens)
        if "oauth2" in data:
            kwargs["oauth2"] = _oauth2(_table(data["oauth2"], "oauth2"))
        auth = _table(data.get("auth", {}), "auth")
        unknown = set(auth) - {"timestamp_window_secs"}
        if unknown:
            raise ConfigError(
                f"[auth]: unknown key(s) {sorted(unknown)}; known: ['timestamp_window_secs']"
            )
        if "timestamp_window_secs" in auth:
            kwargs["timestamp_window_secs"] = float(auth["timestamp_window_secs"])
        return cls(**kwargs)


def _table(raw: object, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"[{where}] must be a table, got {type(raw).__name__} {raw!r}")
    return raw


def _oauth2(raw: Mapping[str, Any]) -> OAuth2:
    """``[oauth2]`` with its ``[[oauth2.clients]]``; listing clients replaces the demo ones."""
    fields = dict(raw)
    if "clients" in fields:
        clients = fields["clients"]
        if not isinstance(clients, list):
            raise ConfigError("oauth2.clients must be an array of tables: write [[oauth2.clients]]")
        fields["clients"] = tuple(
            _build(OAuth2App, _table(c, f"oauth2.clients[{i}]"), f"oauth2.clients[{i}]")
            for i, c in enumerate(clients)
        )
    built: OAuth2 = _build(OAuth2, fields, "oauth2")
    return built


def _user_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    fields = dict(raw)
    for key in ("bearer_tokens", "scopes"):
        if key in fields:
            fields[key] = tuple(fields[key])
    if "bearer_token" in fields:
        fields["bearer_tokens"] = (*fields.get("bearer_tokens", ()), fields.pop("bearer_token"))
    if "id" in fields:
        fields["id"] = str(fields["id"])
    return fields


def _build(cls: type[Any], raw: Mapping[str, Any], where: str) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(raw) - names
    if unknown:
        raise ConfigError(f"[{where}]: unknown key(s) {sorted(unknown)}; known: {sorted(names)}")
    try:
        return cls(**raw)
    except ConfigError as exc:
        raise ConfigError(f"[{where}]: {exc}") from exc
