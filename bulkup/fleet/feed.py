"""What the dashboard shows, read from the queue's Redis keys as one JSON document.

:class:`Feed` reads the keys that :mod:`bulkup.fleet.keys` names, never writing any:
the jobs (``jobs``, ``job:J``, ``job:J:counts``) with an ETA from the recent rate, the
items by state, the throughput over time, each budget window (``budget:*``, ``app:*``)
against its limit, the workers alive (``workers``, ``worker:W``) and what each uploads
now, the upload sessions nearest expiry, and the recent failures.

The cost of a read is bounded whatever the size of a job: the results streams are read
newest first (``XREVRANGE … COUNT``) down to the last entry seen, kept per job as a
cursor; what finished within :attr:`Feed.window` is kept in memory for the throughput
and the rate, and the last :data:`FAILURES` failed lines for the failures. A result's
finish time is its entry id's milliseconds, its bytes the line's ``size``.

A server that does not answer gives a document with ``ok`` false and the ``error``; the
next read tries again (redis-py reconnects), so the page recovers by itself.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from bulkup import redact
from bulkup.client.budget_url import redis_client
from bulkup.fleet.connection import QueueServer
from bulkup.fleet.keys import STATES, Keys

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["FAILURES", "Feed", "client"]

#: Recent failures shown, newest first.
FAILURES = 20
#: Most recent jobs shown; workers alive shown.
MAX_JOBS = 50
MAX_WORKERS = 200
#: Upload sessions nearest expiry shown.
SESSIONS = 10


def client(server: QueueServer) -> aioredis.Redis:
    """A client of ``server`` that connects at its first command (and again after the
    server went away), with short timeouts: a page polled every second must not hang."""
    return redis_client(server.url, server.password, connect_timeout=2.0, answer_timeout=5.0)


@dataclass(slots=True)
class _Tail:
    """What one job's results stream showed so far: its cursor, what finished within
    the window (finish time in ms, bytes, ok) and its last failures."""

    cursor: str | None = None
    finished: collections.deque[tuple[int, int, bool]] = field(default_factory=collections.deque)
    failures: collections.deque[dict[str, Any]] = field(
        default_factory=lambda: collections.deque(maxlen=FAILURES)
    )


class Feed:
    """Reads one document from the queue's server (see the module's doc)."""

    def __init__(
        self,
        db: aioredis.Redis,
        keys: Keys | None = None,
        *,
        window: float = 300.0,
        interval: float = 10.0,
        rate_over: float = 60.0,
        scan: int = 500,
    ) -> None:
        """``window``: seconds of throughput shown, in bars of ``interval`` seconds;
        ``rate_over``: seconds of results an ETA's rate is taken over; ``scan``: results
        read at most per job and read."""
        self.db, self.keys = db, keys or Keys()
        self.window, self.interval, self.rate_over, self.scan = window, interval, rate_over, scan
        self._tails: dict[str, _Tail] = {}

    async def read(self) -> dict[str, Any]:
        """The document; with ``ok`` false and the ``error`` when the server did not answer."""
        import redis.exceptions

        gone = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
        try:
            return await self._read()
        except (redis.exceptions.RedisError, OSError) as exc:
            reason = redact.text(str(exc)) or type(exc).__name__
            said = "does not answer" if isinstance(exc, gone) else "answered with an error"
            return {"ok": False, "error": f"the queue's Redis {said}: {reason}"}

    async def _read(self) -> dict[str, Any]:
        seconds, micros = await self.db.time()
        now = seconds + micros / 1e6
        jobs = await self._jobs(now)
        workers = await self._workers(now)
        items = {state: sum(job["counts"][state] for job in jobs) for state in STATES}
        failures = [f for tail in self._tails.values() for f in tail.failures]
        failures.sort(key=lambda f: f["at"], reverse=True)
        return {
            "ok": True,
            "at": now,
            "jobs": jobs,
            "items": items,
            "throughput": self._throughput(now),
            "budgets": await self._budgets(now),
            "workers": workers,
            "lapsed_workers": await self.db.zcount(self.keys.workers, "-inf", f"({now}"),
            "sessions": await self._sessions(now, workers),
            "failures": failures[:FAILURES],
        }

    async def _jobs(self, now: float) -> list[dict[str, Any]]:
        names: list[str] = cast(Any, await self.db.zrevrange(self.keys.jobs, 0, MAX_JOBS - 1))
        async with self.db.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(self.keys.job(name))
                pipe.hgetall(self.keys.counts(name))
            found = await pipe.execute()
        jobs = []
        for i, name in enumerate(names):
            fields, counts = found[2 * i], found[2 * i + 1]
            if fields or counts:
                await self._advance(name, now)
                jobs.append(self._job(name, fields, counts, now))
        for gone in set(self._tails) - {job["name"] for job in jobs}:
            del self._tails[gone]
        return jobs

    def _job(
        self, name: str, fields: Mapping[str, str], counts: Mapping[str, str], now: float
    ) -> dict[str, Any]:
        by_state = {state: _int(counts.get(state)) for state in STATES}
        left = by_state["pending"] + by_state["running"]
        tail = self._tails[name]
        since = max(now - self.rate_over, _float(fields.get("created")) or 0.0)
        recent = sum(1 for ms, _, _ in tail.finished if ms / 1000 >= since)
        rate = recent / (now - since) if now > since else 0.0
        return {
            "name": name,
            "state": fields.get("state") or ("finished" if not left else "active"),
            "created": _float(fields.get("created")),
            "finished_at": _float(fields.get("finished_at")),
            "endpoint": fields.get("endpoint") or None,
            "submitted": _int(fields.get("submitted")),
            "counts": by_state,
            "total": sum(by_state.values()),
            "bytes": _int(counts.get("bytes")),
            "rate": rate,
            "eta_secs": left / rate if left and rate > 0 else None,
        }

    async def _advance(self, job: str, now: float) -> None:
        """Read the job's results that are newer than its cursor (at most ``scan``)."""
        tail = self._tails.setdefault(job, _Tail())
        low = f"({tail.cursor}" if tail.cursor else "-"
        entries: list[tuple[str, dict[str, str]]] = cast(
            Any, await self.db.xrevrange(self.keys.results(job), "+", low, count=self.scan)
        )
        for entry_id, fields in reversed(entries):
            ms = int(entry_id.split("-", 1)[0])
            line = _json(fields.get("line"))
            line = line if isinstance(line, dict) else {}
            ok = line.get("status") == "succeeded"
            tail.finished.append((ms, _int(line.get("size")) if ok else 0, ok))
            if line.get("status") == "failed":
                tail.failures.append(_failure(job, ms, line))
        if entries:
            tail.cursor = entries[0][0]
        oldest = (now - max(self.window, self.rate_over)) * 1000
        while tail.finished and tail.finished[0][0] < oldest:
            tail.finished.popleft()

    def _throughput(self, now: float) -> dict[str, Any]:
        """Items and bytes finished per interval over the window, oldest first."""
        bars = max(1, round(self.window / self.interval))
        start = (now // self.interval + 1) * self.interval - bars * self.interval
        items, sizes = [0] * bars, [0] * bars
        for tail in self._tails.values():
            for ms, size, _ok in tail.finished:
                bar = int((ms / 1000 - start) // self.interval)
                if 0 <= bar < bars:
                    items[bar] += 1
                    sizes[bar] += size
        return {
            "interval": self.interval,
            "start": start,
            "items": items,
            "bytes": sizes,
        }

    async def _budgets(self, now: float) -> list[dict[str, Any]]:
        found: list[str] = []
        for pattern in ("budget:*", "app:*:day"):
            async for key in self.db.scan_iter(match=self.keys.prefix + pattern, count=500):
                if not key.endswith(":leases"):
                    found.append(key)
        found.sort()
        async with self.db.pipeline(transaction=False) as pipe:
            for key in found:
                pipe.hmget(key, "limit", "remaining", "reset", "held_until")
                pipe.zcount(key + ":leases", now, "+inf")
            answers = await pipe.execute(raise_on_error=False)
        budgets = []
        for i, key in enumerate(found):
            window = _window(key[len(self.keys.prefix) :])
            if window is not None and not isinstance(answers[2 * i], Exception):
                budgets.append(_budget(window, answers[2 * i], answers[2 * i + 1], now))
        return budgets

    async def _workers(self, now: float) -> list[dict[str, Any]]:
        alive: list[tuple[str, float]] = await self.db.zrangebyscore(  # type: ignore[assignment]
            self.keys.workers, now, "+inf", start=0, num=MAX_WORKERS, withscores=True
        )
        async with self.db.pipeline(transaction=False) as pipe:
            for name, _ in alive:
                pipe.hgetall(self.keys.worker(name))
            found = await pipe.execute()
        return [
            _worker(name, until, fields) for (name, until), fields in zip(alive, found, strict=True)
        ]

    async def _sessions(self, now: float, workers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The upload sessions of the items that workers upload now, nearest expiry first."""
        held = [(item["job"], item["id"]) for w in workers for item in w["items"]]
        async with self.db.pipeline(transaction=False) as pipe:
            for job, item_id in held:
                pipe.hget(self.keys.item(job, item_id), "deadline")
            deadlines = await pipe.execute()
        sessions = [
            {"job": job, "id": item_id, "deadline": when, "secs_left": when - now}
            for (job, item_id), when in zip(held, map(_float, deadlines), strict=True)
            if when is not None
        ]
        sessions.sort(key=lambda s: s["deadline"])
        return sessions[:SESSIONS]


def _window(name: str) -> dict[str, Any] | None:
    """``budget:A:E`` (15 minutes), ``budget:A:E:day``, ``app:P:E:day`` → who, endpoint, span."""
    kind, _, rest = name.partition(":")
    day = rest.endswith(":day")
    rest = rest.removesuffix(":day")
    who, _, endpoint = rest.rpartition(":")
    if not who or not endpoint or kind not in ("budget", "app") or (kind == "app" and not day):
        return None
    scope = "app" if kind == "app" else "account"
    return {"scope": scope, "who": who, "endpoint": endpoint, "window": "24h" if day else "15min"}


def _budget(
    window: dict[str, Any], fields: list[str | None], leased: int, now: float
) -> dict[str, Any]:
    limit, remaining, reset, held = (_float(v) for v in fields)
    if reset is not None and reset <= now and limit is not None:
        remaining, reset = limit, None  # the window turned over: the next request opens it
    held = held if held is not None and held > now else None
    return {
        **window,
        "limit": None if limit is None else int(limit),
        "remaining": None if remaining is None else int(remaining),
        "in_flight": int(leased),
        "reset": reset,
        "held_until": held,
    }


def _worker(name: str, until: float, fields: Mapping[str, str]) -> dict[str, Any]:
    items = _json(fields.get("items"), [])
    items = [
        {
            "job": str(i.get("job", "")),
            "id": str(i.get("id", "")),
            "path": str(i.get("path", "")),
            "size": _int(i.get("size")),
            "acked_bytes": _int(i.get("acked_bytes")),
            "stage": str(i.get("stage", "")),
        }
        for i in (items if isinstance(items, list) else [])
        if isinstance(i, dict)
    ]
    accounts = _json(fields.get("accounts"), [])
    return {
        "id": name,
        "host": fields.get("host", ""),
        "pid": _int(fields.get("pid")),
        "started": _float(fields.get("started")),
        "seen": _float(fields.get("seen")),
        "alive_until": until,
        "done": _int(fields.get("done")),
        "version": fields.get("version", ""),
        "accounts": [str(a) for a in accounts] if isinstance(accounts, list) else [],
        "items": items,
    }


def _failure(job: str, ms: int, line: Mapping[str, Any]) -> dict[str, Any]:
    error = line.get("error")
    error = error if isinstance(error, dict) else {}
    return {
        "job": job,
        "id": str(line.get("id", "")),
        "path": str(line.get("path") or ""),
        "at": ms / 1000,
        "kind": str(error.get("kind", "")),
        "reason": str(error.get("message", "")),
    }


def _json(text: str | None, default: Any = None) -> Any:
    """The JSON in ``text``; ``default`` (an empty dict unless given) when it is not."""
    try:
        return json.loads(text) if text else ({} if default is None else default)
    except ValueError:
        return {} if default is None else default


def _int(value: object) -> int:
    try:
        return int(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0


def _float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
