"""OAuth 2.0 tokens shared between workers through Redis, encrypted, one refresh at a time.

X rotates refresh tokens: each works once. Workers (processes, hosts) holding the same
account's tokens must not refresh them each on its own: the second refresh would spend
a refresh token the first already used, and that account would be logged out. So:

- **One refresh at a time.** A worker about to refresh takes the account's lock,
  ``lock:token:A`` (:meth:`bulkup.fleet.keys.Keys.token_lock`), with ``SET NX PX``: a
  random value, and a lifetime (:data:`LOCK_MS`) after which the lock lapses if its
  holder died. Only its holder releases it, with a compare-and-delete script
  (:data:`RELEASE`): a holder whose lock lapsed cannot release another's.
- **Newer tokens first.** Holding the lock, the worker reads ``token:A``
  (:meth:`~bulkup.fleet.keys.Keys.token`): tokens another worker obtained since its own
  are used instead of refreshing. Else it refreshes, and writes the new tokens there
  before it lets go of the lock.
- **Encrypted.** ``token:A`` holds the tokens as JSON encrypted with Fernet (AES-128-CBC
  and HMAC-SHA256, from ``cryptography``) under a key every worker holds in its config
  (``[fleet] token_key`` or ``BULKUP_TOKEN_KEY``; ``bulkup auth fleet-key`` makes one).
  No token enters Redis in the clear; a worker with another key gets a clear error.

It plugs into :class:`bulkup.auth.oauth2.OAuth2Auth` through its token store
(:meth:`bulkup.auth.tokenstore.TokenStore.refreshing`): :meth:`SharedTokens.share`
wraps an auth's own store (its token file keeps being written too).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Final

import anyio
import redis.asyncio as aioredis
from authlib.oauth2.rfc6749 import OAuth2Token
from cryptography.fernet import Fernet, InvalidToken
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bulkup import logs
from bulkup.auth.config import SecretRef
from bulkup.auth.oauth2 import OAuth2Auth
from bulkup.auth.tokenstore import TOKEN_KEYS, TokenStore
from bulkup.errors import ConfigError, TransportError
from bulkup.fleet.keys import Keys

__all__ = [
    "KEY_VAR",
    "LOCK_MS",
    "RELEASE",
    "SharedTokenStore",
    "SharedTokens",
    "new_key",
    "token_key",
]

#: The environment variable holding the Fernet key (beats ``[fleet] token_key``).
KEY_VAR: Final = "BULKUP_TOKEN_KEY"
#: How long a refresh lock lives when its holder dies: longer than a token request
#: may take (:data:`bulkup.auth.oauth2.TOKEN_TIMEOUT`, 30 s).
LOCK_MS: Final = 45_000
#: Delete the lock only if it still holds the value its holder set.
RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
#: Polls of a taken lock: from this many seconds, doubling, up to :data:`POLL_MAX`.
POLL_MIN, POLL_MAX = 0.01, 0.25
KEY_FIX: Final = (
    f"make one with `bulkup auth fleet-key` and give the same key to every worker, as "
    f'[fleet] token_key = {{ env = "{KEY_VAR}" }} in the config file or ${KEY_VAR}'
)


def new_key() -> str:
    """A new Fernet key (URL-safe base64 of 32 random bytes), as ``bulkup auth fleet-key``
    prints it."""
    return Fernet.generate_key().decode()


def token_key(configured: SecretRef | None, environ: Mapping[str, str] | None = None) -> Fernet:
    """The Fernet of ``$BULKUP_TOKEN_KEY``, else of ``[fleet] token_key``; ConfigError if
    neither is set or the key is not a Fernet key."""
    env = os.environ if environ is None else environ
    text, where = env.get(KEY_VAR, "").strip(), f"${KEY_VAR}"
    if not text and configured is not None:
        text, where = configured.read(env), "[fleet] token_key"
    if not text:
        raise ConfigError(
            "OAuth 2.0 tokens shared between workers are encrypted with a key every worker "
            f"holds, and none is set: {KEY_FIX}"
        )
    try:
        return Fernet(text.encode())
    except ValueError:
        raise ConfigError(
            f"{where} is not a Fernet key (32 bytes in URL-safe base64, 44 characters): {KEY_FIX}"
        ) from None


class SharedTokens:
    """Accounts' OAuth 2.0 tokens in one Redis, encrypted with ``fernet``."""

    def __init__(
        self,
        db: aioredis.Redis,
        fernet: Fernet,
        *,
        keys: Keys | None = None,
        lock_ms: int = LOCK_MS,
        where: str = "Redis",
    ) -> None:
        self.db = db
        self.fernet = fernet
        self.keys = keys or Keys()
        self.lock_ms = lock_ms
        self.where = where
        self._release = db.register_script(RELEASE)

    def share(self, auth: OAuth2Auth, account: str) -> None:
        """Make ``auth`` refresh ``account``'s tokens through this Redis."""
        if not isinstance(auth.store, SharedTokenStore):
            auth.store = SharedTokenStore(auth.store, self, account)

    async def read(self, account: str) -> OAuth2Token | None:
        """``account``'s shared tokens, decrypted; None if no worker shared any yet."""
        sealed = await self._call(self.db.get(self.keys.token(account)))
        if sealed is None:
            return None
        try:
            data = json.loads(self.fernet.decrypt(sealed))
        except InvalidToken:
            raise ConfigError(
                f"account {account!r}'s shared tokens in {self.where} "
                f"({self.keys.token(account)}) cannot be decrypted with this worker's token "
                f"key: every worker sharing the account needs the same key ({KEY_FIX})"
            ) from None
        return OAuth2Token(data)

    async def write(self, account: str, token: Mapping[str, Any]) -> None:
        kept = {k: token[k] for k in TOKEN_KEYS if token.get(k) is not None}
        sealed = self.fernet.encrypt(json.dumps(kept).encode())
        await self._call(self.db.set(self.keys.token(account), sealed))

    async def lock(self, account: str) -> str:
        """Take ``account``'s refresh lock, waiting while another holds it; its value."""
        key, value = self.keys.token_lock(account), secrets.token_hex(16)
        pause, waited = POLL_MIN, 0.0
        while not await self._call(self.db.set(key, value, nx=True, px=self.lock_ms)):
            if waited > 2 * self.lock_ms / 1000:
                raise TransportError(
                    f"account {account!r}'s token refresh lock in {self.where} stayed "
                    f"taken for {waited:.0f} s: another worker keeps refreshing"
                )
            await anyio.sleep(pause)
            waited += pause
            pause = min(pause * 2, POLL_MAX)
        return value

    async def unlock(self, account: str, value: str) -> None:
        """Release the lock if it is still ours (it may have lapsed and been taken)."""
        await self._call(self._release(keys=[self.keys.token_lock(account)], args=[value]))

    async def _call(self, pending: Any) -> Any:
        try:
            return await pending
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise TransportError(
                f"the shared tokens' Redis ({self.where}) does not answer: {exc}"
            ) from exc


class SharedTokenStore(TokenStore):
    """An auth's own store (its token file, or memory), plus the account's shared tokens."""

    def __init__(self, inner: TokenStore, shared: SharedTokens, account: str) -> None:
        self.inner = inner
        self.shared = shared
        self.account = account
        self.identity = inner.identity
        #: Tokens saved during a refresh, shared when it ends.
        self._pending: Mapping[str, Any] | None = None

    def __repr__(self) -> str:
        return f"SharedTokenStore({self.inner!r}, account={self.account!r})"

    def __str__(self) -> str:
        return f"{self.inner} (shared as account {self.account!r})"

    def relogin_hint(self) -> str:
        return self.inner.relogin_hint()

    def load(self) -> OAuth2Token:
        return self.inner.load()

    def save(self, token: Mapping[str, Any]) -> None:
        self.inner.save(token)
        self._pending = token

    def refreshing(
        self, current: Mapping[str, Any]
    ) -> AbstractAsyncContextManager[OAuth2Token | None]:
        return self._refreshing(current)

    @asynccontextmanager
    async def _refreshing(self, current: Mapping[str, Any]) -> AsyncIterator[OAuth2Token | None]:
        """Hold the account's lock; give newer shared tokens, or share the refreshed ones."""
        held = await self.shared.lock(self.account)
        try:
            newer = await self.shared.read(self.account)
            if newer is not None and _newer(newer, current):
                self._keep(newer)
                yield newer
                return
            self._pending = None
            yield None
            refreshed = self._take_pending()
            if refreshed is not None:
                with anyio.CancelScope(shield=True):
                    await self.shared.write(self.account, refreshed)
        finally:
            with anyio.CancelScope(shield=True):
                await self.shared.unlock(self.account, held)

    def _take_pending(self) -> Mapping[str, Any] | None:
        pending, self._pending = self._pending, None
        return pending

    def _keep(self, token: Mapping[str, Any]) -> None:
        """Newer tokens from another worker also go to this worker's own store."""
        try:
            self.inner.save(token)
        except OSError as exc:
            logs.event("warning", "oauth2_token_not_saved", where=str(self.inner), error=str(exc))


def _newer(shared: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """Whether the shared tokens replace ``current``: other tokens, not known to expire
    sooner (an older login's tokens left in Redis do not replace a new login's)."""
    if shared.get("access_token") == current.get("access_token"):
        return False
    theirs, ours = shared.get("expires_at"), current.get("expires_at")
    if not isinstance(theirs, int | float) or not isinstance(ours, int | float):
        return True
    return theirs >= ours
