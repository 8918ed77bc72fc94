"""Pacing requests from the rate-limit headers, so the budget is spent without 429s.

Each endpoint (``initialize``, ``append``, …) has a budget the server announces
with every answer: ``x-rate-limit-remaining`` requests until ``x-rate-limit-reset``.
:class:`Pacer` lets a request go when the known budget, less the requests already
in flight to that endpoint, is above zero; when it is spent, callers wait until the
reset. Before the first answer the budget is unknown, so one request at a time goes
out to learn it. The bookkeeping (:class:`Budget`) is synchronous; :meth:`Pacer.slot`
does the waiting.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

import anyio

#: Waiting past the announced reset by this much absorbs clock skew and rounding.
RESET_SLACK_SECS = 0.25


@dataclass(slots=True)
class Budget:
    """What is known of one endpoint's window."""

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None
    in_flight: int = 0

    def wait_secs(self, now: float) -> float | None:
        """0 to go now, seconds to sleep, or None to wait for an answer in flight."""
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

    def update(self, headers: Mapping[str, str]) -> None:
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

    def __init__(self, *, enabled: bool = True, clock: Callable[[], float] = time.time) -> None:
        self.enabled = enabled
        self._clock = clock
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
            wait = budget.wait_secs(self._clock())
            if wait == 0.0:
                break
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

    def observe(self, budget: Budget, headers: Mapping[str, str]) -> None:
        budget.update(headers)
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()
