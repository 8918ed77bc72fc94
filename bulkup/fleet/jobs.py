"""What a job holds, for ``bulkup status --queue`` and ``bulkup report --queue``: its
items by state, bytes, the workers alive on it, the failures by reason, and the
result lines in the order the items finished."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from bulkup.fleet.keys import STATES, Keys

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["job_status", "result_lines"]

#: Results read per XRANGE.
PAGE = 1000


async def result_lines(db: aioredis.Redis, keys: Keys, job: str) -> AsyncIterator[str]:
    """Each finished item's report line (JSON), in finish order."""
    start = "-"
    while True:
        page: Any = await db.xrange(keys.results(job), min=start, max="+", count=PAGE)
        for _entry_id, fields in page:
            yield fields["line"]
        if len(page) < PAGE:
            return
        start = "(" + page[-1][0]


async def job_status(db: aioredis.Redis, keys: Keys, job: str) -> dict[str, Any] | None:
    """The job's summary; None when there is no such job (or it expired)."""
    info: Any = await db.hgetall(keys.job(job))
    if not info:
        return None
    counts: Any = await db.hgetall(keys.counts(job))
    by_state = {state: int(counts.get(state, 0)) for state in STATES}
    failures = await _failures(db, keys, job)
    workers = await _workers(db, keys, job)
    return {
        "job": job,
        "state": info.get("state"),
        "submitted": int(info.get("submitted", 0)),
        "items": sum(by_state.values()),
        **by_state,
        "bytes_succeeded": int(counts.get("bytes", 0)),
        "bytes_in_flight": sum(i["acked_bytes"] for w in workers for i in w["items"]),
        "workers": workers,
        "failures": failures,
        "created": float(info["created"]) if "created" in info else None,
        "finished_at": float(info["finished_at"]) if "finished_at" in info else None,
    }


async def _workers(db: aioredis.Redis, keys: Keys, job: str) -> list[dict[str, Any]]:
    """Workers alive (heartbeat not expired), with the items of this job they upload."""
    sec, usec = await db.time()
    alive: Any = await db.zrangebyscore(keys.workers, sec + usec / 1e6, "+inf")
    found = []
    for wid in alive:
        info: Any = await db.hgetall(keys.worker(wid))
        if not info:
            continue
        items = [i for i in json.loads(info.get("items", "[]")) if i.get("job") == job]
        found.append({"id": wid, "host": info.get("host"), "pid": info.get("pid"), "items": items})
    return found


async def _failures(db: aioredis.Redis, keys: Keys, job: str) -> list[dict[str, Any]]:
    """Failed items grouped by error kind, most first, each with an example."""
    groups: dict[str, dict[str, Any]] = {}
    async for text in result_lines(db, keys, job):
        line = json.loads(text)
        error = line.get("error")
        if line.get("status") != "failed" or not error:
            continue
        group = groups.setdefault(
            error["kind"],
            {
                "kind": error["kind"],
                "count": 0,
                "example": {"id": line["id"], "message": error["message"]},
            },
        )
        group["count"] += 1
    return sorted(groups.values(), key=lambda g: -g["count"])
