"""Per-user, per-endpoint rate-limit windows with the API's response headers.

Each (user, endpoint) pair has a fixed window that starts at its first request and
lasts ``window_secs / time_scale``; within it at most ``per_window[endpoint]``
requests succeed, and the rest get 429 until the window resets. Every answered
request carries ``x-rate-limit-limit``, ``-remaining`` and ``-reset`` (Unix
seconds, rounded up), as on the real API.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bulkup.clock import Clock
from bulkup.emulator.config import RateLimits


@dataclass(slots=True)
class Window:
    start: float
    used: int = 0
    #: Requests to refuse regardless of budget (an injected 429 burst).
    burst: int = 0


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: float

    def headers(self) -> dict[str, str]:
        return {
            "x-rate-limit-limit": str(self.limit),
            "x-rate-limit-remaining": str(self.remaining),
            "x-rate-limit-reset": str(math.ceil(self.reset)),
        }


class RateLimiter:
    """Budgets for every (user, endpoint) pair of one emulator."""

    def __init__(self, limits: RateLimits, clock: Clock) -> None:
        self._limits = limits
        self._clock = clock
        self._windows: dict[tuple[str, str], Window] = {}
        #: Every window opened, in order, for :meth:`usage`.
        self._opened: list[tuple[str, str, Window]] = []

    def _window(self, user_id: str, endpoint: str) -> Window:
        now = self._clock.now()
        window = self._windows.get((user_id, endpoint))
        if window is None or now >= window.start + self._limits.effective_window_secs:
            burst = window.burst if window is not None else 0
            window = Window(start=now, burst=burst)
            self._windows[(user_id, endpoint)] = window
            self._opened.append((user_id, endpoint, window))
        return window

    def acquire(self, user_id: str, endpoint: str) -> Verdict:
        """Spend one request of the budget if any is left."""
        limit = self._limits.per_window[endpoint]
        window = self._window(user_id, endpoint)
        reset = window.start + self._limits.effective_window_secs
        if window.burst > 0:  # injected: refused although budget remains, as seen in the wild
            window.burst -= 1
            return Verdict(False, limit, max(0, limit - window.used), reset)
        if not self._limits.enabled:
            return Verdict(True, limit, limit, reset)
        if window.used >= limit:
            return Verdict(False, limit, 0, reset)
        window.used += 1
        return Verdict(True, limit, limit - window.used, reset)

    def usage(self) -> dict[str, list[dict[str, Any]]]:
        """Per endpoint, every window opened so far in order: user, start, requests accepted."""
        windows: dict[str, list[dict[str, Any]]] = {}
        for user_id, endpoint, window in self._opened:
            entry = {"user_id": user_id, "start": window.start, "used": window.used}
            windows.setdefault(endpoint, []).append(entry)
        return dict(sorted(windows.items()))

    def start_burst(self, user_id: str, endpoint: str, length: int) -> None:
        """Refuse the next ``length`` requests of this pair with 429."""
        self._window(user_id, endpoint).burst += length
