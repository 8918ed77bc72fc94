"""``bulkup dashboard``'s web server (aiohttp): one page, the JSON feed it polls, and
Prometheus metrics.

- ``/``: the page (``static/dashboard.html``, with ``dashboard.js`` and
  ``dashboard.css`` beside it: no build step and no external asset). It polls the feed
  every second and builds everything from it as DOM text, never as markup: file names
  are user data.
- ``/feed.json``: :meth:`Feed.read <bulkup.fleet.feed.Feed.read>`'s document, plus
  ``queue`` (the server's URL, password masked). Reads within :data:`MAX_AGE` of the
  last share it, so many open pages cost the server no more than one.
- ``/metrics``: :class:`~bulkup.fleet.metrics.QueueMetrics` in the text format.

A server that does not answer makes a feed with ``ok`` false and the error, which the
page shows; the dashboard keeps serving and the next read tries again.
"""

from __future__ import annotations

import time
from importlib import resources
from typing import Any

import anyio
from aiohttp import web

from bulkup.fleet.feed import Feed
from bulkup.fleet.metrics import QueueMetrics, metrics_handler

__all__ = ["MAX_AGE", "STATIC", "dashboard_app"]

#: Seconds a feed document is served again before the server is read anew.
MAX_AGE = 0.5
#: The page's files, by the path they are served at: (file, content type).
STATIC = {
    "/": ("dashboard.html", "text/html"),
    "/dashboard.js": ("dashboard.js", "text/javascript"),
    "/dashboard.css": ("dashboard.css", "text/css"),
}
#: Nothing but the page's own files runs or loads: defence in depth behind the escaping.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class _Latest:
    """The last feed document, shared by the reads within :data:`MAX_AGE` of it."""

    def __init__(self, feed: Feed, queue: str, max_age: float) -> None:
        self.feed, self.queue, self.max_age = feed, queue, max_age
        self._lock = anyio.Lock()
        self._doc: dict[str, Any] | None = None
        self._read_at = 0.0

    async def get(self) -> dict[str, Any]:
        async with self._lock:
            if self._doc is None or time.monotonic() - self._read_at >= self.max_age:
                self._doc = {"queue": self.queue, **await self.feed.read()}
                self._read_at = time.monotonic()
            return self._doc


def dashboard_app(feed: Feed, *, queue: str = "", max_age: float = MAX_AGE) -> web.Application:
    """The dashboard's app over ``feed``; ``queue`` is the server as shown to people."""
    latest = _Latest(feed, queue, max_age)
    metrics = QueueMetrics()
    app = web.Application()

    async def feed_json(request: web.Request) -> web.Response:
        return web.json_response(await latest.get(), headers={"Cache-Control": "no-store"})

    async def scrape() -> None:
        metrics.update(await latest.get())

    app.router.add_get("/feed.json", feed_json)
    app.router.add_get("/metrics", metrics_handler(metrics.registry, scrape))
    for path, (name, kind) in STATIC.items():
        app.router.add_get(path, _static(name, kind))
    return app


def _static(name: str, kind: str) -> Any:
    body = (resources.files("bulkup.fleet") / "static" / name).read_bytes()
    headers = {"Content-Security-Policy": POLICY, "Cache-Control": "no-cache"}

    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=kind, charset="utf-8", headers=headers)

    return serve
