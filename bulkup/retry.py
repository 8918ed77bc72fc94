"""Retry policy as a value: full-jitter exponential backoff with a cap.

``policy.next(error, rng)`` returns the next policy and how long to wait, or
raises ``error`` when it must not be retried (not retryable, or attempts
exhausted). A policy never sleeps and never reads a clock except through the
``now`` it is given, so the arithmetic is testable on its own.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

from bulkup.errors import RateLimited, UploadError

DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_BACKOFF_BASE = 0.5
DEFAULT_BACKOFF_CAP = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often and how patiently to retry one step of one item."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    base: float = DEFAULT_BACKOFF_BASE
    cap: float = DEFAULT_BACKOFF_CAP
    #: Failures so far since the last progress.
    failures: int = 0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.base < 0 or self.cap < 0:
            raise ValueError("backoff base and cap must be >= 0")

    def backoff(self, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**failures))."""
        return rng.uniform(0, min(self.cap, self.base * (2 ** (self.failures - 1))))

    def next(self, error: UploadError, rng: random.Random, now: float) -> tuple[RetryPolicy, float]:
        """The policy after ``error`` and the delay before trying again; or raise it."""
        if not error.retryable:
            raise error
        after = dataclasses.replace(self, failures=self.failures + 1)
        if after.failures >= self.max_attempts:
            raise error
        delay = after.backoff(rng)
        if isinstance(error, RateLimited) and error.reset_at is not None:
            delay = max(delay, error.reset_at - now)  # the budget is gone until reset
        return after, max(0.0, delay)

    def reset(self) -> RetryPolicy:
        """After progress: the attempt count starts again."""
        return self if self.failures == 0 else dataclasses.replace(self, failures=0)
