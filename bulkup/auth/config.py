"""Credentials from the config file's ``[auth]`` table, each secret by reference.

A secret is given one of three ways::

    [auth]
    api_key = { env = "X_API_KEY" }                       # an environment variable
    api_secret = { file = "~/.config/bulkup/api_secret" } # a file (0600) holding the value
    access_token = "1234-abcd"                            # inline: the config file must be 0600

A config file that holds an inline secret, or a secret file, that others than its owner
may read (any of the mode bits ``0o077``) is refused with the ``chmod 600`` fix, like
ssh refuses a readable private key. Relative paths count from the config file's folder.

Which credentials a run uses: the ``X_*`` environment variables when any is set (the
environment beats the file), else the ``[auth]`` table, else an error saying both ways.
OAuth 2.0 tokens that renew themselves come from ``token_file`` (written by ``bulkup
auth login``, refreshed in place) or ``bearer_token`` with ``refresh_token``, each with
``client_id`` and, for a confidential client, ``client_secret``; ``token_url`` (like
``X_TOKEN_URL``) is needed only when the upload endpoint is not X's API.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bulkup.auth.credentials import (
    CREDENTIAL_VARS,
    Auth,
    BearerAuth,
    auth_from_env,
    oauth1_auth,
)
from bulkup.auth.oauth2 import OAuth2Auth, OAuth2Client, default_authorize_url, default_token_url
from bulkup.auth.tokenstore import TokenStore
from bulkup.errors import ConfigError

__all__ = ["SECRET_KEYS", "AuthSettings", "SecretRef", "build_auth", "check_private"]

#: Keys of ``[auth]`` whose values are secrets (given by reference or inline).
SECRET_KEYS = (
    "api_key",
    "api_secret",
    "access_token",
    "access_token_secret",
    "bearer_token",
    "refresh_token",
    "client_secret",
)
#: Keys of ``[auth]`` that are not secret.
PLAIN_KEYS = ("client_id", "token_url", "authorize_url", "token_file")
OAUTH1_KEYS = ("api_key", "api_secret", "access_token", "access_token_secret")
#: Mode bits that let someone other than the owner at a file.
OTHERS = 0o077


def check_private(path: Path, *, what: str, holds: tuple[str, ...] = ()) -> None:
    """Refuse ``path`` if anyone but its owner may read or write it."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & OTHERS:
        held = f" ({', '.join(holds)})" if holds else ""
        raise ConfigError(
            f"{what} {path} holds secrets{held} but others can read it (mode {mode:04o}): "
            f"run `chmod 600 {path}`, or give each secret by reference, e.g. "
            f'api_secret = {{ env = "X_API_SECRET" }}'
        )


@dataclass(frozen=True, slots=True, repr=False)
class SecretRef:
    """Where one secret comes from; its repr and :meth:`describe` never show the value."""

    key: str
    kind: Literal["env", "file", "inline"]
    #: The variable name, the file path, or the inline value.
    where: str

    def read(self, environ: Mapping[str, str]) -> str:
        if self.kind == "inline":
            return self.where
        if self.kind == "env":
            value = environ.get(self.where, "").strip()
            if not value:
                raise ConfigError(f"[auth] {self.key} names ${self.where}, which is not set")
            return value
        path = Path(self.where)
        try:
            check_private(path, what="secret file", holds=(self.key,))
            value = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise ConfigError(f"[auth] {self.key}: secret file {path} not found") from None
        except OSError as exc:
            raise ConfigError(f"[auth] {self.key}: cannot read {path}: {exc.strerror}") from None
        if not value:
            raise ConfigError(f"[auth] {self.key}: secret file {path} is empty")
        return value

    def describe(self) -> str:
        """A TOML value for ``config show``: the reference, or ``"***"`` for an inline one."""
        if self.kind == "inline":
            return '"***"'
        return f'{{ {self.kind} = "{self.where}" }}'

    def __repr__(self) -> str:
        return f"SecretRef({self.key}={self.describe()})"


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthSettings:
    """The ``[auth]`` table, checked; secrets are references until :func:`build_auth`."""

    secrets: Mapping[str, SecretRef] = field(default_factory=dict)
    plain: Mapping[str, str] = field(default_factory=dict)
    #: The upload endpoint the credentials are for (None: X's API); it decides the
    #: default token URL (:func:`bulkup.auth.oauth2.default_token_url`).
    endpoint: str | None = None

    @property
    def inline_secrets(self) -> tuple[str, ...]:
        return tuple(key for key, ref in self.secrets.items() if ref.kind == "inline")

    @property
    def empty(self) -> bool:
        return not self.secrets and not self.plain

    @classmethod
    def from_table(
        cls, table: Mapping[str, Any], path: Path | None, *, endpoint: str | None = None
    ) -> AuthSettings:
        base = path.parent if path is not None else Path.cwd()
        secrets: dict[str, SecretRef] = {}
        plain: dict[str, str] = {}
        for key, value in table.items():
            if key in SECRET_KEYS:
                secrets[key] = _reference(key, value, base, path)
            elif key in PLAIN_KEYS and isinstance(value, str) and value.strip():
                plain[key] = str(_resolve(value, base)) if key == "token_file" else value.strip()
            elif key in PLAIN_KEYS:
                raise ConfigError(f"{path} [auth] {key}: must be a non-empty string")
            else:
                raise ConfigError(
                    f"{path} [auth]: unknown key {key!r}; [auth] takes "
                    f"{', '.join(SECRET_KEYS + PLAIN_KEYS)}"
                )
        return cls(secrets=secrets, plain=plain, endpoint=endpoint)


def _resolve(text: str, base: Path) -> Path:
    candidate = Path(text.strip()).expanduser()
    return candidate if candidate.is_absolute() else base / candidate


def _reference(key: str, value: Any, base: Path, path: Path | None) -> SecretRef:
    if isinstance(value, str) and value.strip():
        return SecretRef(key, "inline", value.strip())
    if isinstance(value, dict) and len(value) == 1:
        ((kind, where),) = value.items()
        if kind == "env" and isinstance(where, str) and where.strip():
            return SecretRef(key, "env", where.strip())
        if kind == "file" and isinstance(where, str) and where.strip():
            return SecretRef(key, "file", str(_resolve(where, base)))
    raise ConfigError(
        f'{path} [auth] {key}: give the secret as {{ env = "VARIABLE" }}, '
        f'{{ file = "path/to/0600-file" }} or an inline string in a 0600 config file'
    )


def _env_has_credentials(environ: Mapping[str, str]) -> bool:
    return any(environ.get(name, "").strip() for name in CREDENTIAL_VARS)


def build_auth(settings: AuthSettings, environ: Mapping[str, str] | None = None) -> Auth:
    """The credentials of a run: the ``X_*`` environment first, else ``[auth]``."""
    env = os.environ if environ is None else environ
    if _env_has_credentials(env) or settings.empty:
        try:
            return auth_from_env(env, endpoint=settings.endpoint)
        except ConfigError as exc:
            if not settings.empty:
                raise
            raise ConfigError(f"{exc} Or put them in the config file's [auth] table.") from None
    refs = settings.secrets
    given = [key for key in OAUTH1_KEYS if key in refs]
    if given:
        missing = [key for key in OAUTH1_KEYS if key not in refs]
        if missing:
            raise ConfigError(
                f"[auth] has {', '.join(given)} but not {', '.join(missing)}: OAuth 1.0a "
                "needs all four"
            )
        return oauth1_auth(*(refs[key].read(env) for key in OAUTH1_KEYS))
    if "token_file" in settings.plain or "refresh_token" in refs:
        return _oauth2(settings, env)
    if "bearer_token" in refs:
        return BearerAuth(refs["bearer_token"].read(env))
    raise ConfigError(
        "[auth] names no usable credentials: give api_key, api_secret, access_token and "
        "access_token_secret (OAuth 1.0a), bearer_token (OAuth 2.0), or token_file with "
        "client_id (a token that renews itself; token_url too for a server other than X)"
    )


def _oauth2(settings: AuthSettings, env: Mapping[str, str]) -> OAuth2Auth:
    """A token that renews itself: from ``token_file``, or ``bearer_token`` + ``refresh_token``."""
    refs, plain = settings.secrets, settings.plain
    token_url = plain.get("token_url") or default_token_url(settings.endpoint)
    missing = [key for key in ("client_id",) if key not in plain]
    if token_url is None:
        missing.append("token_url")
    if "token_file" not in plain and "bearer_token" not in refs:
        missing.append("bearer_token")
    if missing:
        why = "" if token_url else f" ({settings.endpoint} is not X's API: no default)"
        raise ConfigError(
            f"[auth] renews OAuth 2.0 tokens but lacks {', '.join(missing)}: a token is "
            "refreshed by its client (client_id, and client_secret if confidential) at "
            f"token_url{why}"
        )
    if "token_file" in plain and "bearer_token" in refs:
        raise ConfigError("[auth] has both token_file and bearer_token: keep one")
    assert token_url is not None
    client = OAuth2Client(
        client_id=plain["client_id"],
        client_secret=refs["client_secret"].read(env) if "client_secret" in refs else None,
        token_url=token_url,
        authorize_url=plain.get("authorize_url") or default_authorize_url(settings.endpoint),
    )
    store: TokenStore
    if "token_file" in plain:
        store = TokenStore.file(plain["token_file"])
    else:
        where = tuple(refs[k].where for k in ("bearer_token", "refresh_token") if k in refs)
        store = TokenStore.memory(
            refs["bearer_token"].read(env),
            refs["refresh_token"].read(env) if "refresh_token" in refs else None,
            variables=where,
        )
    return OAuth2Auth(store=store, client=client)
