"""What the rate limits imply for a dry run's requests, with ``--strategy auto``'s split.

Sans-IO arithmetic for :mod:`bulkup.run.plan`. Some requests are fixed by the plan
(videos and GIFs chunked and polled, large images chunked, metadata, subtitles, every
image of ``--strategy simple`` or ``chunked``). A still image that ``--strategy auto``
may send either way (v2) costs one one-shot ``upload``, or one ``initialize``, its
segments' ``append`` and one ``finalize``: the run decides per image from the budgets
left (one-shot while its budget has room, chunked beside it; see
:meth:`bulkup.client.pacing.Pacer.one_shot_or_chunked`). So the plan counts, as the
run will, the most images one-shot that fit in the windows the uploads need, and the
rest chunked beside them.

The windows come from :func:`bulkup.core.budget.lower_bound` over the per-user
15-minute limits of spec section 4, each scaled to this run's share
(``--budget-fraction``: the floor, at least one request a window): no schedule does
better, and the split above needs no more (it keeps the chunked budgets below the
bound's and the one-shot one within the same windows). For comparison,
:func:`~bulkup.core.budget.oneshot_bound`: every such image one-shot, as other
clients send them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Final

from bulkup.core import spec
from bulkup.core.budget import ENDPOINTS, Bound, Workload, lower_bound, oneshot_bound
from bulkup.core.units import human_duration

__all__ = ["Budget", "Flexible", "budget", "scaled_limits", "split_budget"]

#: The endpoints of the two paths a still image can take.
_PATHS: Final = ("upload", "initialize", "append", "finalize")
#: How people read the endpoint keys of :data:`spec.RATE_LIMITS`.
LABELS: Final = {"upload": "one-shot", "initialize": "init", "subtitles_create": "subtitles"}


def label(endpoint: str) -> str:
    return LABELS.get(endpoint, endpoint)


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """What the published per-user limits imply for a run's requests.

    ``windows`` is the fewest 15-minute windows that hold every endpoint's count,
    ``seconds`` the shortest time the run can take because of them; both None when
    the dialect publishes no limits (v1.1).
    """

    windows: int | None
    seconds: int | None
    #: The endpoint that needs the most windows (the first of ``binding``).
    busiest: str | None = None
    #: The endpoints whose count / limit is the largest: the budgets that bind.
    binding: tuple[str, ...] = ()
    #: This run's share of each limit (``--budget-fraction``).
    fraction: float = 1.0
    #: ``--strategy auto``'s images that go either way, as planned: (one-shot, chunked).
    split: tuple[int, int] | None = None
    #: The windows with every such image one-shot (what other clients do).
    one_shot_only: int | None = None

    def describe(self, dialect: str) -> str:
        if self.windows is None:
            return f"{dialect} publishes no rate limits: no bound from them"
        if self.windows == 0:
            return "no requests"
        if self.windows == 1:
            return "within one window (15 minutes)"
        binding = ", ".join(label(e) for e in self.binding)
        return f"{windows_text(self.windows)}; binding: {binding}"


def windows_text(windows: int) -> str:
    """``4 windows, at least 45 min``: the run cannot end before the last one starts."""
    if windows <= 1:
        return "within one window (15 minutes)"
    return f"{windows:,} windows, at least {human_duration(_seconds(windows))}"


def _seconds(windows: int) -> int:
    return max(windows - 1, 0) * spec.RATE_WINDOW_SECS


def scaled_limits(fraction: float = 1.0) -> dict[str, int]:
    """Each published per-user limit, this run's share of it: floor, at least 1."""
    return {e: max(math.floor(limit * fraction), 1) for e, limit in spec.RATE_LIMITS.items()}


def budget(requests: Mapping[str, int], dialect: str, fraction: float = 1.0) -> Budget:
    """The windows and seconds the published limits of ``dialect`` imply for
    ``requests`` (all fixed: no image goes either way)."""
    if dialect != "v2":
        return Budget(windows=None, seconds=None, fraction=fraction)
    ratios = _ratios(requests, scaled_limits(fraction))
    if not ratios:
        return Budget(windows=0, seconds=0, fraction=fraction)
    worst = max(ratios.values())
    binding = tuple(e for e in ratios if ratios[e] == worst)
    windows = math.ceil(worst)
    return Budget(
        windows=windows,
        seconds=_seconds(windows),
        busiest=binding[0],
        binding=binding if windows > 1 else (),
        fraction=fraction,
    )


def _ratios(requests: Mapping[str, int], limits: Mapping[str, int]) -> dict[str, Fraction]:
    """Each endpoint's count / limit (its windows, as a fraction), in the order shown."""
    order = ENDPOINTS + tuple(e for e in spec.ENDPOINTS if e not in ENDPOINTS)
    return {e: Fraction(requests[e], limits[e]) for e in order if requests.get(e, 0) > 0}


@dataclass(frozen=True, slots=True)
class Flexible:
    """The still images ``--strategy auto`` may send either way, counted."""

    images: int = 0
    #: Their APPENDs if all went chunked.
    segments: int = 0

    @property
    def segments_per_image(self) -> int:
        """APPENDs an image takes chunked (the mean, rounded up: 1 for images under a chunk)."""
        return max(1, -(-self.segments // self.images)) if self.images else 1


@dataclass(frozen=True, slots=True, kw_only=True)
class _Mixed(Workload):
    """A :class:`Workload` of images that go either way, beside requests fixed by the plan."""

    fixed: Mapping[str, int] = field(default_factory=dict)

    def counts(self, chunked_images: int) -> dict[str, int]:
        counts = Workload.counts(self, chunked_images)
        return {e: counts[e] + self.fixed.get(e, 0) for e in ENDPOINTS}


def split_budget(
    fixed: Mapping[str, int], flexible: Flexible, fraction: float = 1.0
) -> tuple[Budget, Counter[str]]:
    """The budget on v2 when ``flexible`` images go one-shot or chunked beside ``fixed``
    requests, and the requests of the split the run makes. The budgets that bind are
    the bound's: those whose count fills every window at the best split."""
    limits = scaled_limits(fraction)
    work = _workload(fixed, flexible)
    one_shot = _one_shot_images(fixed, flexible, limits)
    extra = Counter({e: n for e, n in fixed.items() if e not in ENDPOINTS})
    requests = extra + Counter(work.counts(flexible.images - one_shot))
    planned = budget(requests, "v2", fraction)
    alone = budget(extra + Counter(oneshot_bound(work, limits).counts), "v2", fraction)
    binding = _binding(lower_bound(work, limits), extra, limits)
    return (
        Budget(
            windows=planned.windows,
            seconds=planned.seconds,
            busiest=binding[0],
            binding=binding if (planned.windows or 0) > 1 else (),
            fraction=fraction,
            split=(one_shot, flexible.images - one_shot),
            one_shot_only=alone.windows,
        ),
        requests,
    )


def _binding(best: Bound, extra: Mapping[str, int], limits: Mapping[str, int]) -> tuple[str, ...]:
    """The endpoints whose count / limit is the largest at the best split. When the
    images are split between the paths, both paths are full together (the one-shot
    budget and the fullest of the chunked ones), whichever a whole image tips."""
    ratios = _ratios({**extra, **best.counts}, limits)
    if best.chunked_images and best.oneshot_images:
        chunked = max(ratios.get(e, Fraction(0)) for e in _PATHS[1:])
        full = max(ratios["upload"], chunked)
        for endpoint in _PATHS:
            if endpoint == "upload" or ratios.get(endpoint) == chunked:
                ratios[endpoint] = full
    worst = max(ratios.values())
    return tuple(e for e in ratios if ratios[e] == worst)


def _workload(fixed: Mapping[str, int], flexible: Flexible) -> _Mixed:
    return _Mixed(
        images=flexible.images,
        segments_per_image=flexible.segments_per_image,
        fixed={e: fixed.get(e, 0) for e in ENDPOINTS},
    )


def _one_shot_images(
    fixed: Mapping[str, int], flexible: Flexible, limits: Mapping[str, int]
) -> int:
    """The images the run sends one-shot: while the one-shot budget has room in the
    windows the uploads need (the other budgets do not hold the uploads back), the
    rest chunked beside them."""
    if not flexible.images:
        return 0
    paths = _workload({e: fixed.get(e, 0) for e in _PATHS}, flexible)
    windows = lower_bound(paths, limits).windows
    room = windows * limits["upload"] - fixed.get("upload", 0)
    return min(flexible.images, max(room, 0))
