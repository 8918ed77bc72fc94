"""The stall count: only time with requests outstanding and no answer counts.

The bookkeeping is checked on its own, with times given (no clock, no sleeping); the
whole stop, against a server that never answers, is in tests/robust/test_bounded_time.py.
"""

from __future__ import annotations

from bulkup.client.stall import StallCount

T0 = 1000.0


def test_outstanding_time_without_an_answer_counts_towards_the_limit() -> None:
    count = StallCount(limit=60)
    assert count.deadline() is None  # nothing outstanding: no stall possible
    count.started(T0)
    count.started(T0 + 5)  # a second one does not restart the count
    assert count.deadline() == T0 + 60


def test_an_answer_starts_the_count_again() -> None:
    count = StallCount(limit=60)
    count.started(T0)
    count.started(T0)
    count.ended(T0 + 50, answered=True)
    assert count.deadline() == T0 + 50 + 60  # the other one is still outstanding


def test_time_with_nothing_outstanding_does_not_count() -> None:
    count = StallCount(limit=60)
    count.started(T0)
    count.ended(T0 + 20, answered=False)  # a read timeout, say: 20 s counted
    # 15 minutes waiting for a rate limit's reset (or for processing, or a backoff)
    count.started(T0 + 20 + 900)
    assert count.deadline() == T0 + 20 + 900 + 40  # 40 s left of the 60


def test_a_limit_of_zero_never_stalls() -> None:
    count = StallCount(limit=0)
    count.started(T0)
    assert count.deadline() is None
