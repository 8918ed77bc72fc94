"""Rate-limit budgets shared by every process that names one Redis server (``--budget URL``).

:class:`SharedPacer` is the Redis-backed kind of
:class:`~bulkup.client.pacer_api.RatePacer`: each request reserves its place in the
account's 15-minute window of its endpoint and in the 24-hour windows (the app's, keyed
by a hash of its consumer key or client id, shared by every account of the app; the
account's own) with one atomic script on the server (:mod:`bulkup.client.budget_scripts`),
on the server's clock. The place is a lease: settled from the answer's headers (X's
count wins over ours), or given back by the server when it is not settled within
``lease_secs`` (a process that died leaks nothing). A spent window is waited for until
the reset the script names, or until another process gives a place back (a message on
the budget's pub/sub channel), never by polling; a wait past ``max_wait`` for an
announced limit raises :class:`~bulkup.errors.RateCapped`, as in one process.

What this process has seen of the budgets is kept in an in-memory
:class:`~bulkup.client.pacing.Pacer` as well: it gives the limits assumed before any
answer announced one, and the view the progress line reads.

Keys (``bulkup:{bulkup}:`` first; the braces are a Cluster hash tag):
``budget:ACCOUNT:ENDPOINT`` and ``budget:ACCOUNT:ENDPOINT:day`` (hashes), ``app:APP:ENDPOINT:day``,
each with a ``…:leases`` sorted set, and the channel ``budget:freed``. ACCOUNT is the
credentials' fingerprint (:attr:`Auth.account`), APP a hash of the consumer key or
client id: no secret is stored.

The Redis client is redis-py's asyncio one, imported only when ``--budget`` is given.
A server that does not answer mid-run pauses the requests: they reconnect with backoff,
said once on standard error, and go on when it answers.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import math
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from bulkup import logs
from bulkup.auth.credentials import Auth, BearerAuth, OAuth1Auth
from bulkup.client.budget_scripts import RESERVE, SETTLE
from bulkup.client.budget_url import BudgetServer
from bulkup.client.pacer_api import RESET_SLACK_SECS, PacerBase
from bulkup.client.pacing import Budget, Pacer
from bulkup.core import spec
from bulkup.core.dialects import rate_window, retry_after
from bulkup.core.retry import DEFAULT_MAX_WAIT

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["DEFAULT_LEASE_SECS", "SharedPacer", "app_of"]

#: A reservation not settled within this is given back (its process died).
DEFAULT_LEASE_SECS = 60.0
#: Reconnecting to a server that went away: the first wait, doubled up to the last.
RECONNECT_SECS = (0.2, 5.0)
#: The windows of one endpoint: the answer's headers, what a cap calls it, its length.
WINDOWS = (
    ("x-rate-limit", "the 15-minute limit", spec.RATE_WINDOW_SECS),
    ("x-app-limit-24hour", "the 24-hour app limit", spec.APP_RATE_WINDOW_SECS),
    ("x-user-limit-24hour", "the 24-hour user limit", spec.APP_RATE_WINDOW_SECS),
)


def app_of(auth: Auth) -> str:
    """The app the credentials belong to, as a hash (its 24-hour caps are shared by
    every account of the app): of the consumer key (OAuth 1.0a) or the client id (OAuth
    2.0); a bare bearer token names no app, so its account stands for it."""
    if isinstance(auth, OAuth1Auth):
        key = "oauth1\0" + auth.credentials.consumer_key
    else:
        client = getattr(auth, "client", None)
        client_id = getattr(client, "client_id", "")
        if isinstance(auth, BearerAuth) or not client_id:
            key = "account\0" + auth.account
        else:
            key = "oauth2\0" + str(client_id)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(slots=True)
class Held:
    """One request's place: its lease, and the answer it got (see :meth:`SharedPacer.observe`)."""

    endpoint: str
    lease: str
    budget: Budget
    headers: Mapping[str, str] | None = None
    status: int = 0


class SharedPacer(PacerBase):
    """Budgets kept on a Redis server for every process of one account and app."""

    def __init__(
        self,
        server: BudgetServer,
        *,
        account: str,
        app: str,
        clock: Callable[[], float] = time.time,
        max_wait: float = DEFAULT_MAX_WAIT,
        on_wait: Callable[[str, float], None] | None = None,
        published: Mapping[str, int] | None = None,
        fraction: float = 1.0,
        lease_secs: float = DEFAULT_LEASE_SECS,
        prefix: str = "bulkup:{bulkup}:",
    ) -> None:
        super().__init__(clock=clock, max_wait=max_wait, on_wait=on_wait)
        self.server = server
        self.local = Pacer(clock=clock, published=published, fraction=fraction)
        self.fraction = fraction
        self.lease_secs = lease_secs
        self._account, self._app, self._prefix = account, app, prefix
        self._me = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._seq = itertools.count(1)
        self._db: aioredis.Redis | None = None
        self._reserve: Any = None
        self._settle: Any = None
        #: Per endpoint: the room the server left after the last lease, and when a
        #: spent endpoint frees (for the one-shot-or-chunked choice).
        self._room: dict[str, float] = {}
        self._spent_until: dict[str, float] = {}
        self._unsettled: list[tuple[list[str], list[Any]]] = []
        self._outage: float | None = None
        self._backoff = RECONNECT_SECS[0]

    # --- the connection -----------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def connected(self) -> AsyncIterator[SharedPacer]:
        """Connect (a :class:`~bulkup.client.budget_url.BudgetUnreachable` if the server
        does not answer), listen for budget given back, and close at the end."""
        db = await self.server.connect()
        self._db = db
        self._reserve = db.register_script(RESERVE)
        self._settle = db.register_script(SETTLE)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._listen)
                try:
                    yield self
                finally:
                    tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await db.aclose()

    async def _listen(self) -> None:
        """Wake the waiting requests when any process gives a place back."""
        assert self._db is not None
        delay = RECONNECT_SECS[0]
        while True:
            try:
                async with self._db.pubsub() as channel:
                    await channel.subscribe(self._key("budget:freed"))
                    delay = RECONNECT_SECS[0]
                    async for message in channel.listen():
                        if message.get("type") == "message":
                            self._notify()
            except self.server.errors:
                await anyio.sleep(delay)  # the requests themselves say the outage
                delay = min(delay * 2, RECONNECT_SECS[1])

    # --- the interface ------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Nothing to keep in a checkpoint: the shared windows live in Redis."""
        return {}

    def restore(self, kept: Mapping[str, Any]) -> None:
        """The windows Redis holds are the latest: an earlier run's are not needed."""

    def budget(self, endpoint: str) -> Budget:
        return self.local.budget(endpoint)

    def free(self, endpoint: str) -> bool:
        return self._spent_until.get(endpoint, 0.0) <= self._clock()

    def room(self, endpoint: str) -> float:
        return min(self._room.get(endpoint, math.inf), self.local.room(endpoint))

    @contextlib.asynccontextmanager
    async def slot(self, endpoint: str) -> AsyncIterator[Held]:
        """Reserve one request's place in ``endpoint``'s shared windows, waiting as
        needed; settle it when the request is done."""
        held = await self._reserved(endpoint)
        budget = held.budget
        budget.start(self._clock())
        self._kept(endpoint)
        try:
            yield held
        finally:
            budget.in_flight -= 1
            with anyio.CancelScope(shield=True):
                await self._settled(held)
            self._notify()

    def observe(self, held: Held, headers: Mapping[str, str], status: int = 200) -> None:
        """The answer to ``held``'s request: this process's view learns from it, and the
        shared windows are corrected from it when the slot is left."""
        self.local.observe(held.budget, headers, status)
        held.headers, held.status = headers, status

    # --- reserving and settling -----------------------------------------------------------
    async def _reserved(self, endpoint: str) -> Held:
        lease = f"{self._me}:{next(self._seq)}"
        keys = self._keys(endpoint)
        args: list[Any] = [lease, self.lease_secs, self.fraction, RESET_SLACK_SECS]
        assumed = self.local.budget(endpoint).window.limit  # the 24-hour ones: none
        for n, (_, _, length) in enumerate(WINDOWS):
            args += ["" if n or assumed is None else assumed, length]
        while True:
            self._check_stopped()
            answer = await self._call(self._reserve, keys, args)
            if answer is None:
                continue  # the server came back: ask again
            if answer[0] == 1:
                self._room[endpoint] = math.inf if float(answer[1]) < 0 else float(answer[1])
                return Held(endpoint, lease, self.local.budget(endpoint))
            wait, which, capped = float(answer[1]), int(answer[2]), int(answer[3])
            now = self._clock()
            self._spent_until[endpoint] = now + wait
            why = self._why(which) if capped else None
            self._check_wait(endpoint, why, now, wait)
            await self._pause(wait)

    def _why(self, which: int) -> str:
        name = "Retry-After" if which == 0 else WINDOWS[which - 1][1]
        return f"{name} (this run's share of it)" if which and self.fraction < 1.0 else name

    async def _settled(self, held: Held) -> None:
        """Give the lease back, counted as the answer says (a request that got no answer
        counts one: it may have reached X)."""
        args: list[Any] = [held.lease, "1", *self._hold(held)]
        args.append(self._key("budget:freed"))
        headers = held.headers or {}
        for prefix, _, _ in WINDOWS:
            args += rate_window(headers, prefix) or ("", "", "")
        keys = self._keys(held.endpoint)
        for pending_keys, pending_args in self._unsettled[:]:
            if await self._call(self._settle, pending_keys, pending_args, wait=False) is None:
                break
            self._unsettled.remove((pending_keys, pending_args))
        if await self._call(self._settle, keys, args, wait=False) is None:
            self._unsettled.append((keys, args))  # sent once the server answers again

    def _hold(self, held: Held) -> tuple[Any, str]:
        """A 429 or 503's ``Retry-After``, as (Unix time, 'Retry-After'), or ('', '')."""
        if held.headers is None or held.status not in (429, 503):
            return "", ""
        delay, at = retry_after(held.headers)
        if at is None and delay is not None:
            at = self._clock() + delay
        return ("", "") if at is None else (at, "Retry-After")

    def _keys(self, endpoint: str) -> list[str]:
        names = (
            f"budget:{self._account}:{endpoint}",
            f"app:{self._app}:{endpoint}:day",
            f"budget:{self._account}:{endpoint}:day",
        )
        return [self._key(n + end) for n in names for end in ("", ":leases")]

    def _key(self, name: str) -> str:
        return self._prefix + name

    async def _call(
        self, script: Any, keys: list[str], args: list[Any], *, wait: bool = True
    ) -> Any:
        """Run ``script``; None if the server did not answer (after waiting for it to
        come back when ``wait``: said once, and again when it is back)."""
        try:
            answer = await script(keys=keys, args=args)
        except self.server.errors as exc:
            self._went_away(exc)
            if wait:
                await self._reconnect()
            return None
        self._backoff = RECONNECT_SECS[0]
        if self._outage is not None:
            self._came_back()
        return [_number(part) for part in answer] if isinstance(answer, list) else answer

    def _went_away(self, exc: BaseException) -> None:
        if self._outage is None:
            self._outage = self._clock()
            logs.say(
                "warning",
                "budget_unreachable",
                f"bulkup: the shared budget at {self.server.shown} does not answer "
                f"({type(exc).__name__}): requests wait until it does; reconnecting",
                budget=self.server.shown,
            )

    def _came_back(self) -> None:
        assert self._outage is not None
        gone = self._clock() - self._outage
        self._outage = None
        logs.say(
            "info",
            "budget_reconnected",
            f"bulkup: the shared budget at {self.server.shown} answers again "
            f"(after {gone:.1f} s); going on",
            budget=self.server.shown,
        )

    async def _reconnect(self) -> None:
        """Wait before trying the server again: doubling from 0.2 s up to 5 s (or until
        the run stops)."""
        delay, self._backoff = self._backoff, min(self._backoff * 2, RECONNECT_SECS[1])
        with anyio.move_on_after(delay):
            while self._stopped is None:
                await self._changed.wait()
        self._check_stopped()


def _number(part: Any) -> Any:
    if isinstance(part, bytes):
        part = part.decode()
    if isinstance(part, str):
        with contextlib.suppress(ValueError):
            return float(part) if "." in part or "e" in part else int(part)
    return part
