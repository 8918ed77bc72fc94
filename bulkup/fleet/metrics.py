"""Prometheus metrics (prometheus-client) of workers, uploads and the queue.

- :class:`WorkerMetrics`: an observer of the :class:`~bulkup.client.uploader.Uploader`
  counting the bytes the server acknowledged, the requests answered and the 429s per
  endpoint, the retries per endpoint, the items by status, and the rate-limit waits.
- :class:`QueueMetrics`: the dashboard's gauges, set from a feed document
  (:mod:`bulkup.fleet.feed`) at each scrape: items by state per job, bytes
  acknowledged per job, budget remaining per account (or app) and endpoint, the upload
  sessions nearest expiry, the workers alive.
- :func:`serve_metrics`: serves a registry's ``/metrics`` on a port, in the running
  event loop, while in it (``bulkup upload --metrics-port``, ``bulkup worker``).

Each has a registry of its own (never prometheus-client's global one), so several in
one process (the tests) do not collide.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bulkup.client.progress import ByteTally
from bulkup.core.items import Result

__all__ = [
    "QueueMetrics",
    "WorkerMetrics",
    "bound_port",
    "metrics_handler",
    "serve_metrics",
]


class WorkerMetrics(ByteTally):
    """Counts what one process's uploads did (see the module's doc). Bytes count once
    each, as in the run's summary: acknowledged segments, the whole of a one-shot upload."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__()
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.bytes = Counter("bulkup_bytes_acked", "Bytes the server acknowledged", registry=r)
        self.requests = Counter(
            "bulkup_requests",
            "Requests the server answered, by endpoint and HTTP status",
            ["endpoint", "code"],
            registry=r,
        )
        self.limited = Counter(
            "bulkup_rate_limited", "429 answers, by endpoint", ["endpoint"], registry=r
        )
        self.retries = Counter(
            "bulkup_retries", "Requests tried again, by endpoint", ["endpoint"], registry=r
        )
        self.items = Counter("bulkup_items", "Items finished, by status", ["status"], registry=r)
        self.active = Gauge("bulkup_items_in_flight", "Items started, not finished", registry=r)
        self.waits = Counter(
            "bulkup_rate_limit_waits",
            "Waits for a rate limit, by endpoint",
            ["endpoint"],
            registry=r,
        )

    def _counted(self, step: Callable[[], None]) -> None:
        before = self.sent
        step()
        if self.sent > before:
            self.bytes.inc(self.sent - before)
        self.active.set(self.in_flight)

    def item_started(self, item_id: str, size: int, done_bytes: int) -> None:
        self._counted(lambda: ByteTally.item_started(self, item_id, size, done_bytes))

    def bytes_acked(self, item_id: str, count: int) -> None:
        self._counted(lambda: ByteTally.bytes_acked(self, item_id, count))

    def item_finished(self, result: Result) -> None:
        self._counted(lambda: ByteTally.item_finished(self, result))
        self.items.labels(result.status).inc()

    def retried(self, item_id: str, reason: str = "") -> None:
        """``reason`` ends in ``on ENDPOINT`` when the request had one."""
        _, on, endpoint = reason.rpartition(" on ")
        self.retries.labels(endpoint if on else "none").inc()

    def waiting(self, endpoint: str, until: float) -> None:
        self.waits.labels(endpoint).inc()

    def answered(self, endpoint: str, status: int) -> None:
        self.requests.labels(endpoint, str(status)).inc()
        if status == 429:
            self.limited.labels(endpoint).inc()


class QueueMetrics:
    """The queue's gauges, set from a feed document (see the module's doc)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.up = Gauge("bulkup_queue_up", "1 if the queue's Redis answered", registry=r)
        self.items = Gauge(
            "bulkup_job_items", "Items of a job, by state", ["job", "state"], registry=r
        )
        self.bytes = Gauge(
            "bulkup_job_bytes_acked",
            "Bytes acknowledged: of the items that succeeded, and of those uploading now",
            ["job"],
            registry=r,
        )
        labels = ["scope", "who", "endpoint", "window"]
        self.remaining = Gauge(
            "bulkup_budget_remaining", "Requests left in a budget window", labels, registry=r
        )
        self.limit = Gauge("bulkup_budget_limit", "A budget window's limit", labels, registry=r)
        self.leased = Gauge(
            "bulkup_budget_in_flight", "Requests in flight in a budget window", labels, registry=r
        )
        self.expiry = Gauge(
            "bulkup_upload_session_seconds_left",
            "Seconds until an upload session expires (those nearest expiry)",
            ["job", "id"],
            registry=r,
        )
        self.workers = Gauge("bulkup_workers_alive", "Workers whose heartbeat holds", registry=r)

    def update(self, feed: Mapping[str, Any]) -> None:
        """Set every gauge from ``feed``; a feed with ``ok`` false sets only ``up`` to 0."""
        self.up.set(1 if feed.get("ok") else 0)
        if not feed.get("ok"):
            return
        for gauge in (self.items, self.bytes, self.remaining, self.limit, self.leased):
            gauge.clear()
        self.expiry.clear()
        uploading: dict[str, int] = {}
        for worker in feed["workers"]:
            for item in worker["items"]:
                uploading[item["job"]] = uploading.get(item["job"], 0) + item["acked_bytes"]
        for job in feed["jobs"]:
            for state, count in job["counts"].items():
                self.items.labels(job["name"], state).set(count)
            self.bytes.labels(job["name"]).set(job["bytes"] + uploading.get(job["name"], 0))
        for b in feed["budgets"]:
            labels = (b["scope"], b["who"], b["endpoint"], b["window"])
            if b["limit"] is not None:
                self.limit.labels(*labels).set(b["limit"])
                self.remaining.labels(*labels).set(b["remaining"] or 0)
            self.leased.labels(*labels).set(b["in_flight"])
        for session in feed["sessions"]:
            self.expiry.labels(session["job"], session["id"]).set(session["secs_left"])
        self.workers.set(len(feed["workers"]))


def metrics_handler(
    registry: CollectorRegistry, before: Callable[[], Awaitable[None]] | None = None
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An aiohttp handler of ``/metrics`` for ``registry`` (``before`` runs first: it
    may set gauges)."""

    async def metrics(request: web.Request) -> web.Response:
        if before is not None:
            await before()
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return metrics


@contextlib.asynccontextmanager
async def serve_metrics(
    registry: CollectorRegistry, port: int, host: str = "0.0.0.0"
) -> AsyncIterator[int]:
    """Serve ``registry`` on ``http://host:port/metrics`` (every interface by default, for
    a Prometheus elsewhere; port 0: a free one) while in it; yields the port. A port
    that cannot be had raises OSError saying which."""
    app = web.Application()
    app.router.add_get("/metrics", metrics_handler(registry))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        reason = str(exc.strerror or exc).rsplit(": ", 1)[-1]
        raise OSError(
            f"cannot serve metrics on {host}:{port} ({reason}): give another port"
        ) from None
    try:
        yield bound_port(site, port)
    finally:
        await runner.cleanup()


def bound_port(site: web.TCPSite, port: int) -> int:
    """The port ``site`` listens on (the one the system chose for port 0)."""
    sockets = getattr(site._server, "sockets", None) or []
    return int(sockets[0].getsockname()[1]) if sockets else port
