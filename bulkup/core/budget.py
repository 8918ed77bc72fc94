"""The fewest rate-limit windows a workload needs: the lower bound of X's budgets.

On the real API one account's request budgets, not bandwidth, decide how long a bulk
run takes (spec §4): per user per 15 minutes, one-shot ``upload`` 500, ``initialize``,
``append`` and ``finalize`` 1,875 each, ``status`` 1,000, ``metadata`` 500. A still
image can go either way: one one-shot request, or chunked (one INIT, its segments'
APPENDs, one FINALIZE); videos and GIFs always go chunked and are polled at least once.
Alt text costs one metadata request whichever path the image took.

For ``x`` images sent chunked out of ``n``, every endpoint's count is linear in ``x``::

    upload     = n - x                      metadata = images with alt text
    initialize = finalize = x + videos      status   = videos x polls per video
    append     = x x segments per image + the videos' segments

The run fits in ``W`` whole windows when some split has every count <= ``W`` x its
limit. So the least ``W`` is ``ceil(T)``, where ``T = min over whole x of max over
endpoints of count / limit`` (the *fractional* windows). ``upload / limit`` falls as
``x`` grows and every other ratio rises or stays, so ``T`` is found exactly, with
fractions, at the crossing of the falling line with the highest rising one: a binary
search over ``x``, no LP solver. Sans-IO and pure: the planner, the dry run and
benchmark 8 share it.

    >>> lower_bound(Workload(images=9_500)).windows      # 2,000 one-shot + 7,500 chunked
    4
    >>> oneshot_bound(Workload(images=9_500)).windows    # what other clients do
    19
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from bulkup.core import spec

#: The endpoints a workload of images and videos spends, in the order they are shown.
ENDPOINTS: Final = ("upload", "initialize", "append", "finalize", "status", "metadata")
#: The published per-user budgets of those endpoints, per 15-minute window (spec §4).
PUBLISHED: Final[Mapping[str, int]] = {e: spec.RATE_LIMITS[e] for e in ENDPOINTS}


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """What a run uploads, counted: the only inputs the budgets care about."""

    images: int = 0
    #: Of the images, how many carry alt text (one metadata request each).
    images_with_alt_text: int = 0
    #: APPENDs an image needs when sent chunked (1 for any image under a chunk).
    segments_per_image: int = 1
    #: Videos and GIFs: always chunked, processed by the server.
    videos: int = 0
    #: APPENDs of all the videos together (at least one each).
    video_segments: int = 0
    #: STATUS polls per video (at least one).
    polls_per_video: int = 1

    def __post_init__(self) -> None:
        for name in ("images", "images_with_alt_text", "videos", "video_segments"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more, got {getattr(self, name)}")
        if self.images_with_alt_text > self.images:
            raise ValueError("images_with_alt_text cannot exceed images")
        if self.segments_per_image < 1 or self.polls_per_video < 1:
            raise ValueError("segments_per_image and polls_per_video must be at least 1")
        if self.video_segments < self.videos:
            raise ValueError("video_segments must be at least one per video")

    def counts(self, chunked_images: int) -> dict[str, int]:
        """Requests per endpoint when ``chunked_images`` of the images go chunked."""
        if not 0 <= chunked_images <= self.images:
            raise ValueError(f"chunked_images must be between 0 and {self.images}")
        sessions = chunked_images + self.videos
        return {
            "upload": self.images - chunked_images,
            "initialize": sessions,
            "append": chunked_images * self.segments_per_image + self.video_segments,
            "finalize": sessions,
            "status": self.videos * self.polls_per_video,
            "metadata": self.images_with_alt_text,
        }


@dataclass(frozen=True, slots=True)
class Bound:
    """A split of the images and the windows it needs."""

    #: Fewest whole windows in which every endpoint's count fits its limit.
    windows: int
    #: The largest count / limit over the endpoints: windows as a fraction.
    fractional: Fraction
    chunked_images: int
    oneshot_images: int
    #: Requests per endpoint for this split.
    counts: dict[str, int]
    #: The endpoints whose count / limit is the largest: the budgets that bind.
    binding: tuple[str, ...]

    def seconds(self, window_secs: float = spec.RATE_WINDOW_SECS) -> float:
        """How long the whole windows last (15 minutes each on X)."""
        return self.windows * window_secs


def split_bound(
    workload: Workload, chunked_images: int, limits: Mapping[str, int] = PUBLISHED
) -> Bound:
    """The windows needed when exactly ``chunked_images`` images go chunked."""
    counts = workload.counts(chunked_images)
    ratios = _ratios(counts, limits)
    worst = max(ratios.values())
    return Bound(
        windows=math.ceil(worst),
        fractional=worst,
        chunked_images=chunked_images,
        oneshot_images=workload.images - chunked_images,
        counts=counts,
        binding=tuple(e for e in ENDPOINTS if ratios[e] == worst and worst > 0),
    )


def oneshot_bound(workload: Workload, limits: Mapping[str, int] = PUBLISHED) -> Bound:
    """Every still image by one-shot upload: what other clients do."""
    return split_bound(workload, 0, limits)


def lower_bound(workload: Workload, limits: Mapping[str, int] = PUBLISHED) -> Bound:
    """The split of images that needs the fewest windows: no schedule does better.

    Among splits needing as few windows, the one that balances the one-shot path
    against the chunked one (so the uploads themselves end earliest).
    """
    crossing = _crossing(workload, limits)
    candidates = {max(0, crossing - 1), crossing}
    bounds = [split_bound(workload, x, limits) for x in sorted(candidates)]
    return min(bounds, key=lambda b: (b.fractional, _paths(b.counts, limits)))


def _ratios(counts: Mapping[str, int], limits: Mapping[str, int]) -> dict[str, Fraction]:
    ratios = {}
    for endpoint in ENDPOINTS:
        limit = limits[endpoint]
        if limit <= 0:
            raise ValueError(f"the {endpoint} limit must be at least 1, got {limit}")
        ratios[endpoint] = Fraction(counts[endpoint], limit)
    return ratios


def _paths(counts: Mapping[str, int], limits: Mapping[str, int]) -> Fraction:
    """The larger of the one-shot path's ratio and the chunked path's highest one."""
    ratios = _ratios(counts, limits)
    return max(ratios[e] for e in ("upload", "initialize", "append", "finalize"))


def _crossing(workload: Workload, limits: Mapping[str, int]) -> int:
    """The fewest chunked images at which the one-shot ratio is no longer the largest
    of the upload paths (``images`` if it stays the largest)."""
    low, high = 0, workload.images
    while low < high:
        middle = (low + high) // 2
        ratios = _ratios(workload.counts(middle), limits)
        chunked = max(ratios[e] for e in ("initialize", "append", "finalize"))
        if ratios["upload"] <= chunked:
            high = middle
        else:
            low = middle + 1
    return low
