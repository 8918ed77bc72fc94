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
from bulkup.core.items import ACCOUNT_NAME, ACCOUNT_NAME_RULE
from bulkup.errors import ConfigError

__all__ = [
    "SECRET_KEYS",
    "AuthSettings",
    "SecretRef",
    "accounts_from_table",
    "build_auth",
    "check_private",
    "read_reference",
]

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
    #: The table it is in, for messages: ``auth``, ``accounts.brand``, ``fleet``.
    table: str = "auth"

    def read(self, environ: Mapping[str, str]) -> str:
        if self.kind == "inline":
            return self.where
        if self.kind == "env":
            value = environ.get(self.where, "").strip()
            if not value:
                where = f"[{self.table}] {self.key}"
                raise ConfigError(f"{where} names ${self.where}, which is not set")
            return value
        path = Path(self.where)
        try:
            check_private(path, what="secret file", holds=(self.key,))
            value = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise ConfigError(f"[{self.table}] {self.key}: secret file {path} not found") from None
        except OSError as exc:
            why = exc.strerror
            raise ConfigError(f"[{self.table}] {self.key}: cannot read {path}: {why}") from None
        if not value:
            raise ConfigError(f"[{self.table}] {self.key}: secret file {path} is empty")
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
    """The ``[auth]`` table (or an account's ``[accounts.NAME]``, which takes the same
    keys), checked; secrets are references until :func:`build_auth`."""

    secrets: Mapping[str, SecretRef] = field(default_factory=dict)
    plain: Mapping[str, str] = field(default_factory=dict)
    #: The upload endpoint the credentials are for (None: X's API); it decides the
    #: default token URL (:func:`bulkup.auth.oauth2.default_token_url`).
    endpoint: str | None = None
    #: The table's name, for messages: ``auth`` or ``accounts.NAME``.
    table: str = "auth"
    #: The config file it was read from (None: none).
    path: Path | None = None

    @property
    def inline_secrets(self) -> tuple[str, ...]:
        return tuple(key for key, ref in self.secrets.items() if ref.kind == "inline")

    @property
    def empty(self) -> bool:
        return not self.secrets and not self.plain

    @classmethod
    def from_table(
        cls,
        table: Mapping[str, Any],
        path: Path | None,
        *,
        endpoint: str | None = None,
        name: str = "auth",
    ) -> AuthSettings:
        base = path.parent if path is not None else Path.cwd()
        secrets: dict[str, SecretRef] = {}
        plain: dict[str, str] = {}
        for key, value in table.items():
            if key in SECRET_KEYS:
                secrets[key] = read_reference(key, value, base, path, table=name)
            elif key in PLAIN_KEYS and isinstance(value, str) and value.strip():
                plain[key] = str(_resolve(value, base)) if key == "token_file" else value.strip()
            elif key in PLAIN_KEYS:
                raise ConfigError(f"{path} [{name}] {key}: must be a non-empty string")
            else:
                raise ConfigError(
                    f"{path} [{name}]: unknown key {key!r}; [{name}] takes "
                    f"{', '.join(SECRET_KEYS + PLAIN_KEYS)}"
                )
        return cls(secrets=secrets, plain=plain, endpoint=endpoint, table=name, path=path)


def accounts_from_table(
    table: Any, path: Path | None, *, endpoint: str | None = None
) -> dict[str, AuthSettings]:
    """The config file's ``[accounts.NAME]`` tables, each checked like ``[auth]``."""
    if not isinstance(table, dict):
        raise ConfigError(f"config file {path}: accounts must be tables like [accounts.brand]")
    accounts: dict[str, AuthSettings] = {}
    for name, keys in table.items():
        if not ACCOUNT_NAME.fullmatch(name):
            raise ConfigError(
                f"config file {path}: [accounts.{name}]: an account name is {ACCOUNT_NAME_RULE}"
            )
        if not isinstance(keys, dict):
            raise ConfigError(
                f"config file {path}: accounts.{name} must be a table: [accounts.{name}] "
                "with the keys of [auth]"
            )
        accounts[name] = AuthSettings.from_table(
            keys, path, endpoint=endpoint, name=f"accounts.{name}"
        )
    return accounts


def _resolve(text: str, base: Path) -> Path:
    candidate = Path(text.strip()).expanduser()
    return candidate if candidate.is_absolute() else base / candidate


def read_reference(
    key: str, value: Any, base: Path, path: Path | None, *, table: str = "auth"
) -> SecretRef:
    """A secret given by reference (``{ env = … }``, ``{ file = … }``) or inline."""
    if isinstance(value, str) and value.strip():
        return SecretRef(key, "inline", value.strip(), table)
    if isinstance(value, dict) and len(value) == 1:
        ((kind, where),) = value.items()
        if kind == "env" and isinstance(where, str) and where.strip():
            return SecretRef(key, "env", where.strip(), table)
        if kind == "file" and isinstance(where, str) and where.strip():
            return SecretRef(key, "file", str(_resolve(where, base)), table)
    raise ConfigError(
        f'{path} [{table}] {key}: give the secret as {{ env = "VARIABLE" }}, '
        f'{{ file = "path/to/0600-file" }} or an inline string in a 0600 config file'
    )


def _env_has_credentials(environ: Mapping[str, str]) -> bool:
    return any(environ.get(name, "").strip() for name in CREDENTIAL_VARS)


def build_auth(
    settings: AuthSettings, environ: Mapping[str, str] | None = None, *, use_env: bool = True
) -> Auth:
    """The credentials of a run: the ``X_*`` environment first, else ``[auth]``.

    ``use_env=False`` (an account's ``[accounts.NAME]``): the table alone; the
    environment still holds the secrets its ``{ env = … }`` references name.
    """
    env = os.environ if environ is None else environ
    if use_env and (_env_has_credentials(env) or settings.empty):
        try:
            return auth_from_env(env, endpoint=settings.endpoint)
        except ConfigError as exc:
            if not settings.empty:
                raise
            raise ConfigError(f"{exc} Or put them in the config file's [auth] table.") from None
    refs, table = settings.secrets, settings.table
    given = [key for key in OAUTH1_KEYS if key in refs]
    if given:
        missing = [key for key in OAUTH1_KEYS if key not in refs]
        if missing:
            raise ConfigError(
                f"[{table}] has {', '.join(given)} but not {', '.join(missing)}: OAuth 1.0a "
                "needs all four"
            )
        return oauth1_auth(*(refs[key].read(env) for key in OAUTH1_KEYS))
    if "token_file" in settings.plain or "refresh_token" in refs:
        return _oauth2(settings, env)
    if "bearer_token" in refs:
        return BearerAuth(refs["bearer_token"].read(env))
    raise ConfigError(
        f"[{table}] names no usable credentials: give api_key, api_secret, access_token and "
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
            f"[{settings.table}] renews OAuth 2.0 tokens but lacks {', '.join(missing)}: "
            "a token is refreshed by its client (client_id, and client_secret if confidential) at "
            f"token_url{why}"
        )
    if "token_file" in plain and "bearer_token" in refs:
        raise ConfigError(f"[{settings.table}] has both token_file and bearer_token: keep one")
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
