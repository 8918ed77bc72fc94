"""A dry run's plan: the requests each item will make, what the limits imply, what is billed.

Sans-IO arithmetic over the :class:`~bulkup.core.steps.Plan` that
:func:`bulkup.client.prepare.prepare` fixes for the real run (strategy, chunk size,
category), so a dry run and the run it plans agree:

* a chunked upload makes one ``initialize``, one ``append`` per segment and one
  ``finalize``; a simple upload one ``upload`` (the one-shot endpoint);
* media that the server processes (video and GIF categories, :data:`spec.ASYNC_CATEGORIES`)
  is polled with ``status``: :data:`ASSUMED_STATUS_POLLS` per item is assumed (the real
  count depends on how long the server takes, and is at least that);
* an item with alt text, a sensitive-media warning or ``allow_download`` makes one
  ``metadata`` request, billed on pay-per-use plans (spec section 3);
* each subtitle file is an upload of its own, then one ``subtitles_create``.

The time the published limits (spec section 4, :data:`spec.RATE_LIMITS`, per user per
15 minutes) imply is the fewest windows in which every endpoint's count fits its
limit; the run cannot end before the start of the last one, ``(windows - 1) × 15 min``
after its first request. v1.1 publishes no limits: then there is no such bound.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from bulkup.core import spec
from bulkup.core.items import ErrorInfo
from bulkup.core.steps import Plan
from bulkup.core.units import human_duration

__all__ = [
    "ASSUMED_STATUS_POLLS",
    "METADATA_PRICE_USD",
    "Budget",
    "PlanStatus",
    "PlannedItem",
    "Totals",
    "billed",
    "budget",
    "item_requests",
    "upload_requests",
]

#: STATUS polls assumed per processed item (video, GIF): at least one, more when slow.
ASSUMED_STATUS_POLLS: Final = 1
#: What one billed request costs on a pay-per-use plan (about, 2026; spec section 3).
METADATA_PRICE_USD: Final = 0.005
#: Endpoints whose requests are billed per request.
BILLED_ENDPOINTS: Final = ("metadata",)
#: What the assumption about STATUS says, for people and for JSON.
STATUS_ASSUMPTION: Final = (
    f"{ASSUMED_STATUS_POLLS} status poll per processed item (video, GIF); "
    "more when processing is slow"
)

PlanStatus = Literal["planned", "failed", "skipped"]
#: How people read the endpoint keys of :data:`spec.RATE_LIMITS`.
_LABELS: Final = {"upload": "one-shot", "subtitles_create": "subtitles"}


def upload_requests(plan: Plan) -> Counter[str]:
    """The requests that send one file as ``plan`` says, by endpoint key."""
    if plan.strategy == "simple":
        counts = Counter({"upload": 1})
    else:
        counts = Counter({"initialize": 1, "append": plan.segments, "finalize": 1})
    if plan.media_category in spec.ASYNC_CATEGORIES:
        counts["status"] = ASSUMED_STATUS_POLLS
    return counts


def item_requests(plan: Plan, *, metadata: bool, subtitles: Iterable[Plan] = ()) -> Counter[str]:
    """An item's requests: its file, its metadata request, each subtitle file and its
    attachment."""
    counts = upload_requests(plan)
    if metadata:
        counts["metadata"] += 1
    for sub in subtitles:
        counts += upload_requests(sub)
        counts["subtitles_create"] += 1
    return counts


def billed(requests: Mapping[str, int]) -> int:
    """How many of ``requests`` are billed per request."""
    return sum(requests.get(endpoint, 0) for endpoint in BILLED_ENDPOINTS)


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """What the published per-user limits imply for a run's requests.

    ``windows`` is the fewest 15-minute windows that hold every endpoint's count,
    ``seconds`` the shortest time the run can take because of them; both None when
    the dialect publishes no limits (v1.1).
    """

    windows: int | None
    seconds: int | None
    #: The endpoint that needs the most windows.
    busiest: str | None = None

    def describe(self, dialect: str) -> str:
        if self.windows is None:
            return f"{dialect} publishes no rate limits: no bound from them"
        if self.windows == 0:
            return "no requests"
        if self.windows == 1:
            return "within one window (15 minutes)"
        busiest = _LABELS.get(self.busiest or "", self.busiest)
        return (
            f"{self.windows} windows, at least {human_duration(self.seconds or 0)}; "
            f"bottleneck: {busiest}"
        )


def budget(requests: Mapping[str, int], dialect: str) -> Budget:
    """The windows and seconds the published limits of ``dialect`` imply."""
    if dialect != "v2":
        return Budget(windows=None, seconds=None)
    needs = {
        endpoint: math.ceil(count / spec.RATE_LIMITS[endpoint])
        for endpoint, count in requests.items()
        if count > 0
    }
    if not needs:
        return Budget(windows=0, seconds=0)
    busiest = max(needs, key=lambda endpoint: needs[endpoint])
    windows = needs[busiest]
    return Budget(windows=windows, seconds=(windows - 1) * spec.RATE_WINDOW_SECS, busiest=busiest)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedItem:
    """One item of the plan: what the run would do with it, or why it would fail."""

    id: str
    path: str | None
    status: PlanStatus
    error: ErrorInfo | None = None
    media_type: str | None = None
    media_category: str | None = None
    strategy: str | None = None
    size: int | None = None
    #: APPEND requests of the file itself (None: not chunked).
    segments: int | None = None
    requests: Mapping[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def billed_requests(self) -> int:
        return billed(self.requests)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "status": self.status,
            "error": self.error.as_json() if self.error else None,
            "media_type": self.media_type,
            "media_category": self.media_category,
            "strategy": self.strategy,
            "size": self.size,
            "segments": self.segments,
            "requests": ordered(self.requests),
            "billed_requests": self.billed_requests,
            "warnings": list(self.warnings),
        }


def ordered(requests: Mapping[str, int]) -> dict[str, int]:
    """``requests`` without zeros, in the order of :data:`spec.ENDPOINTS`."""
    return {key: requests[key] for key in spec.ENDPOINTS if requests.get(key)}


@dataclass(slots=True)
class Totals:
    """The plan's totals: items by status, bytes to send, requests, billed requests."""

    dialect: str
    counts: Counter[str] = field(default_factory=Counter)
    size: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    #: The first failures, for a summary: (id, message).
    failures: list[tuple[str, str]] = field(default_factory=list)

    def add(self, item: PlannedItem) -> None:
        self.counts[item.status] += 1
        self.requests.update(item.requests)
        if item.status == "planned":
            self.size += item.size or 0
        elif item.status == "failed" and item.error is not None:
            self.failures.append((item.id, item.error.message))

    @property
    def items(self) -> int:
        return self.counts.total()

    @property
    def billed(self) -> int:
        return billed(self.requests)

    @property
    def budget(self) -> Budget:
        return budget(self.requests, self.dialect)

    def as_json(self) -> dict[str, Any]:
        limits = self.budget
        return {
            "total": {
                "items": self.items,
                "planned": self.counts["planned"],
                "failed": self.counts["failed"],
                "skipped": self.counts["skipped"],
                "size": self.size,
                "requests": ordered(self.requests),
                "billed_requests": self.billed,
                "billed_usd": round(self.billed * METADATA_PRICE_USD, 3),
                "dialect": self.dialect,
                "windows": limits.windows,
                "seconds": limits.seconds,
                "assumed": STATUS_ASSUMPTION,
            }
        }
