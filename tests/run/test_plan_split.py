"""A dry run's rate-limit plan with ``--strategy auto`` (bulkup.run.plan_split and the
totals of bulkup.run.plan), from scripted workloads: no files, no server.

A still image auto may send either way is planned as the run sends it: one-shot while
that budget has room in the windows the uploads need, chunked beside it; the windows
are :func:`bulkup.core.budget.lower_bound`'s, the budgets that bind are named, and
what one-shot alone would take is given beside them.
"""

from __future__ import annotations

from collections import Counter

from bulkup.run.plan import PlannedItem, Totals
from bulkup.run.plan_split import Flexible, scaled_limits, split_budget


def either_way(item_id: str, *, alt_text: bool = False, segments: int = 1) -> PlannedItem:
    """A small still image as the dry run plans it under ``--strategy auto`` on v2."""
    extra = {"metadata": 1} if alt_text else {}
    return PlannedItem(
        id=item_id,
        path=f"{item_id}.png",
        status="planned",
        strategy="auto",
        size=100,
        segments=segments,
        requests={"upload": 1, **extra},
        requests_if_chunked={"initialize": 1, "append": segments, "finalize": 1, **extra},
    )


def video(item_id: str, segments: int) -> PlannedItem:
    requests = {"initialize": 1, "append": segments, "finalize": 1, "status": 1}
    return PlannedItem(
        id=item_id, path=item_id, status="planned", strategy="chunked", requests=requests
    )


def test_9500_images_go_2000_one_shot_and_7500_chunked_in_4_windows_against_19() -> None:
    limits, requests = split_budget(Counter(), Flexible(images=9_500, segments=9_500))

    assert limits.split == (2_000, 7_500)
    assert requests == {"upload": 2_000, "initialize": 7_500, "append": 7_500, "finalize": 7_500}
    assert (limits.windows, limits.seconds, limits.one_shot_only) == (4, 3 * 900, 19)
    assert limits.binding == ("upload", "initialize", "append", "finalize")
    assert limits.describe("v2") == (
        "4 windows, at least 45 min; binding: one-shot, init, append, finalize"
    )


def test_a_few_images_all_go_one_shot_as_the_run_sends_them_and_nothing_binds() -> None:
    limits, requests = split_budget(Counter(), Flexible(images=300, segments=300))

    assert limits.split == (300, 0) and requests == {"upload": 300}
    assert (limits.windows, limits.binding) == (1, ())
    assert limits.describe("v2") == "within one window (15 minutes)"


def test_alt_text_binds_when_it_needs_more_windows_than_the_uploads() -> None:
    """500 one-shot fill the first window's one-shot budget; the other 501 go chunked
    beside them; the 1,001 metadata requests need three windows of 500."""
    limits, requests = split_budget(Counter(metadata=1_001), Flexible(1_001, 1_001))

    assert limits.split == (500, 501)
    assert requests["upload"] == 500 and requests["append"] == 501
    assert (limits.windows, limits.binding, limits.one_shot_only) == (3, ("metadata",), 3)


def test_a_budget_fraction_scales_every_limit_down_to_at_least_one() -> None:
    assert scaled_limits(0.5)["upload"] == 250 and scaled_limits(0.5)["append"] == 937
    assert scaled_limits(0.0001)["subtitles_create"] == 1

    half, _ = split_budget(Counter(), Flexible(9_500, 9_500), fraction=0.5)

    # 250 one-shot and 937 chunked a window: 9,500 / 1,187 = 8.003, so 9 windows
    assert (half.windows, half.split, half.one_shot_only) == (9, (2_250, 7_250), 38)
    assert half.binding == ("upload", "initialize", "append", "finalize")


def test_videos_appends_can_bind_with_the_one_shot_budget() -> None:
    """3,000 images beside 300 videos of 30 segments: the videos' 9,000 APPENDs leave
    the chunked path no room worth taking, so every image goes one-shot (6 windows)."""
    fixed = Counter(initialize=300, append=9_000, finalize=300, status=300)

    limits, requests = split_budget(fixed, Flexible(3_000, 3_000))

    assert limits.split == (3_000, 0) and requests["append"] == 9_000
    assert (limits.windows, limits.binding) == (6, ("upload", "append"))


def test_totals_count_the_split_and_give_it_as_json_beside_the_windows() -> None:
    totals = Totals("v2")
    for n in range(9_500):
        totals.add(either_way(f"p{n}", alt_text=n < 100))
    totals.add(video("clip.mp4", segments=3))

    total = totals.as_json()["total"]

    # one video tips the bound to 5 windows (4.0013): 5 x 500 go one-shot
    assert total["split"] == {
        "one_shot_images": 2_500,
        "chunked_images": 7_000,
        "decided": "at run time, from the budgets left",
    }
    assert total["requests"] == {
        "initialize": 7_001,
        "append": 7_003,
        "finalize": 7_001,
        "status": 1,
        "upload": 2_500,
        "metadata": 100,
    }
    assert (total["windows"], total["seconds"]) == (5, 3_600)
    assert total["binding"] == ["upload", "append"]  # the video's APPENDs: the fullest
    assert total["one_shot_only"] == {"windows": 19, "seconds": 18 * 900}
    assert (total["budget_fraction"], total["limits"]["upload"]) == (1.0, 500)
    assert total["billed_requests"] == 100  # alt text is billed whichever path


def test_on_v1_1_there_is_no_split_and_no_limits() -> None:
    totals = Totals("v1.1")
    totals.add(either_way("p0"))

    total = totals.as_json()["total"]

    assert total["requests"] == {"upload": 1}
    assert (total["windows"], total["split"], total["binding"], total["limits"]) == (
        None,
        None,
        None,
        None,
    )


def test_without_images_that_go_either_way_the_plan_is_as_given() -> None:
    totals = Totals("v2", fraction=0.5)
    for n in range(1_000):
        totals.add(video(f"v{n}", segments=2))

    total = totals.as_json()["total"]

    assert total["split"] is None and total["one_shot_only"] is None
    # 2,000 APPENDs against 937 a window (half of 1,875): 3 windows
    assert (total["windows"], total["binding"], total["budget_fraction"]) == (3, ["append"], 0.5)
