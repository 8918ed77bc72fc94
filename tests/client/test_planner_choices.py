"""The planner's per-item choice of path, from scripted budgets (no server).

``--strategy auto`` sends a still image one-shot while that budget has room and
chunked (initialize, append, finalize) beside it while only those have room; when
neither has, by the path that can go sooner.
"""

from __future__ import annotations

from bulkup.client.pacing import Pacer
from bulkup.core import spec

NOW = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def announce(pacer: Pacer, endpoint: str, remaining: int, limit: int, reset: float) -> None:
    headers = {
        "x-rate-limit-limit": str(limit),
        "x-rate-limit-remaining": str(remaining),
        "x-rate-limit-reset": str(int(reset)),
    }
    pacer.observe(pacer.budget(endpoint), headers)


def v2(fraction: float = 1.0) -> tuple[Pacer, Clock]:
    clock = Clock()
    return Pacer(clock=clock, published=spec.RATE_LIMITS, fraction=fraction), clock


def choices(pacer: Pacer, count: int) -> list[str]:
    return ["one-shot" if pacer.one_shot_or_chunked() else "chunked" for _ in range(count)]


def test_images_go_one_shot_while_its_budget_has_room() -> None:
    pacer, _ = v2()
    assert choices(pacer, 3) == ["one-shot"] * 3


def test_images_planned_together_each_hold_a_one_shot_place_then_go_chunked() -> None:
    pacer, _ = v2()
    announce(pacer, "upload", remaining=2, limit=500, reset=NOW + 600)
    assert choices(pacer, 4) == ["one-shot", "one-shot", "chunked", "chunked"]


def test_a_spent_one_shot_budget_sends_images_chunked_beside_it() -> None:
    pacer, _ = v2()
    announce(pacer, "upload", remaining=0, limit=500, reset=NOW + 600)
    assert choices(pacer, 2) == ["chunked", "chunked"]


def test_with_both_paths_spent_images_take_the_one_that_renews_sooner() -> None:
    pacer, _ = v2()
    announce(pacer, "upload", remaining=0, limit=500, reset=NOW + 600)
    announce(pacer, "initialize", remaining=0, limit=1875, reset=NOW + 300)
    assert choices(pacer, 1) == ["chunked"]  # initialize renews in 5 minutes, one-shot in 10
    pacer, _ = v2()
    announce(pacer, "upload", remaining=0, limit=500, reset=NOW + 200)
    announce(pacer, "initialize", remaining=0, limit=1875, reset=NOW + 300)
    assert choices(pacer, 1) == ["one-shot"]


def test_with_the_one_shot_places_all_promised_and_chunked_spent_the_sooner_renewal_wins() -> None:
    pacer, _ = v2()
    announce(pacer, "upload", remaining=1, limit=500, reset=NOW + 100)
    announce(pacer, "append", remaining=0, limit=1875, reset=NOW + 300)
    assert choices(pacer, 3) == ["one-shot"] * 3  # the last place, then the reset in 100 s


def test_a_budget_fraction_leaves_the_rest_of_the_one_shot_budget_to_others() -> None:
    pacer, _ = v2(fraction=0.5)
    announce(pacer, "upload", remaining=251, limit=500, reset=NOW + 600)  # 250 kept back
    assert choices(pacer, 2) == ["one-shot", "chunked"]


def test_after_the_one_shot_window_turns_over_images_go_one_shot_again() -> None:
    pacer, clock = v2()
    announce(pacer, "upload", remaining=0, limit=500, reset=NOW + 600)
    assert choices(pacer, 1) == ["chunked"]
    clock.now = NOW + 601
    assert choices(pacer, 1) == ["one-shot"]


def test_a_rerun_starting_from_the_kept_budgets_sends_images_chunked_at_once() -> None:
    first, clock = v2()
    announce(first, "upload", remaining=0, limit=500, reset=NOW + 600)
    kept = first.snapshot()
    clock.now = NOW + 30  # a rerun after exit 75, within the window
    later = Pacer(clock=clock, published=spec.RATE_LIMITS)
    later.restore(kept)
    assert choices(later, 1) == ["chunked"]  # not a one-shot that would draw a 429


def test_an_image_planned_one_shot_that_never_sends_gives_its_place_back() -> None:
    pacer, _ = v2()
    announce(pacer, "upload", remaining=1, limit=500, reset=NOW + 600)
    assert choices(pacer, 2) == ["one-shot", "chunked"]  # the last place is promised
    pacer.unpromise()  # its result was in the checkpoint: nothing was sent
    assert choices(pacer, 1) == ["one-shot"]


def test_with_room_on_both_paths_the_window_that_ends_sooner_is_spent_first() -> None:
    pacer, clock = v2()
    announce(pacer, "upload", remaining=0, limit=500, reset=NOW + 10)
    assert choices(pacer, 1) == ["chunked"]  # the budgets bind this run
    clock.now = NOW + 11
    announce(pacer, "upload", remaining=400, limit=500, reset=NOW + 800)  # a fresh window
    for endpoint in ("initialize", "append", "finalize"):
        announce(pacer, endpoint, remaining=7, limit=1875, reset=NOW + 20)  # ending
    assert choices(pacer, 1) == ["chunked"]  # its 7 places would be lost in 9 s
    pacer, _ = v2()
    announce(pacer, "upload", remaining=400, limit=500, reset=NOW + 20)
    announce(pacer, "initialize", remaining=1000, limit=1875, reset=NOW + 800)
    assert choices(pacer, 1) == ["one-shot"]


def test_while_the_budgets_do_not_bind_images_go_one_shot_whatever_the_windows() -> None:
    pacer, _ = v2()
    announce(pacer, "upload", remaining=400, limit=500, reset=NOW + 800)
    announce(pacer, "initialize", remaining=1000, limit=1875, reset=NOW + 20)
    assert choices(pacer, 2) == ["one-shot"] * 2  # one request an image, not three
