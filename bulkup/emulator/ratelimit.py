"""Rate-limit windows with the API's response headers: per user, and per app.

Each (user, endpoint) pair has a fixed window that starts at its first request and
lasts ``window_secs / time_scale``; within it at most ``per_window[endpoint]``
requests succeed, and the rest get 429 until the window resets. Every answered
request carries ``x-rate-limit-limit``, ``-remaining`` and ``-reset`` (Unix
seconds, rounded up), as on the real API.

Endpoints named in ``app_per_day`` also have one window per endpoint shared by
every user (X's per-app 24-hour limits), lasting ``app_window_secs / time_scale``,
reported in ``x-app-limit-24hour-limit``, ``-remaining`` and ``-reset``. A request
needs budget in both windows and spends from both, or from neither: a 429 of the
app's cap leaves the user's window as it was, so ``x-rate-limit-remaining`` may be
above 0 while ``x-app-limit-24hour-remaining`` is 0 and its reset hours away, as on
X.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bulkup.core import spec
from bulkup.core.clock import Clock
from bulkup.emulator.config import RateLimits


@dataclass(slots=True)
class Window:
    start: float
    used: int = 0
    #: Requests to refuse regardless of budget (an injected 429 burst).
    burst: int = 0


@dataclass(frozen=True, slots=True)
class Quota:
    """One window as the headers report it."""

    limit: int
    remaining: int
    reset: float


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: float
    #: The app's 24-hour window, for endpoints with an app limit.
    app: Quota | None = None
    #: Refused by an injected 429 burst, although budget remains.
    burst: bool = False

    def headers(self) -> dict[str, str]:
        headers = {
            "x-rate-limit-limit": str(self.limit),
            "x-rate-limit-remaining": str(self.remaining),
            "x-rate-limit-reset": str(math.ceil(self.reset)),
        }
        if self.app is not None:
            headers[spec.APP_LIMIT_HEADER] = str(self.app.limit)
            headers[spec.APP_REMAINING_HEADER] = str(self.app.remaining)
            headers[spec.APP_RESET_HEADER] = str(math.ceil(self.app.reset))
        return headers


class RateLimiter:
    """Budgets for every (user, endpoint) pair, and every app-limited endpoint."""

    def __init__(self, limits: RateLimits, clock: Clock) -> None:
        self._limits = limits
        self._clock = clock
        self._windows: dict[tuple[str, str], Window] = {}
        #: Every per-user window opened, in order, for :meth:`usage`.
        self._opened: list[tuple[str, str, Window]] = []
        self._app_windows: dict[str, Window] = {}
        self._app_opened: list[tuple[str, Window]] = []

    def _window(self, user_id: str, endpoint: str) -> Window:
        now = self._clock.now()
        window = self._windows.get((user_id, endpoint))
        if window is None or now >= window.start + self._limits.effective_window_secs:
            burst = window.burst if window is not None else 0
            window = Window(start=now, burst=burst)
            self._windows[(user_id, endpoint)] = window
            self._opened.append((user_id, endpoint, window))
        return window

    def _app_window(self, endpoint: str) -> Window | None:
        if endpoint not in self._limits.app_per_day:
            return None
        now = self._clock.now()
        window = self._app_windows.get(endpoint)
        if window is None or now >= window.start + self._limits.effective_app_window_secs:
            window = self._app_windows[endpoint] = Window(start=now)
            self._app_opened.append((endpoint, window))
        return window

    def _app_quota(self, endpoint: str, window: Window | None) -> Quota | None:
        if window is None:
            return None
        limit = self._limits.app_per_day[endpoint]
        reset = window.start + self._limits.effective_app_window_secs
        remaining = limit if not self._limits.enabled else max(0, limit - window.used)
        return Quota(limit, remaining, reset)

    def acquire(self, user_id: str, endpoint: str) -> Verdict:
        """Spend one request of the budgets if both have some left."""
        limit = self._limits.per_window[endpoint]
        window = self._window(user_id, endpoint)
        app_window = self._app_window(endpoint)
        reset = window.start + self._limits.effective_window_secs
        if window.burst > 0:  # injected: refused although budget remains, as seen in the wild
            window.burst -= 1
            remaining = max(0, limit - window.used)
            quota = self._app_quota(endpoint, app_window)
            return Verdict(False, limit, remaining, reset, quota, burst=True)
        if not self._limits.enabled:
            return Verdict(True, limit, limit, reset, self._app_quota(endpoint, app_window))
        app_limit = self._limits.app_per_day.get(endpoint, 0)
        app_spent = app_window is not None and app_window.used >= app_limit
        if window.used >= limit or app_spent:
            quota = self._app_quota(endpoint, app_window)
            return Verdict(False, limit, max(0, limit - window.used), reset, quota)
        window.used += 1
        if app_window is not None:
            app_window.used += 1
        quota = self._app_quota(endpoint, app_window)
        return Verdict(True, limit, limit - window.used, reset, quota)

    def usage(self) -> dict[str, list[dict[str, Any]]]:
        """Per endpoint, every window opened so far in order: user, start, requests accepted."""
        windows: dict[str, list[dict[str, Any]]] = {}
        for user_id, endpoint, window in self._opened:
            entry = {"user_id": user_id, "start": window.start, "used": window.used}
            windows.setdefault(endpoint, []).append(entry)
        return dict(sorted(windows.items()))

    def app_usage(self) -> dict[str, list[dict[str, Any]]]:
        """Per app-limited endpoint, every 24-hour window so far: start, reset, used, limit."""
        windows: dict[str, list[dict[str, Any]]] = {}
        for endpoint, window in self._app_opened:
            entry = {
                "start": window.start,
                "reset": window.start + self._limits.effective_app_window_secs,
                "used": window.used,
                "limit": self._limits.app_per_day[endpoint],
            }
            windows.setdefault(endpoint, []).append(entry)
        return dict(sorted(windows.items()))

    def start_burst(self, user_id: str, endpoint: str, length: int) -> None:
        """Refuse the next ``length`` requests of this pair with 429."""
        self._window(user_id, endpoint).burst += length
