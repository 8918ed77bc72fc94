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
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

import anyio

from bulkup.dialects import retry_after, spent_until
from bulkup.errors import RateCapped
from bulkup.retry import DEFAULT_MAX_WAIT

#: Waiting past the announced reset by this much absorbs clock skew and rounding.
RESET_SLACK_SECS = 0.25


@dataclass(slots=True)
class Budget:
    """What is known of one endpoint's window."""

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None
    in_flight: int = 0
    #: Nothing goes before this time (a spent 24-hour window, a 429's reset, Retry-After).
    held_until: float | None = None
    #: What holds it, for messages: ``the 24-hour app limit``, ``Retry-After``.
    held_by: str = ""

    def hold(self, until: float, why: str) -> None:
        if self.held_until is None or until > self.held_until:
            self.held_until, self.held_by = until, why

    def wait_secs(self, now: float) -> float | None:
        """0 to go now, seconds to sleep, or None to wait for an answer in flight."""
        if self.held_until is not None:
            if now < self.held_until + RESET_SLACK_SECS:
                return self.held_until + RESET_SLACK_SECS - now
            self.held_until, self.held_by = None, ""
        if self.remaining is None or self.reset is None:
            return 0.0 if self.in_flight == 0 else None
        if now >= self.reset + RESET_SLACK_SECS:
            # A new window: its budget is unknown until the next answer.
            self.remaining = self.reset = None
            return 0.0 if self.in_flight == 0 else None
        if self.remaining - self.in_flight > 0:
            return 0.0
        if self.remaining > 0:
            return None  # budget left but taken by requests in flight: wait for them
        return self.reset + RESET_SLACK_SECS - now

    def update(self, headers: Mapping[str, str], status: int = 200, now: float = 0.0) -> None:
        """Learn the window from an answer's headers (and a 429/503's wait, if any)."""
        spent = spent_until(headers)
        if spent is not None and (spent[1] != "15-minute" or status in (429, 503)):
            self.hold(spent[0], f"the {spent[1]} limit")
        if status in (429, 503):
            delay, at = retry_after(headers)
            if at is None and delay is not None:
                at = now + delay
            if at is not None:
                self.hold(at, "Retry-After")
        self._update_window(headers)

    def _update_window(self, headers: Mapping[str, str]) -> None:
        try:
            limit = int(headers["x-rate-limit-limit"])
            remaining = int(headers["x-rate-limit-remaining"])
            reset = float(headers["x-rate-limit-reset"])
        except (KeyError, ValueError):
            return
        if self.reset is not None and self.remaining is not None:
            if reset < self.reset:
                return  # a late answer from a window that has already turned
            if reset == self.reset:
                remaining = min(remaining, self.remaining)  # answers may arrive out of order
        self.limit, self.remaining, self.reset = limit, remaining, reset


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
            raise RateCapped(
                f"{why} of {endpoint} is spent until {_utc(until)} ({until - now:.0f} s, "
                "beyond --max-wait): not sent; run again with the same checkpoint after then",
                endpoint=endpoint,
                retry_at=until,
            )
        if self._on_wait is not None and wait > 1.0:
            self._on_wait(endpoint, until)

    def observe(self, budget: Budget, headers: Mapping[str, str], status: int = 200) -> None:
        budget.update(headers, status, self._clock())
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()


def _utc(moment: float) -> str:
    if not math.isfinite(moment):
        return "an unknown time"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(moment))
