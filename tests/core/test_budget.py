"""The fewest windows X's budgets allow for a workload (bulkup.core.budget), no server."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from bulkup.core.budget import (
    PUBLISHED,
    Workload,
    lower_bound,
    oneshot_bound,
    split_bound,
)


def test_images_sized_to_whole_windows_need_4_windows_against_19_by_one_shot() -> None:
    """The issue's numbers: 9,500 images fit 4 windows as 4 x 500 one-shot beside
    4 x 1,875 chunked; by one-shot alone they take 9,500 / 500 = 19 windows."""
    images = Workload(images=9_500)

    best, oneshot = lower_bound(images), oneshot_bound(images)

    assert (best.windows, best.oneshot_images, best.chunked_images) == (4, 2_000, 7_500)
    assert best.fractional == 4
    assert best.binding == ("upload", "initialize", "append", "finalize")
    assert oneshot.windows == 19 and oneshot.binding == ("upload",)
    assert oneshot.windows / best.windows >= 4.5
    assert best.seconds() == 4 * 15 * 60


def test_the_issues_mixed_corpus_is_bound_by_alt_text_in_5_windows() -> None:
    """10,000 images, 2,500 with alt text, 300 videos of 3 segments, polled once.

    By hand: alt text alone needs 2,500 / 500 = 5 windows (metadata). The upload paths
    need less: with x images chunked, one-shot needs (10,000 - x) / 500 windows and
    APPEND, the highest chunked ratio, (x + 900) / 1,875; they cross at
    x = 18,300,000 / 2,375 = 7,705.3, and at x = 7,706 one-shot needs 2,294 / 500 =
    4.588 and APPEND 8,606 / 1,875 = 4.590 windows. So 5 windows, metadata binding;
    one-shot for every image needs 10,000 / 500 = 20.
    """
    mixed = Workload(images=10_000, images_with_alt_text=2_500, videos=300, video_segments=900)

    best = lower_bound(mixed)

    assert best.windows == 5 and best.fractional == 5
    assert best.binding == ("metadata",)
    assert (best.oneshot_images, best.chunked_images) == (2_294, 7_706)
    assert best.counts == {
        "upload": 2_294,
        "initialize": 8_006,
        "append": 8_606,
        "finalize": 8_006,
        "status": 300,
        "metadata": 2_500,
    }
    assert oneshot_bound(mixed).windows == 20
    without_alt = lower_bound(Workload(images=10_000, videos=300, video_segments=900))
    assert without_alt.fractional == Fraction(8_606, 1_875) and without_alt.windows == 5
    assert without_alt.binding == ("append",)


def test_the_bound_is_the_best_of_every_split_tried_one_by_one() -> None:
    rng = random.Random(8)
    limits = {"upload": 5, "initialize": 19, "append": 17, "finalize": 19, "status": 10}
    limits["metadata"] = 5
    for _ in range(300):
        images = rng.randrange(0, 120)
        videos = rng.randrange(0, 20)
        work = Workload(
            images=images,
            images_with_alt_text=rng.randrange(0, images + 1),
            segments_per_image=rng.randrange(1, 4),
            videos=videos,
            video_segments=videos * rng.randrange(1, 5),
        )
        every = [split_bound(work, x, limits) for x in range(images + 1)]
        best = lower_bound(work, limits)
        assert best.fractional == min(b.fractional for b in every), work
        assert best.windows == min(b.windows for b in every), work


def test_smaller_limits_scale_the_bound_as_a_budget_fraction_would() -> None:
    """Benchmark 8's small mode: limits / 20 (25 one-shot, 94 per chunked endpoint)."""
    small = {"upload": 25, "initialize": 94, "append": 94, "finalize": 94, "status": 50}
    small["metadata"] = 25
    assert lower_bound(Workload(images=475), small).windows == 4
    assert oneshot_bound(Workload(images=475), small).windows == 19


def test_nothing_to_upload_needs_no_window_and_videos_alone_go_chunked() -> None:
    nothing = lower_bound(Workload())
    assert (nothing.windows, nothing.binding) == (0, ())
    videos = lower_bound(Workload(videos=300, video_segments=1_200))
    assert videos.windows == 1 and videos.counts["upload"] == 0
    assert videos.counts["initialize"] == videos.counts["finalize"] == 300


def test_impossible_workloads_and_limits_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="images_with_alt_text cannot exceed images"):
        Workload(images=1, images_with_alt_text=2)
    with pytest.raises(ValueError, match="video_segments must be at least one per video"):
        Workload(videos=3, video_segments=2)
    with pytest.raises(ValueError, match="the metadata limit must be at least 1"):
        lower_bound(Workload(images=1), {**PUBLISHED, "metadata": 0})
    with pytest.raises(ValueError, match="chunked_images must be between 0 and 1"):
        split_bound(Workload(images=1), 2)
