"""Accounts: which credentials an item is uploaded with.

A manifest item may name an ``account`` (:attr:`bulkup.core.items.Item.account`); its
credentials are the config file's ``[accounts.NAME]`` table, which takes exactly the
keys of ``[auth]`` (each secret by reference, checked the same way)::

    [accounts.brand-eu]
    token_file = "~/.config/bulkup/brand-eu.json"   # from `bulkup auth login`
    client_id = "…"

    [accounts.support]
    api_key = { env = "SUPPORT_API_KEY" }           # OAuth 1.0a, the four keys
    …

An item naming no account uses the run's own credentials: the ``X_*`` environment, else
``[auth]``, as always. :meth:`Accounts.auth_for` gives one :class:`Auth` per account
and process (so a process refreshes an account's OAuth 2.0 tokens once for all its
requests); with :class:`bulkup.fleet.tokens.SharedTokens`, workers of several
processes share an account's rotating OAuth 2.0 tokens through Redis.

A worker builds its :class:`Accounts` with a Redis client (``redis``) and the
``[fleet] token_key`` reference: then each account whose OAuth 2.0 tokens renew
themselves shares them with the other workers (:mod:`bulkup.fleet.tokens`), and the
token key must be set (a clear error says so when it is not).

``bulkup upload`` uploads one account per run (``--account NAME``, or the run's own
credentials): :func:`for_one_account` fails the items naming another, saying how they
are uploaded, so an item is never sent with the wrong account's credentials.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from bulkup.auth.config import AuthSettings, SecretRef, build_auth
from bulkup.auth.credentials import Auth
from bulkup.auth.oauth2 import OAuth2Auth
from bulkup.core.items import Item, SourceProblem
from bulkup.errors import ConfigError

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from bulkup.fleet.keys import Keys
    from bulkup.fleet.tokens import SharedTokens

__all__ = ["DEFAULT_ACCOUNT", "Accounts", "UnknownAccount", "for_one_account", "other_account"]

#: The name the run's own credentials (``[auth]``, the environment) share tokens under:
#: not a valid account name, so no ``[accounts.NAME]`` can take it.
DEFAULT_ACCOUNT = "@auth"


class UnknownAccount(ConfigError):
    """An account name that no ``[accounts.NAME]`` table of the config file defines."""


class Accounts:
    """The credentials of every account the config file names, built when first asked."""

    def __init__(
        self,
        default: AuthSettings,
        accounts: Mapping[str, AuthSettings],
        *,
        config_file: Path | None = None,
        environ: Mapping[str, str] | None = None,
        redis: aioredis.Redis | None = None,
        token_key: SecretRef | None = None,
        keys: Keys | None = None,
    ) -> None:
        self._default = default
        self._tables = dict(accounts)
        self.config_file = config_file
        self._env = os.environ if environ is None else environ
        #: Where renewing OAuth 2.0 tokens are shared (None: this process keeps its own).
        self._redis = redis
        self._token_key = token_key
        self._keys = keys
        self._tokens: SharedTokens | None = None
        self._built: dict[str | None, Auth] = {}

    @property
    def names(self) -> tuple[str, ...]:
        """The accounts of the config file, sorted."""
        return tuple(sorted(self._tables))

    def auth_for(self, account: str | None) -> Auth:
        """The credentials of ``account`` (None: the run's own), the same object each
        time; :class:`UnknownAccount` if no table names it, a ConfigError for a table
        whose credentials are incomplete."""
        if account not in self._built:
            auth = self._build(account)
            if self._redis is not None and isinstance(auth, OAuth2Auth) and auth.can_refresh:
                self._shared().share(auth, account or DEFAULT_ACCOUNT)
            self._built[account] = auth
        return self._built[account]

    def _shared(self) -> SharedTokens:
        """The tokens shared in Redis (made when an account first needs them)."""
        if self._tokens is None:
            from bulkup.fleet.tokens import SharedTokens, token_key

            assert self._redis is not None
            fernet = token_key(self._token_key, self._env)
            self._tokens = SharedTokens(self._redis, fernet, keys=self._keys)
        return self._tokens

    def _build(self, account: str | None) -> Auth:
        if account is None:
            return build_auth(self._default, self._env)
        table = self._tables.get(account)
        if table is None:
            raise UnknownAccount(self._unknown(account))
        return build_auth(table, self._env, use_env=False)

    def _unknown(self, account: str) -> str:
        where = self.config_file or "the config file (--config or $BULKUP_CONFIG)"
        known = f" (it has {', '.join(self.names)})" if self._tables else " (it has none)"
        return (
            f"no account {account!r} in {where}{known}: add an [accounts.{account}] "
            "table with its credentials, the same keys as [auth]"
        )


def other_account(item: Item, run_account: str | None) -> SourceProblem:
    """An item naming an account another than the run's, failed with the way to upload it."""
    how = f"run `bulkup upload --account {item.account}`"
    return SourceProblem(
        id=item.id,
        path=str(item.path),
        source=item.source,
        kind="other_account",
        message=(
            f"account {item.account!r} is uploaded by `bulkup worker`, or {how}; this run "
            f"uploads for {_run_name(run_account)} and sent nothing for this item"
        ),
        account=item.account,
    )


def _run_name(account: str | None) -> str:
    if account is None:
        return "its own credentials ([auth] or the X_* environment)"
    return f"account {account!r}"


def for_one_account(
    entries: Iterable[Item | SourceProblem], account: str | None
) -> Iterator[Item | SourceProblem]:
    """``entries``, with each item that names an account other than ``account`` failed."""
    for entry in entries:
        if isinstance(entry, Item) and entry.account not in (None, account):
            yield other_account(entry, account)
        else:
            yield entry
