"""A job's state in Redis as workers leave it, written for the dashboard's tests.

The dashboard only reads; these helpers write the keys and fields that
:mod:`bulkup.fleet.keys` names (and the budget hashes of
:mod:`bulkup.client.budget_scripts`) the way ``submit`` and the workers do: a results
stream whose entry ids carry the finish time, counts by state, worker hashes with what
each uploads now, items with their deadlines, budget windows with their leases.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web

from bulkup.fleet.dashboard import dashboard_app
from bulkup.fleet.feed import Feed
from bulkup.fleet.keys import Keys
from bulkup.fleet.metrics import bound_port

#: A file name that is markup: the page must show it as text.
HOSTILE = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>.png"


async def server_now(db: aioredis.Redis) -> float:
    seconds, micros = await db.time()
    return float(seconds) + micros / 1e6


class FleetState:
    """Writes one deployment's keys."""

    def __init__(self, db: aioredis.Redis, keys: Keys | None = None) -> None:
        self.db, self.keys = db, keys or Keys()

    async def job(self, name: str, created: float, **counts: int) -> None:
        await self.db.hset(
            self.keys.job(name),
            mapping={
                "created": created,
                "submitted": sum(counts.values()),
                "keep": 604800,
                "state": "active" if counts.get("pending") or counts.get("running") else "finished",
                "endpoint": "https://api.x.com",
            },
        )
        await self.db.zadd(self.keys.jobs, {name: created})
        await self.db.hset(self.keys.counts(name), mapping={s: n for s, n in counts.items()})

    async def finished(self, job: str, at: float, item_id: str, size: int, **line: Any) -> None:
        """One result line, finished at ``at`` (the entry id's milliseconds)."""
        fields: dict[str, Any] = {
            "id": item_id,
            "path": f"/data/{item_id}.png",
            "status": "succeeded",
        }
        fields.update({"size": size, **line})
        await self.db.xadd(
            self.keys.results(job), {"line": json.dumps(fields)}, id=f"{int(at * 1000)}-*"
        )
        if fields["status"] == "succeeded":
            await self.db.hincrby(self.keys.counts(job), "bytes", size)

    async def failed(self, job: str, at: float, item_id: str, path: str, reason: str) -> None:
        error = {"kind": "api_error", "message": reason, "http_status": 400, "api_code": None}
        await self.finished(job, at, item_id, 0, path=path, status="failed", error=error)

    async def worker(
        self, wid: str, alive_until: float, items: list[dict[str, Any]], done: int = 0
    ) -> None:
        await self.db.zadd(self.keys.workers, {wid: alive_until})
        host, _, pid = wid.rpartition("-")
        await self.db.hset(
            self.keys.worker(wid),
            mapping={
                "host": host,
                "pid": pid,
                "started": alive_until - 600,
                "version": "0.1.0",
                "seen": alive_until - 3,
                "items": json.dumps(items),
                "done": done,
                "accounts": json.dumps(["main"]),
            },
        )

    async def uploading(self, job: str, item_id: str, deadline: float, size: int) -> None:
        await self.db.hset(
            self.keys.item(job, item_id),
            mapping={"state": "running", "gen": 1, "deadline": deadline, "size": size},
        )

    async def budget(
        self, name: str, limit: int, remaining: int, reset: float, leases: int = 0
    ) -> None:
        """A window: ``budget:ACCOUNT:ENDPOINT[:day]`` or ``app:APP:ENDPOINT:day``."""
        key = self.keys.prefix + name
        fields: dict[Any, Any] = {
            "limit": limit,
            "remaining": remaining,
            "reset": reset,
            "announced": 1,
        }
        await self.db.hset(key, mapping=fields)
        for n in range(leases):
            await self.db.zadd(key + ":leases", {f"p:{n}": reset})


async def realistic(db: aioredis.Redis) -> dict[str, Any]:
    """A fleet mid-run: two jobs, three workers (one lapsed), budgets of two accounts and
    their app, and failures, one of them a file named :data:`HOSTILE`. What it wrote."""
    state, now = FleetState(db), await server_now(db)
    await state.job("photos-dec", now - 400, pending=120, running=4, succeeded=52, failed=3)
    await state.job("clips", now - 900, succeeded=40, skipped=2)
    clips = [now - 880 + n for n in range(40)]  # long ago: outside the throughput window
    for n, at in enumerate(clips):
        await state.finished("clips", at, f"clip-{n:03}", 3 << 20)
    finishing: list[tuple[float, str, str, str]] = [  # (time, id, path, failure reason)
        (now - 262 + 5 * n, f"img-{n:04}", "", "") for n in range(52)
    ]  # 52 succeeded in the last 260 s, 11 of them in the last minute
    finishing += [
        (now - 200.5, "img-bad1", "/data/img-bad1.png", "media too big"),
        (now - 100.5, "img-bad2", f"/data/{HOSTILE}", "unsupported"),
        (now - 5.5, "img-bad3", "/data/img-bad3.gif", "HTTP 400: bad gif"),
    ]
    finished = {"photos-dec": [at for at, *_ in finishing], "clips": clips}
    for at, item_id, path, reason in sorted(finishing):  # a stream's ids only grow
        if reason:
            await state.failed("photos-dec", at, item_id, path, reason)
        else:
            await state.finished("photos-dec", at, item_id, 400_000 + 7919 * len(item_id))
    uploads: list[dict[str, Any]] = [
        {"job": "photos-dec", "id": f"img-{n}", "path": f"/data/photos/img-{n}.jpg",
         "size": 4 << 20, "acked_bytes": (n % 4) << 20, "stage": "uploading"}
        for n in range(900, 904)
    ]  # fmt: skip
    await state.worker("upload-a-4101", now + 60, uploads[:3], done=31)  # alive for a minute
    await state.worker("upload-b-977", now + 50, uploads[3:], done=21)
    await state.worker("upload-c-12", now - 30, [], done=3)  # its heartbeat lapsed
    for n, upload in enumerate(uploads):
        await state.uploading("photos-dec", upload["id"], now + 3000 + 600 * n, 4 << 20)
    await state.budget("budget:oauth1:7f3a9c:append", 1875, 1504, now + 512, leases=6)
    await state.budget("budget:oauth1:7f3a9c:initialize", 1875, 1790, now + 512, leases=2)
    await state.budget("budget:oauth1:7f3a9c:upload", 500, 12, now + 300)
    await state.budget("budget:oauth1:51be02:append", 1875, 1875, now - 5)  # turned over
    await state.budget("app:9d1e2f:append:day", 180000, 171200, now + 70000, leases=8)
    return {"now": now, "uploads": uploads, "finished": finished}


class Dashboard:
    """The dashboard's app served on a free port of 127.0.0.1 (:func:`served_dashboard`)."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def get(self, path: str) -> Any:
        """The answer to ``GET path``: JSON for ``.json``, else text."""
        async with aiohttp.ClientSession() as http, http.get(self.url + path) as answer:
            assert answer.status == 200, await answer.text()
            if path.endswith(".json"):
                return await answer.json()
            return await answer.text()


@contextlib.asynccontextmanager
async def served_dashboard(feed: Feed) -> AsyncIterator[Dashboard]:
    """The dashboard over ``feed`` (every read fresh) on a free port, while in it."""
    runner = web.AppRunner(dashboard_app(feed, queue="redis://127.0.0.1/0", max_age=0))
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield Dashboard(f"http://127.0.0.1:{bound_port(site, 0)}")
    finally:
        await runner.cleanup()
