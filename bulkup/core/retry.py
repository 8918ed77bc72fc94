"""Retry policy as a value: full-jitter exponential backoff with a cap.

``policy.next(error, rng, now)`` returns the next policy and how long to wait, or
raises ``error`` when it must not be retried (not retryable, or attempts
exhausted). An answer that says when to try again (a spent rate-limit window's
reset, ``Retry-After``) is waited for when that is within ``max_wait``; beyond it,
the limit is a cap for this run and :class:`~bulkup.errors.RateCapped` is raised.
A policy never sleeps and never reads a clock except through the ``now`` it is
given, so the arithmetic is testable on its own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from dataclasses import dataclass

from bulkup.errors import ApiError, RateCapped, RateLimited, UploadError

DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_BACKOFF_BASE = 0.5
DEFAULT_BACKOFF_CAP = 30.0
#: The longest wait for a rate limit's reset (or ``Retry-After``) before calling it a cap.
DEFAULT_MAX_WAIT = 15 * 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often and how patiently to retry one step of one item."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    base: float = DEFAULT_BACKOFF_BASE
    cap: float = DEFAULT_BACKOFF_CAP
    #: Waits for a reset longer than this end the item's step as :class:`RateCapped`.
    max_wait: float = DEFAULT_MAX_WAIT
    #: Failures so far since the last progress.
    failures: int = 0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.base < 0 or self.cap < 0 or self.max_wait < 0:
            raise ValueError("backoff base, cap and max_wait must be >= 0")

    def backoff(self, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**failures))."""
        return rng.uniform(0, min(self.cap, self.base * (2 ** (self.failures - 1))))

    def next(self, error: UploadError, rng: random.Random, now: float) -> tuple[RetryPolicy, float]:
        """The policy after ``error`` and the delay before trying again; or raise it."""
        if not error.retryable:
            raise error
        until = error.wait_until(now) if isinstance(error, ApiError) else None
        if until is not None and until - now > self.max_wait:
            assert isinstance(error, ApiError)
            raise capped(error, until, now)
        after = dataclasses.replace(self, failures=self.failures + 1)
        if after.failures >= self.max_attempts:
            raise error
        delay = after.backoff(rng)
        if until is not None:
            delay = max(delay, until - now)  # the budget is gone until then
        return after, max(0.0, delay)

    def reset(self) -> RetryPolicy:
        """After progress: the attempt count starts again."""
        return self if self.failures == 0 else dataclasses.replace(self, failures=0)


def capped(error: ApiError, until: float, now: float) -> RateCapped:
    """The :class:`RateCapped` for an answer whose wait runs past ``max_wait``."""
    which = error.limit if isinstance(error, RateLimited) and error.limit else None
    what = f"the {which} limit" if which else f"HTTP {error.http_status}"
    return cap(what, error.endpoint or "", until, now)


def cap(what: str, endpoint: str, until: float, now: float) -> RateCapped:
    """``what`` (a limit, a status) of ``endpoint`` holds it until ``until``, past
    ``max_wait``: nothing more is sent there in this run."""
    when = dt.datetime.fromtimestamp(until, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return RateCapped(
        f"{what} of {endpoint or 'this endpoint'} is spent until {when} ({until - now:.0f} s, "
        "beyond --max-wait): not sent; run again with the same checkpoint after then",
        endpoint=endpoint,
        retry_at=until,
    )
