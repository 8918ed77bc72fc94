"""The run's stall stop: requests outstanding, and none answered, for too long.

A server that accepts connections and never answers costs each request its read
timeout, and each item its attempts; with items queued behind them, a run of many
files would take hours. :class:`StallWatch` bounds the whole run instead: it counts
the time during which requests are outstanding (sent, neither answered nor failed)
and no answer has come; any answer starts the count again. Time with nothing
outstanding does not count: waiting for a rate limit's reset, for the server's
processing, or between retries. When the count reaches the limit, ``on_stall`` is
called (the transport stops the run) and every outstanding request is cut short.

One timer on the event loop, armed while requests are outstanding: an answer only
moves the count's start (O(1), whatever the number of requests in flight), and a
timer that finds the count short of the limit re-arms itself for the rest. The
loop's clock is asyncio's: the uploader runs on aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import anyio


@dataclass(slots=True)
class StallCount:
    """The bookkeeping, no I/O: how long requests have been outstanding unanswered.

    The count runs while at least one request is outstanding, pauses while none is,
    and starts again from 0 at every answer; :meth:`deadline` is when it reaches
    ``limit`` if nothing changes (None: no request outstanding, or no limit).
    """

    limit: float
    outstanding: int = 0
    #: Unanswered outstanding time before the current stretch began.
    counted: float = 0.0
    #: When the current stretch (of requests outstanding, or since the last answer) began.
    since: float = 0.0

    def started(self, now: float) -> None:
        if self.outstanding == 0:
            self.since = now
        self.outstanding += 1

    def ended(self, now: float, *, answered: bool) -> None:
        self.outstanding -= 1
        if answered:  # the server answers: the count starts again
            self.counted, self.since = 0.0, now
        elif self.outstanding == 0:  # nothing outstanding: the count pauses
            self.counted += now - self.since

    def deadline(self) -> float | None:
        if not self.limit or not self.outstanding:
            return None
        return self.since + self.limit - self.counted


@dataclass(slots=True)
class Watched:
    """One outstanding request: the caller marks it ``answered``."""

    scope: anyio.CancelScope
    answered: bool = False


class StallWatch:
    """Stops the run when :class:`StallCount` reaches ``limit`` seconds (0: never);
    ``on_stall()`` hears of it, then every outstanding request is cut short."""

    def __init__(self, limit: float, on_stall: Callable[[], None] = lambda: None) -> None:
        self.limit = limit
        self.count = StallCount(limit)
        self._on_stall = on_stall
        self._scopes: set[anyio.CancelScope] = set()
        self._timer: asyncio.TimerHandle | None = None
        self.stalled = False

    @contextlib.contextmanager
    def request(self) -> Iterator[Watched]:
        """Watch one request; when it is cut short, the body ends unanswered."""
        loop = asyncio.get_running_loop()
        self.count.started(loop.time())
        watched = Watched(anyio.CancelScope())
        if self.stalled:
            watched.scope.cancel()
        self._scopes.add(watched.scope)
        self._arm(loop)
        try:
            with watched.scope:
                yield watched
        finally:
            self._scopes.discard(watched.scope)
            self.count.ended(loop.time(), answered=watched.answered)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        deadline = self.count.deadline()
        if self._timer is None and deadline is not None and not self.stalled:
            self._timer = loop.call_at(deadline, self._check, loop)

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        """The timer: a stall, or the time still left until one (armed again)."""
        self._timer = None
        deadline = self.count.deadline()
        if deadline is None or self.stalled:
            return  # paused: the next request arms it again
        if loop.time() < deadline:
            self._arm(loop)
            return
        self.stalled = True
        self._on_stall()
        self.cut()

    def cut(self) -> None:
        """Cut every outstanding request short (the run stopped sending)."""
        for scope in self._scopes:
            scope.cancel()

    def close(self) -> None:
        """Disarm the timer (the uploader is done)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
