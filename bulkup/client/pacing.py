"""Pacing requests from the rate-limit headers, so the budget is spent without 429s.

Each endpoint (``initialize``, ``append``, …) has a budget the server announces
with every answer: ``x-rate-limit-remaining`` requests until ``x-rate-limit-reset``.
:class:`Pacer` lets a request go when the known budget, less the requests already
in flight to that endpoint, is above zero; when it is spent, callers wait until the
reset. Until an answer announces a window (the first answer; a server or proxy that
sends no such headers; a window that has just turned over), the window is assumed:
``limit`` requests per window, counted as they start, where ``limit`` is the
published figure (v2, ``spec.RATE_LIMITS``) or the one the window that turned over
announced; with no figure at all (v1.1 before its first answer) nothing is held back.
A server that announces a limit below the published one (a smaller plan, a test
server) is taken at its word for the endpoints it has not announced yet: their
published figures are scaled down alike until their own answers come; an endpoint
with no published figure assumes the lowest limit announced so far.
So requests go in parallel from the first one, and never one at a time to learn a
budget. A 24-hour window an answer says is spent (``x-app-limit-24hour-*``,
``x-user-limit-24hour-*``) and a 429 or 503 that says when to come back (a spent
window's reset, ``Retry-After``) hold the endpoint until then. A wait longer than
``max_wait`` for an announced limit is not waited: :class:`~bulkup.errors.RateCapped`
is raised at once, for this and every later request to that endpoint (an assumed
window is only our guess, never a cap). With ``fraction`` below 1
(``--budget-fraction``), each window is spent only to that share of its limit,
leaving the rest to other clients of the same account. The bookkeeping
(:class:`Budget`) is synchronous; :meth:`Pacer.slot` does the waiting, until
:meth:`Pacer.stop`. :class:`Pacer` is the in-memory kind of
:class:`~bulkup.client.pacer_api.RatePacer`; ``--budget URL`` shares the budgets between
processes instead (:mod:`bulkup.client.shared_budget`).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bulkup.client.pacer_api import RESET_SLACK_SECS, PacerBase
from bulkup.core import spec
from bulkup.core.dialects import rate_window, retry_after, spent_until
from bulkup.core.retry import DEFAULT_MAX_WAIT

__all__ = ["DAY_WINDOWS", "RESET_SLACK_SECS", "Budget", "Pacer", "Window"]


@dataclass(slots=True)
class Window:
    """One rate-limit window of an endpoint.

    Announced: ``remaining`` requests until ``reset`` (Unix seconds), as the latest
    answer said. Assumed (``remaining`` is None): ``limit`` requests per ``length``
    seconds, counted in ``started`` as they start, from the first of them; with no
    ``limit``, no limit applies.
    """

    length: float
    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None
    started: int = 0
    #: When the assumed window ends (set by its first request).
    assumed_reset: float | None = None
    #: The reset of the last announced window that turned over: answers still
    #: announcing it (sent before it turned) are stale.
    turned: float | None = None
    #: The share of ``limit`` this client spends (``--budget-fraction``).
    fraction: float = 1.0

    @property
    def reserve(self) -> int:
        """Requests of the window left to other clients: ``limit`` less this client's
        share of it (at least one request a window)."""
        if self.limit is None or self.fraction >= 1.0:
            return 0
        return self.limit - self.share

    @property
    def share(self) -> int:
        """The requests of ``limit`` this client may spend in one window."""
        assert self.limit is not None
        return max(math.floor(self.limit * self.fraction), 1)

    @property
    def announced(self) -> bool:
        return self.remaining is not None and self.reset is not None

    def wait_secs(self, now: float, in_flight: int) -> float | None:
        """0 to go now, seconds to wait, or None to wait for an answer in flight."""
        if self.announced and now >= self.reset + RESET_SLACK_SECS:  # type: ignore[operator]
            self._turn_over()
        if self.remaining is not None and self.reset is not None:
            usable = self.remaining - self.reserve
            if usable - in_flight > 0:
                return 0.0
            if usable > 0:
                return None  # budget left but taken by requests in flight: wait for them
            return self.reset + RESET_SLACK_SECS - now
        if self.limit is None:
            return 0.0
        if self.assumed_reset is not None and now >= self.assumed_reset:
            self.started, self.assumed_reset = 0, None
        if self.started < self.share:
            return 0.0
        assert self.assumed_reset is not None  # set by the requests counted
        return self.assumed_reset - now

    def room(self, in_flight: int) -> float:
        """Requests that could still start in this window (inf: no limit known)."""
        if self.remaining is not None and self.reset is not None:
            return self.remaining - self.reserve - in_flight
        if self.limit is None:
            return math.inf
        return self.share - self.started

    @property
    def spent(self) -> bool:
        """The announced window has nothing left for this client."""
        return self.announced and (self.remaining or 0) - self.reserve <= 0

    def start(self, now: float) -> None:
        """A request goes: an assumed window counts it."""
        if self.announced or self.limit is None:
            return
        if self.assumed_reset is None:
            self.assumed_reset = now + self.length
        self.started += 1

    def _turn_over(self) -> None:
        """The announced window ended: the next is assumed to hold its ``limit`` again."""
        self.turned, self.remaining, self.reset = self.reset, None, None
        self.started, self.assumed_reset = 0, None

    def learn(self, limit: int, remaining: int, reset: float) -> None:
        if self.turned is not None and reset <= self.turned:
            return  # a late answer from a window that has already turned over
        if self.remaining is not None and self.reset is not None:
            if reset < self.reset:
                return  # a late answer from a window that has already turned
            if reset == self.reset:
                remaining = min(remaining, self.remaining)  # answers may arrive out of order
        self.limit, self.remaining, self.reset = limit, remaining, reset
        self.started, self.assumed_reset = 0, None


def _fifteen_minutes() -> Window:
    return Window(length=spec.RATE_WINDOW_SECS)


def _day() -> Window:
    return Window(length=spec.APP_RATE_WINDOW_SECS)


@dataclass(slots=True)
class Budget:
    """What is known of one endpoint's windows: 15 minutes, and a day (the app's or
    the user's 24-hour window, whichever has less left)."""

    window: Window = field(default_factory=_fifteen_minutes)
    day: Window = field(default_factory=_day)
    in_flight: int = 0
    #: Nothing goes before this time (a spent 24-hour window, a 429's reset, Retry-After).
    held_until: float | None = None
    #: What holds it, for messages: ``the 24-hour app limit``, ``Retry-After``.
    held_by: str = ""

    @classmethod
    def assuming(cls, limit: int | None, fraction: float = 1.0) -> Budget:
        """A budget whose 15-minute window is assumed to hold ``limit`` requests until
        an answer announces it (None: no limit until then), of which this client spends
        ``fraction``."""
        return cls(
            window=Window(length=spec.RATE_WINDOW_SECS, limit=limit, fraction=fraction),
            day=Window(length=spec.APP_RATE_WINDOW_SECS, fraction=fraction),
        )

    @property
    def limit(self) -> int | None:
        return self.window.limit

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
        waits = [w.wait_secs(now, self.in_flight) for w in (self.window, self.day)]
        if all(wait == 0.0 for wait in waits):
            return 0.0
        timed = [wait for wait in waits if wait]
        return max(timed) if timed else None

    def room(self) -> float:
        """Requests that could still start in this endpoint's windows (inf: no limit known)."""
        return min(window.room(self.in_flight) for window in (self.window, self.day))

    def spent(self) -> str | None:
        """The announced limit that holds this endpoint, for a cap's message; None
        when only an assumed window does (our guess, not the server's word)."""
        if self.held_until is not None:
            return self.held_by
        for window, name in ((self.window, "the 15-minute limit"), (self.day, "the 24-hour limit")):
            if window.spent:
                return f"{name} (this run's share of it)" if window.reserve else name
        return None

    def start(self, now: float) -> None:
        """One request to this endpoint goes now."""
        self.in_flight += 1
        self.window.start(now)
        self.day.start(now)

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
            self.window.learn(*window)
        days = [d for p in DAY_WINDOWS if (d := _window(headers, p)) is not None]
        if days:
            self.day.learn(*min(days, key=lambda d: d[1]))


#: The 24-hour windows X announces besides the 15-minute one.
DAY_WINDOWS = ("x-app-limit-24hour", "x-user-limit-24hour")


def _window(headers: Mapping[str, str], prefix: str) -> tuple[int, int, float] | None:
    """(limit, remaining, reset) of one announced window, or None (see :func:`rate_window`)."""
    return rate_window(headers, prefix)


class Pacer(PacerBase):
    """Per-endpoint budgets shared by every request of one uploader."""

    def __init__(
        self,
        *,
        enabled: bool = True,
        clock: Callable[[], float] = time.time,
        max_wait: float = DEFAULT_MAX_WAIT,
        on_wait: Callable[[str, float], None] | None = None,
        published: Mapping[str, int] | None = None,
        fraction: float = 1.0,
    ) -> None:
        """``on_wait(endpoint, until)`` hears of each wait for a limit to reset;
        ``published`` are the per-endpoint 15-minute limits assumed until an answer
        announces one (``spec.RATE_LIMITS`` for v2; none: nothing held back);
        ``fraction`` the share of each limit this client spends."""
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"fraction must be above 0 and at most 1, got {fraction}")
        super().__init__(enabled=enabled, clock=clock, max_wait=max_wait, on_wait=on_wait)
        self.fraction = fraction
        self._published = dict(published or {})
        #: The lowest ratio of an announced limit to its published figure (<= 1).
        self._scale = 1.0
        #: The lowest limit any endpoint announced.
        self._lowest: int | None = None
        self._budgets: dict[str, Budget] = {}

    def free(self, endpoint: str) -> bool:
        """Whether a request to ``endpoint`` could go now, without waiting for a limit."""
        if not self.enabled:
            return True
        return self.budget(endpoint).wait_secs(self._clock()) == 0.0

    def room(self, endpoint: str) -> float:
        return self.budget(endpoint).room()

    def wait_for(self, endpoint: str) -> float:
        if not self.enabled:
            return 0.0
        wait = self.budget(endpoint).wait_secs(self._clock())
        return 0.0 if wait is None else wait  # None: the answers in flight decide soon

    def renews_in(self, endpoint: str) -> float:
        window, now = self.budget(endpoint).window, self._clock()
        reset = window.reset if window.announced else window.assumed_reset
        return math.inf if reset is None else max(reset - now, 0.0)

    def budget(self, endpoint: str) -> Budget:
        budget = self._budgets.get(endpoint)
        if budget is None:
            budget = self._budgets[endpoint] = Budget.assuming(
                self._assumed(endpoint), self.fraction
            )
        return budget

    @contextlib.asynccontextmanager
    async def slot(self, endpoint: str) -> AsyncIterator[Budget]:
        """Hold one request's share of ``endpoint``'s budget while it is in flight."""
        budget = self.budget(endpoint)
        while self.enabled:
            self._check_stopped()
            now = self._clock()
            wait = budget.wait_secs(now)
            if wait == 0.0:
                break
            if wait is not None:
                self._check_wait(endpoint, budget.spent(), now, wait)
            await self._pause(wait)
        budget.start(self._clock())
        self._kept(endpoint)
        try:
            yield budget
        finally:
            budget.in_flight -= 1
            self._notify()

    def snapshot(self) -> dict[str, Any]:
        """The windows the answers announced and the holds, as JSON: what a later run
        restores (:meth:`restore`) so that it does not open with 429s."""
        kept: dict[str, Any] = {}
        for endpoint, budget in self._budgets.items():
            entry: dict[str, list[Any]] = {
                name: [window.limit, window.remaining, window.reset]
                for name, window in (("window", budget.window), ("day", budget.day))
                if window.announced
            }
            if budget.held_until is not None:
                entry["held"] = [budget.held_until, budget.held_by]
            if entry:
                kept[endpoint] = entry
        return kept

    def restore(self, kept: Mapping[str, Any]) -> None:
        """Start from the windows an earlier run saw (:meth:`snapshot`); those whose
        reset has passed are left out, and anything unreadable is ignored."""
        now = self._clock()
        for endpoint, entry in kept.items():
            if not isinstance(entry, Mapping):
                continue
            budget = self.budget(str(endpoint))
            with contextlib.suppress(TypeError, ValueError):
                for name, window in (("window", budget.window), ("day", budget.day)):
                    limit, remaining, reset = entry.get(name) or (0, 0, 0)
                    if float(reset) > now:
                        window.learn(int(limit), int(remaining), float(reset))
                until, why = entry.get("held") or (0, "")
                if float(until) > now:
                    budget.hold(float(until), str(why))
        self._learn_scale()

    def observe(self, budget: Budget, headers: Mapping[str, str], status: int = 200) -> None:
        known = (budget.window.announced, budget.window.limit)
        budget.update(headers, status, self._clock())
        if (budget.window.announced, budget.window.limit) != known:  # not every answer
            self._learn_scale()
        self._notify()

    def _assumed(self, endpoint: str) -> int | None:
        """The limit assumed for ``endpoint`` before its answers announce one: its
        published figure, scaled as the announced ones were; with none published, the
        lowest limit another endpoint announced (None: nothing announced yet)."""
        published = self._published.get(endpoint)
        if published is not None:
            return max(math.floor(published * self._scale), 1)
        return self._lowest

    def _learn_scale(self) -> None:
        """What the announced limits say of those not announced yet: the published
        figures scale down alike, and an endpoint with none published assumes the
        lowest limit announced."""
        announced = {
            endpoint: budget.window.limit
            for endpoint, budget in self._budgets.items()
            if budget.window.announced and budget.window.limit
        }
        if not announced:
            return
        ratios = [
            limit / self._published[e] for e, limit in announced.items() if e in self._published
        ]
        scale, lowest = min([1.0, *ratios]), min(announced.values())
        if scale >= self._scale and self._lowest is not None and lowest >= self._lowest:
            return
        self._scale = min(scale, self._scale)
        self._lowest = lowest if self._lowest is None else min(lowest, self._lowest)
        for endpoint, budget in self._budgets.items():
            if not budget.window.announced and budget.window.turned is None:
                budget.window.limit = self._assumed(endpoint)
