"""The progress line names the budget that binds and when it resets (bulkup.client.binding),
read from scripted budgets on an injected clock: no server."""

from __future__ import annotations

import io
import time

import pytest

from bulkup.client.binding import WaitTally, binding, binding_text, short_duration
from bulkup.client.pacing import Pacer
from bulkup.client.progress import RichProgress
from bulkup.core import spec

NOW = 1_700_000_000.0


def announced(pacer: Pacer, endpoint: str, remaining: int, reset_in: float, limit: int) -> None:
    """An answer from ``endpoint`` announced its window."""
    pacer.observe(
        pacer.budget(endpoint),
        {
            "x-rate-limit-limit": str(limit),
            "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": str(int(NOW + reset_in)),
        },
    )


def v2_pacer(fraction: float = 1.0) -> Pacer:
    return Pacer(clock=lambda: NOW, published=spec.RATE_LIMITS, fraction=fraction)


def clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def test_the_budget_with_least_room_is_named_with_what_is_left_and_when_it_resets() -> None:
    pacer = v2_pacer()
    announced(pacer, "append", remaining=312, reset_in=250, limit=1875)
    announced(pacer, "initialize", remaining=700, reset_in=250, limit=1875)

    found = binding(pacer, NOW)

    assert found is not None
    assert binding_text(found, NOW) == "append budget 312/1,875 left, resets in 4 min 10 s"


def test_nothing_is_said_while_every_budget_used_has_over_half_its_share_left() -> None:
    pacer = v2_pacer()
    announced(pacer, "append", remaining=1000, reset_in=250, limit=1875)

    assert binding(pacer, NOW) is None


def test_an_endpoint_the_run_has_not_used_and_v1_1_before_any_answer_say_nothing() -> None:
    assert binding(v2_pacer(), NOW) is None  # published limits, nothing sent yet
    v1 = Pacer(clock=lambda: NOW)  # v1.1: no published figure
    v1.budget("append").start(NOW)
    assert binding(v1, NOW) is None


def test_requests_counted_against_the_published_limit_before_an_answer_bind_too() -> None:
    pacer = v2_pacer()
    for _ in range(450):
        pacer.budget("upload").start(NOW)

    found = binding(pacer, NOW + 60)

    assert found is not None
    assert binding_text(found, NOW + 60) == "one-shot budget 50/500 left, resets in 14 min"


def test_a_budget_fraction_shows_this_run_s_share_not_the_whole_limit() -> None:
    pacer = v2_pacer(fraction=0.5)
    # 1,000 left of 1,875, of which 938 are the other clients': 62 of this run's 937
    announced(pacer, "append", remaining=1000, reset_in=42, limit=1875)

    found = binding(pacer, NOW)

    assert found is not None and (found.left, found.share) == (62, 937)
    assert binding_text(found, NOW) == "append budget 62/937 left, resets in 42 s"


def test_spent_budgets_say_until_when_they_wait_naming_the_others_spent_alike() -> None:
    pacer = v2_pacer()
    for endpoint in ("append", "initialize"):
        announced(pacer, endpoint, remaining=0, reset_in=250, limit=1875)
    announced(pacer, "upload", remaining=100, reset_in=250, limit=500)

    found = binding(pacer, NOW)

    assert found is not None and found.waiting
    assert binding_text(found, NOW) == (
        f"init, append budgets spent: waiting until {clock(NOW + 250)} (4 min 10 s)"
    )


def test_a_hold_by_retry_after_says_so() -> None:
    pacer = v2_pacer()
    pacer.budget("upload").hold(NOW + 30, "Retry-After")

    found = binding(pacer, NOW)

    assert found is not None
    assert (
        binding_text(found, NOW)
        == f"one-shot: waiting until {clock(NOW + 30)} (30 s) for Retry-After"
    )


def test_a_window_past_its_reset_is_a_new_one_and_says_nothing() -> None:
    pacer = v2_pacer()
    announced(pacer, "append", remaining=3, reset_in=10, limit=1875)

    assert binding(pacer, NOW + 11) is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.4, "0 s"), (59, "59 s"), (60, "1 min"), (250, "4 min 10 s"), (7500, "2 h 5 min")],
)
def test_durations_count_down_in_minutes_and_seconds(seconds: float, text: str) -> None:
    assert short_duration(seconds) == text


def test_the_summary_counts_overlapping_waits_once_and_names_the_budget_that_waited() -> None:
    now = [NOW]
    tally = WaitTally(clock=lambda: now[0])
    tally.waiting("append", NOW + 100)
    tally.waiting("initialize", NOW + 20)  # within append's wait: no more time
    now[0] = NOW + 200
    tally.waiting("append", NOW + 260)
    now[0] = NOW + 230  # the run ended 30 s before that reset

    tally.settle()

    assert tally.waited == pytest.approx(130)
    assert tally.summary() == (
        "waited 2 min 10 s for rate limits to reset; the append budget bound the run"
    )
    assert WaitTally().summary() is None  # no wait, no line


def test_the_progress_line_shows_the_binding_budget_and_a_wait_only_once() -> None:
    view = RichProgress(io.StringIO(), total_files=3)
    pacer = Pacer(published=spec.RATE_LIMITS)  # the real clock, as the display's
    now = time.time()
    pacer.observe(
        pacer.budget("append"),
        {
            "x-rate-limit-limit": "1875",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(int(now + 120)),
        },
    )

    with view.show_budgets(pacer):
        view.waiting("append", int(now + 120))
        line = view.progress.tasks[view.overall].description
    view.retried("p1", "HTTP 503 on append")
    after = view.progress.tasks[view.overall].description

    assert line.startswith("done 0/3 · append budget spent: waiting until ")
    assert "rate limit: waiting" not in line  # said once, with its budget
    assert "append budget" not in after  # the run is over: the budgets are not watched
    assert "append rate limit: waiting until " in after  # the wait as before


def test_a_wait_of_an_endpoint_spent_alike_with_the_binding_one_is_not_said_again() -> None:
    view = RichProgress(io.StringIO(), total_files=3)
    pacer = Pacer(published=spec.RATE_LIMITS)  # the real clock, as the display's
    now = time.time()
    for endpoint in ("append", "initialize"):
        pacer.observe(
            pacer.budget(endpoint),
            {
                "x-rate-limit-limit": "1875",
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": str(int(now + 120)),
            },
        )
    with view.show_budgets(pacer):
        view.waiting("initialize", int(now + 120))
        view.waiting("append", int(now + 120))
        line = view.progress.tasks[view.overall].description
    assert "budgets spent: waiting until" in line
    assert "rate limit: waiting" not in line, line
