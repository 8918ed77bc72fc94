"""Injectable wall clocks.

Everything in bulkup that reasons about deadlines (upload expiry, processing,
rate-limit windows) asks a :class:`Clock` for the time instead of calling
``time.time()`` directly, so tests can move time forward instead of sleeping.
"""

from __future__ import annotations

import math
import time
from typing import Protocol


class Clock(Protocol):
    """A source of Unix time in seconds."""

    def now(self) -> float: ...


class OffsetClock:
    """The host's wall clock shifted by an adjustable offset (none at first).

    ``advance(60)`` makes every later ``now()`` one minute later than the host's
    clock, so an emulator can expire uploads or finish processing at once while
    real time keeps flowing for everything else.
    """

    def __init__(self, offset: float = 0.0) -> None:
        self._offset = offset

    @property
    def offset(self) -> float:
        return self._offset

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        if not 0 <= seconds < math.inf:  # also refuses NaN, which would poison every deadline
            raise ValueError(f"a clock only moves forward by a finite time; got {seconds} seconds")
        self._offset += seconds
