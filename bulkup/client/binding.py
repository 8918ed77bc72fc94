"""Which rate-limit budget binds a run now, and when it resets: for the progress line.

Reads the live budgets of a :class:`~bulkup.client.pacing.Pacer` (``pacer.budget(e)``
for the endpoints of :data:`bulkup.core.budget.ENDPOINTS`, those this run has used)
and finds the one with the least room relative to this run's share of its limit
(``--budget-fraction``): its 15-minute window, or its 24-hour window when an answer
announced one with less room. :func:`binding` gives it when it matters (below half
its share, or holding requests back), :func:`binding_text` says it in a few words::

    append budget 312/1,875 left, resets in 4 min 10 s
    init, append budgets spent: waiting until 12:15:00 (4 min 10 s)
    one-shot: waiting until 12:15:00 (4 min 10 s) for Retry-After

Synchronous and read-only: it takes the time, the display calls it as it redraws.
:class:`WaitTally` adds up, for the final summary, how long the run waited for
resets (the union of the waits, not one per request) and for which endpoint most.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, Protocol

from bulkup.client.pacing import RESET_SLACK_SECS, Budget, Window
from bulkup.core.budget import ENDPOINTS
from bulkup.core.units import human_duration

__all__ = [
    "Binding",
    "Budgets",
    "WaitTally",
    "binding",
    "binding_text",
    "budgets",
    "short_duration",
]

#: Shown when the budget with the least room has less than this share of it left.
SHOW_BELOW: Final = 0.5
#: How people read the endpoint keys.
_LABELS: Final = {"upload": "one-shot", "initialize": "init"}


class Budgets(Protocol):
    """What is read of a pacer: the budget of one endpoint."""

    def budget(self, endpoint: str) -> Budget: ...


@dataclass(frozen=True, slots=True)
class Binding:
    """One endpoint's budget as the run stands: requests of this run's share left in
    its window, and when that window resets."""

    endpoint: str
    left: int
    share: int
    #: When the window resets (Unix seconds).
    reset: float
    #: The window: ``15-minute`` or ``24-hour``.
    window: str = "15-minute"
    #: Nothing goes to the endpoint before this time (a 429's reset, Retry-After, a
    #: spent 24-hour window), and why.
    held_until: float | None = None
    held_by: str = ""
    #: Other endpoints spent until about the same time.
    also: tuple[str, ...] = ()

    @property
    def room(self) -> float:
        """The share of the window left: 0 spent, 1 untouched."""
        return self.left / self.share

    @property
    def waiting(self) -> bool:
        return self.held_until is not None or self.left <= 0


def budgets(pacer: Budgets, now: float, endpoints: Iterable[str] = ENDPOINTS) -> list[Binding]:
    """The budget of each endpoint this run has used (with a limit known), the window
    with less room of the two for each."""
    found = []
    for endpoint in endpoints:
        budget = pacer.budget(endpoint)
        windows = [
            seen
            for window, name in ((budget.window, "15-minute"), (budget.day, "24-hour"))
            if (seen := _seen(endpoint, window, name, budget.in_flight, now)) is not None
        ]
        if budget.held_until is not None and budget.held_until > now:
            held = windows[0] if windows else None
            found.append(_held(endpoint, budget, held))
        elif windows:
            found.append(min(windows, key=lambda b: b.room))
    return found


def binding(pacer: Budgets, now: float | None = None) -> Binding | None:
    """The budget with the least room, when it has less than half its share left or
    holds requests back; None otherwise (nothing worth a word)."""
    at = time.time() if now is None else now
    found = budgets(pacer, at)
    if not found:
        return None
    tightest = min(found, key=lambda b: (not b.waiting, b.room))
    if tightest.waiting:
        until = tightest.held_until or tightest.reset
        also = tuple(
            b.endpoint
            for b in found
            if b is not tightest and b.waiting and abs((b.held_until or b.reset) - until) < 1.0
        )
        return dataclasses.replace(tightest, also=also)
    return tightest if tightest.room < SHOW_BELOW else None


def _seen(endpoint: str, window: Window, name: str, in_flight: int, now: float) -> Binding | None:
    """The window as this run used it, or None: no limit known, not used yet, over."""
    if window.limit is None:
        return None
    share = window.share
    if window.remaining is not None and window.reset is not None:
        if now >= window.reset + RESET_SLACK_SECS:
            return None  # turned over: a new window, untouched
        left = window.remaining - window.reserve - in_flight
        reset = window.reset
    elif window.assumed_reset is not None and now < window.assumed_reset:
        left, reset = share - window.started, window.assumed_reset
    else:
        return None
    return Binding(endpoint, max(0, min(left, share)), share, reset, name)


def _held(endpoint: str, budget: Budget, seen: Binding | None) -> Binding:
    until = budget.held_until or 0.0
    share = seen.share if seen is not None else 1
    left = seen.left if seen is not None else 0
    return Binding(endpoint, left, share, until, held_until=until, held_by=budget.held_by)


def binding_text(found: Binding, now: float | None = None) -> str:
    """``append budget 312/1,875 left, resets in 4 min 10 s``; while it holds requests
    back, until when: ``one-shot, init budgets spent: waiting until 12:15:00 (28 s)``."""
    at = time.time() if now is None else now
    names = ", ".join(_LABELS.get(e, e) for e in (found.endpoint, *found.also))
    day = " 24-hour" if found.window == "24-hour" else ""
    if found.held_until is not None:
        why = f" for {found.held_by}" if found.held_by else ""
        return f"{names}: waiting{_until(found.held_until, at)}{why}"
    if found.waiting:
        budgets = "budgets" if found.also else "budget"
        return f"{names}{day} {budgets} spent: waiting{_until(found.reset, at)}"
    left = f"{found.left:,}/{found.share:,} left"
    return f"{names}{day} budget {left}, resets in {short_duration(found.reset - at)}"


def _until(moment: float, now: float) -> str:
    """`` until 12:15:00 (28 s)``."""
    clock = time.strftime("%H:%M:%S", time.localtime(moment))
    return f" until {clock} ({short_duration(moment - now)})"


def short_duration(seconds: float) -> str:
    """``42 s``, ``4 min 10 s``, then as :func:`human_duration` (``2 h 5 min``)."""
    left = max(0, int(seconds))
    if left < 60:
        return f"{left} s"
    if left < 3600:
        minutes, secs = divmod(left, 60)
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return human_duration(left)


class WaitTally:
    """How long a run waited for rate limits to reset, from the waits the pacer
    announces (an observer's ``waiting``): the time covered by at least one wait,
    and by each endpoint's waits."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        #: "" (any endpoint) or an endpoint -> the end of the waits counted so far.
        self._until: dict[str, float] = {}
        self._waited: dict[str, float] = {}

    def waiting(self, endpoint: str, until: float) -> None:
        now = self._clock()
        for key in ("", endpoint):
            start = max(now, self._until.get(key, 0.0))
            if until > start:
                self._waited[key] = self._waited.get(key, 0.0) + until - start
                self._until[key] = until

    def settle(self) -> None:
        """The run ended: waits it did not sit out are not counted."""
        now = self._clock()
        for key, until in self._until.items():
            if until > now:
                self._waited[key] -= until - now
                self._until[key] = now

    @property
    def waited(self) -> float:
        """Seconds during which some endpoint waited."""
        return self._waited.get("", 0.0)

    @property
    def by_endpoint(self) -> dict[str, float]:
        return {e: secs for e, secs in self._waited.items() if e}

    def summary(self) -> str | None:
        """``waited 8 min 20 s for rate limits to reset; the append budget bound the
        run`` (every endpoint that waited nearly as long as the longest); None: no wait."""
        if self.waited < 1.0:
            return None
        waits = self.by_endpoint
        longest = max(waits.values())
        bound = [_LABELS.get(e, e) for e in ENDPOINTS if waits.get(e, 0.0) >= 0.9 * longest]
        bound += [e for e in waits if e not in ENDPOINTS and waits[e] >= 0.9 * longest]
        names = bound[0] if len(bound) == 1 else f"{', '.join(bound[:-1])} and {bound[-1]}"
        which = "budget" if len(bound) == 1 else "budgets"
        return (
            f"waited {short_duration(self.waited)} for rate limits to reset; the {names} "
            f"{which} bound the run"
        )
