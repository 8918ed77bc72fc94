"""The Redis server of ``--budget URL``: its URL checked, shown without its password,
and connected to with redis-py's asyncio client (imported only here, only then).

``redis://HOST:PORT/DB`` or ``rediss://`` (TLS; ``?ssl_ca_certs=FILE`` trusts a CA of
your own). A password is given in the URL (``redis://:PASSWORD@HOST``, or
``USER:PASSWORD@`` with an ACL user) or in ``$BULKUP_BUDGET_PASSWORD``, which keeps it
out of the command line and the config file. Either way it is masked in every output
and the URL is shown as ``redis://:***@HOST:PORT/DB``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from bulkup import redact
from bulkup.errors import BulkupError, ConfigError

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["PASSWORD_VAR", "BudgetServer", "BudgetUnreachable", "check_budget_url", "redis_client"]

#: The password of the budget's server, when the URL holds none.
PASSWORD_VAR = "BULKUP_BUDGET_PASSWORD"
SCHEMES = ("redis", "rediss")
#: Seconds to connect, and to wait for an answer, before the server counts as gone.
CONNECT_TIMEOUT = 5.0
ANSWER_TIMEOUT = 10.0


class BudgetUnreachable(BulkupError):
    """The shared budget's server did not answer when the run started: nothing was sent."""


def check_budget_url(url: str) -> str:
    """``url`` if it is a ``redis://`` or ``rediss://`` URL with a host; else ConfigError."""
    parts = urlsplit(url.strip())
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ConfigError(
            f"budget must be a redis:// or rediss:// (TLS) URL with a host, got "
            f"{shown(url)!r}: e.g. redis://127.0.0.1:6379/0"
        )
    return url.strip()


def redis_client(
    url: str,
    password: str | None,
    *,
    connect_timeout: float = CONNECT_TIMEOUT,
    answer_timeout: float = ANSWER_TIMEOUT,
) -> aioredis.Redis:
    """redis-py's asyncio client of ``url`` (strings decoded), with ``password`` when
    the URL holds none; it connects at its first command, and again after the server
    went away."""
    import redis.asyncio as aioredis

    options: dict[str, Any] = {
        "socket_connect_timeout": connect_timeout,
        "socket_timeout": answer_timeout,
        "decode_responses": True,
    }
    if password and not urlsplit(url).password:
        options["password"] = password
    return aioredis.Redis.from_url(url, **options)


def shown(url: str) -> str:
    """``url`` with its password, if any, as ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


@dataclass(frozen=True, slots=True)
class BudgetServer:
    """Where the shared budget lives: ``url`` (checked) and its password, if any."""

    url: str
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_url(cls, url: str, environ: Mapping[str, str] | None = None) -> BudgetServer:
        env = os.environ if environ is None else environ
        url = check_budget_url(url)
        password = urlsplit(url).password or env.get(PASSWORD_VAR) or None
        redact.register([password])  # masked in every output from now on
        return cls(url, password)

    @property
    def shown(self) -> str:
        return shown(self.url)

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        """What a server that went away raises."""
        import redis.exceptions

        return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)

    async def connect(self) -> aioredis.Redis:
        """A client that the server answered (PING), or :class:`BudgetUnreachable`."""
        import redis.exceptions

        db = redis_client(self.url, self.password)
        try:
            await db.ping()
        except (redis.exceptions.RedisError, OSError) as exc:
            await db.aclose()
            raise BudgetUnreachable(self._unreachable(exc)) from None
        return db

    def _unreachable(self, exc: BaseException) -> str:
        fix = "start it or give the right --budget URL (or $BULKUP_BUDGET, [upload] budget)"
        if "auth" in str(exc).lower() or "password" in str(exc).lower():
            fix = f"give its password in the URL (redis://:PASSWORD@HOST) or in ${PASSWORD_VAR}"
        reason = redact.text(str(exc)) or type(exc).__name__
        return (
            f"the shared budget at {self.shown} does not answer ({reason}): {fix}; nothing was sent"
        )
