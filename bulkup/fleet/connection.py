"""The queue's Redis server: its URL (as ``--budget`` takes one), connecting, and going
on when it goes away.

``redis://HOST:PORT/DB`` or ``rediss://`` (TLS); the password in the URL or in
``$BULKUP_QUEUE_PASSWORD``, masked in every output. :class:`Patience` runs a call again
while the server does not answer: backoff from 0.2 s doubling up to 5 s, said once on
standard error when it goes away and once when it is back; nothing is dropped.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

import anyio

from bulkup import logs, redact
from bulkup.client.budget_url import check_budget_url, redis_client, shown
from bulkup.errors import BulkupError, ConfigError

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["PASSWORD_VAR", "QUEUE_VAR", "Patience", "QueueServer", "QueueUnreachable"]

#: The queue's URL, when ``--queue`` is not given.
QUEUE_VAR = "BULKUP_QUEUE"
#: The password of the queue's server, when the URL holds none.
PASSWORD_VAR = "BULKUP_QUEUE_PASSWORD"
CONNECT_TIMEOUT = 5.0
ANSWER_TIMEOUT = 10.0
BACKOFF_FIRST, BACKOFF_CAP = 0.2, 5.0

T = TypeVar("T")


class QueueUnreachable(BulkupError):
    """The queue's server did not answer when the command started."""


def queue_url(given: str | None, environ: Mapping[str, str] | None = None) -> str:
    """``--queue``, else ``$BULKUP_QUEUE``; ConfigError naming both when neither is set."""
    env = os.environ if environ is None else environ
    url = given or env.get(QUEUE_VAR, "").strip()
    if not url:
        raise ConfigError(
            f"no queue named: give --queue redis://HOST:PORT/DB (or set ${QUEUE_VAR})"
        )
    try:
        return check_budget_url(url)
    except ConfigError:
        raise ConfigError(
            f"--queue must be a redis:// or rediss:// (TLS) URL with a host, got "
            f"{shown(url)!r}: e.g. redis://127.0.0.1:6379/0"
        ) from None


@dataclass(frozen=True, slots=True)
class QueueServer:
    """Where the queue lives: ``url`` (checked) and its password, if any."""

    url: str
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_url(cls, url: str | None, environ: Mapping[str, str] | None = None) -> QueueServer:
        env = os.environ if environ is None else environ
        checked = queue_url(url, env)
        password = urlsplit(checked).password or env.get(PASSWORD_VAR) or None
        redact.register([password])
        return cls(checked, password)

    @property
    def shown(self) -> str:
        return shown(self.url)

    async def connect(self) -> aioredis.Redis:
        """A client the server answered (PING), or :class:`QueueUnreachable`."""
        import redis.exceptions

        db = redis_client(self.url, self.password)
        try:
            await db.ping()
        except (redis.exceptions.RedisError, OSError) as exc:
            await db.aclose()
            reason = redact.text(str(exc)) or type(exc).__name__
            raise QueueUnreachable(
                f"the queue at {self.shown} does not answer ({reason}): start it or give "
                f"the right --queue URL (or ${QUEUE_VAR}); a password goes in the URL or "
                f"${PASSWORD_VAR}"
            ) from None
        return db


def server_gone() -> tuple[type[BaseException], ...]:
    """What a server that went away (or is loading its data again) raises."""
    import redis.exceptions

    return (
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        redis.exceptions.BusyLoadingError,
        OSError,
    )


class Patience:
    """Calls to a server that may go away: each one waits for it, with backoff, and
    the first wait says so once (``queue_unreachable``), the answer after it once
    (``queue_back``)."""

    def __init__(self, server_shown: str, say: Callable[[str], None] | None = None) -> None:
        self._shown = server_shown
        self._say = say if say is not None else _stderr
        self.away = False

    async def call(self, make: Callable[[], Awaitable[T]]) -> T:
        delay = BACKOFF_FIRST
        errors = server_gone()
        while True:
            try:
                answer = await make()
            except errors as exc:
                self._gone(exc)
                await anyio.sleep(delay)
                delay = min(delay * 2, BACKOFF_CAP)
                continue
            if self.away:
                self.away = False
                self._say(f"bulkup worker: the queue at {self._shown} answers again; going on")
                logs.event("info", "queue_back", queue=self._shown)
            return answer

    def _gone(self, exc: BaseException) -> None:
        if self.away:
            return
        self.away = True
        reason = redact.text(str(exc)) or type(exc).__name__
        self._say(
            f"bulkup worker: the queue at {self._shown} does not answer ({reason}): "
            "pausing and reconnecting (nothing is lost)"
        )
        logs.event("warning", "queue_unreachable", queue=self._shown, error=reason)


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
