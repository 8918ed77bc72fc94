"""Pacing requests from the rate-limit headers, so the budget is spent without 429s.

Each endpoint (``initialize``, ``append``, …) has a budget the server announces
with every answer: ``x-rate-limit-remaining`` requests until ``x-rate-limit-reset``.
:class:`Pacer` lets a request go when the known budget, less the requests already
in flight to that endpoint, is above zero; when it is spent, callers wait until the
reset. Before the first answer the budget is unknown, so one request at a time goes
out to learn it. A 24-hour window an answer says is spent (``x-app-limit-24hour-*``,
``x-user-limit-24hour-*``) and a 429 or 503 that says when to come back (a spent
window's reset, ``Retry-After``) hold the endpoint until then. A wait longer than
``max_wait`` is not waited: :class:`~bulkup.errors.RateCapped` is raised at once, for
this and every later request to that endpoint. The bookkeeping (:class:`Budget`) is
synchronous; :meth:`Pacer.slot` does the waiting.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field

import anyio

from bulkup.core.dialects import rate_window, retry_after, spent_until
from bulkup.core.retry import DEFAULT_MAX_WAIT, cap

#: Waiting past the announced reset by this much absorbs clock skew and rounding.
RESET_SLACK_SECS = 0.25


@dataclass(slots=True)
class Window:
    """One announced window: requests ``remaining`` until ``reset`` (Unix seconds)."""

    remaining: int | None = None
    reset: float | None = None

    def room(self, now: float) -> int | None:
        """Requests left in the current window; None when unknown (or it has turned)."""
        if self.remaining is None or self.reset is None:
            return None
        if now >= self.reset + RESET_SLACK_SECS:
            self.remaining = self.reset = None  # a new window: unknown until an answer
            return None
        return self.remaining

    def learn(self, remaining: int, reset: float) -> None:
        if self.reset is not None and self.remaining is not None:
            if reset < self.reset:
                return  # a late answer from a window that has already turned
            if reset == self.reset:
                remaining = min(remaining, self.remaining)  # answers may arrive out of order
        self.remaining, self.reset = remaining, reset


@dataclass(slots=True)
class Budget:
    """What is known of one endpoint's windows: 15 minutes, and a day (the app's or
    the user's 24-hour window, whichever has less left)."""

    limit: int | None = None
    window: Window = field(default_factory=Window)
    day: Window = field(default_factory=Window)
    in_flight: int = 0
    #: Nothing goes before this time (a spent 24-hour window, a 429's reset, Retry-After).
    held_until: float | None = None
    #: What holds it, for messages: ``the 24-hour app limit``, ``Retry-After``.
    held_by: str = ""

    @property
    def remaining(self) -> int | None:
        return self.window.remaining

    @property
    def reset(self) -> float | None:
        return self.window.reset

    def hold(self, until: float, why: str) -> None:
        if self.held_until is None or until > self.held_until:
            self.held_until, self.held_by = until, why

    def wait_secs(self, now: float) -> float | None:
        """0 to go now, seconds to sleep, or None to wait for an answer in flight."""
        if self.held_until is not None:
            if now < self.held_until + RESET_SLACK_SECS:
                return self.held_until + RESET_SLACK_SECS - now
            self.held_until, self.held_by = None, ""
        rooms = [(w, room) for w in (self.window, self.day) if (room := w.room(now)) is not None]
        if not rooms:
            return 0.0 if self.in_flight == 0 else None  # learn the budget first
        if all(room - self.in_flight > 0 for _, room in rooms):
            return 0.0
        if all(room > 0 for _, room in rooms):
            return None  # budget left but taken by requests in flight: wait for them
        spent = max(w.reset for w, room in rooms if room <= 0 and w.reset is not None)
        return spent + RESET_SLACK_SECS - now

    def update(self, headers: Mapping[str, str], status: int = 200, now: float = 0.0) -> None:
        """Learn the windows from an answer's headers (and a 429/503's wait, if any)."""
        spent = spent_until(headers)
        if spent is not None and (spent[1] != "15-minute" or status in (429, 503)):
            self.hold(spent[0], f"the {spent[1]} limit")
        if status in (429, 503):
            delay, at = retry_after(headers)
            if at is None and delay is not None:
                at = now + delay
            if at is not None:
                self.hold(at, "Retry-After")
        window = _window(headers, "x-rate-limit")
        if window is not None:
            self.limit = window[0]
            self.window.learn(window[1], window[2])
        days = [d for p in DAY_WINDOWS if (d := _window(headers, p)) is not None]
        if days:
            _, remaining, reset = min(days, key=lambda d: d[1])
            self.day.learn(remaining, reset)


#: The 24-hour windows X announces besides the 15-minute one.
DAY_WINDOWS = ("x-app-limit-24hour", "x-user-limit-24hour")


def _window(headers: Mapping[str, str], prefix: str) -> tuple[int, int, float] | None:
    """(limit, remaining, reset) of one announced window, or None (see :func:`rate_window`)."""
    return rate_window(headers, prefix)


class Pacer:
    """Per-endpoint budgets shared by every request of one uploader."""

    def __init__(
        self,
        *,
        enabled: bool = True,
        clock: Callable[[], float] = time.time,
        max_wait: float = DEFAULT_MAX_WAIT,
        on_wait: Callable[[str, float], None] | None = None,
    ) -> None:
        """``on_wait(endpoint, until)`` hears of each wait for a limit to reset."""
        self.enabled = enabled
        self._clock = clock
        self.max_wait = max_wait
        self._on_wait = on_wait
        self._budgets: dict[str, Budget] = {}
        self._changed = anyio.Event()
        self.waited_secs = 0.0

    def budget(self, endpoint: str) -> Budget:
        return self._budgets.setdefault(endpoint, Budget())

    @contextlib.asynccontextmanager
    async def slot(self, endpoint: str) -> AsyncIterator[Budget]:
        """Hold one request's share of ``endpoint``'s budget while it is in flight."""
        budget = self.budget(endpoint)
        while self.enabled:
            now = self._clock()
            wait = budget.wait_secs(now)
            if wait == 0.0:
                break
            if wait is not None:
                self._check_wait(endpoint, budget, now, wait)
            started = self._clock()
            if wait is None:
                await self._changed.wait()
            else:
                with anyio.move_on_after(wait):
                    await self._changed.wait()
            self.waited_secs += self._clock() - started
        budget.in_flight += 1
        try:
            yield budget
        finally:
            budget.in_flight -= 1
            self._notify()

    def _check_wait(self, endpoint: str, budget: Budget, now: float, wait: float) -> None:
        """Raise :class:`RateCapped` for a wait past ``max_wait``; else announce it."""
        until = now + wait - RESET_SLACK_SECS
        if until - now > self.max_wait:
            why = budget.held_by if budget.held_until is not None else "the 15-minute limit"
            raise cap(why, endpoint, until, now)
        if self._on_wait is not None and wait > 1.0:
            self._on_wait(endpoint, until)

    def observe(self, budget: Budget, headers: Mapping[str, str], status: int = 200) -> None:
        budget.update(headers, status, self._clock())
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()
