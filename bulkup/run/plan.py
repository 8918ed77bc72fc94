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

With ``--strategy auto`` on v2, a small still image goes one-shot or chunked as the
budgets left decide at run time: its line gives both paths (``strategy`` ``auto``,
``requests`` one-shot, ``requests_if_chunked``), and the totals count the split the
run makes (:mod:`bulkup.run.plan_split`).

The time the published limits (spec section 4, :data:`spec.RATE_LIMITS`, per user per
15 minutes, this run's share of them with ``--budget-fraction``) imply is the fewest
windows in which every endpoint's count fits its limit; the run cannot end before the
start of the last one, ``(windows - 1) × 15 min`` after its first request. v1.1
publishes no limits: then there is no such bound.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from bulkup.core import spec
from bulkup.core.items import ErrorInfo
from bulkup.core.steps import Plan
from bulkup.run.plan_split import Budget, Flexible, budget, scaled_limits, split_budget

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
    #: ``--strategy auto``, v2: the requests if the run sends it chunked (``requests``:
    #: one-shot); the budgets left decide at run time. None: one path only.
    requests_if_chunked: Mapping[str, int] | None = None
    warnings: tuple[str, ...] = ()
    #: The item's account (manifest field ``account``); in the JSON only when set.
    account: str | None = None

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
            "requests_if_chunked": (
                None if self.requests_if_chunked is None else ordered(self.requests_if_chunked)
            ),
            "billed_requests": self.billed_requests,
            "warnings": list(self.warnings),
        } | ({} if self.account is None else {"account": self.account})


def ordered(requests: Mapping[str, int]) -> dict[str, int]:
    """``requests`` without zeros, in the order of :data:`spec.ENDPOINTS`."""
    return {key: requests[key] for key in spec.ENDPOINTS if requests.get(key)}


@dataclass(slots=True)
class Totals:
    """The plan's totals: items by status, bytes to send, requests, billed requests, and
    what the limits imply for them."""

    dialect: str
    #: This run's share of each rate limit (``--budget-fraction``).
    fraction: float = 1.0
    counts: Counter[str] = field(default_factory=Counter)
    size: int = 0
    #: The requests fixed by the plan; ``flexible`` images add theirs by the split.
    fixed: Counter[str] = field(default_factory=Counter)
    flexible: Flexible = field(default_factory=Flexible)
    #: The first failures, for a summary: (id, message).
    failures: list[tuple[str, str]] = field(default_factory=list)

    def add(self, item: PlannedItem) -> None:
        self.counts[item.status] += 1
        if item.requests_if_chunked is not None:  # one-shot or chunked: the run decides
            self.fixed.update(item.requests)
            self.fixed["upload"] -= 1
            self.flexible = Flexible(
                self.flexible.images + 1, self.flexible.segments + (item.segments or 1)
            )
        else:
            self.fixed.update(item.requests)
        if item.status == "planned":
            self.size += item.size or 0
        elif item.status == "failed" and item.error is not None:
            self.failures.append((item.id, item.error.message))

    @property
    def items(self) -> int:
        return self.counts.total()

    @property
    def billed(self) -> int:
        return billed(self.fixed)  # metadata does not depend on the split

    def schedule(self) -> tuple[Budget, Counter[str]]:
        """What the limits imply, and the requests by endpoint (with the split the run
        makes of the images that go either way)."""
        if self.flexible.images and self.dialect == "v2":
            return split_budget(self.fixed, self.flexible, self.fraction)
        requests = self.fixed + Counter({"upload": self.flexible.images})
        return budget(requests, self.dialect, self.fraction), requests

    @property
    def requests(self) -> Counter[str]:
        return self.schedule()[1]

    @property
    def budget(self) -> Budget:
        return self.schedule()[0]

    def as_json(self) -> dict[str, Any]:
        limits, requests = self.schedule()
        return {
            "total": {
                "items": self.items,
                "planned": self.counts["planned"],
                "failed": self.counts["failed"],
                "skipped": self.counts["skipped"],
                "size": self.size,
                "requests": ordered(requests),
                "billed_requests": self.billed,
                "billed_usd": round(self.billed * METADATA_PRICE_USD, 3),
                "dialect": self.dialect,
                "windows": limits.windows,
                "seconds": limits.seconds,
                "assumed": STATUS_ASSUMPTION,
                **limits_json(limits),
            }
        }


def limits_json(limits: Budget) -> dict[str, Any]:
    """The plan's rate-limit fields beside ``windows`` and ``seconds``: the budgets that
    bind, this run's share and its limits, ``--strategy auto``'s split and, beside it,
    the windows with every such image one-shot."""
    published = limits.windows is not None
    split = None
    if limits.split is not None:
        split = {
            "one_shot_images": limits.split[0],
            "chunked_images": limits.split[1],
            "decided": "at run time, from the budgets left",
        }
    one_shot_only = None
    if limits.one_shot_only is not None:
        windows = limits.one_shot_only
        one_shot_only = {"windows": windows, "seconds": max(windows - 1, 0) * spec.RATE_WINDOW_SECS}
    return {
        "binding": list(limits.binding) if published else None,
        "budget_fraction": limits.fraction,
        "limits": scaled_limits(limits.fraction) if published else None,
        "split": split,
        "one_shot_only": one_shot_only,
    }
