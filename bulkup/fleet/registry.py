"""A worker as others see it: ``workers`` (scored by heartbeat expiry) and
``worker:W`` (host, pid, what it uploads now), written at each heartbeat; and the
observer that follows what each held item is doing for it."""

from __future__ import annotations

import json
import os
import secrets
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bulkup.core.items import Result
from bulkup.fleet.keys import Keys

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["ItemsSeen", "Registration", "worker_id"]


def worker_id() -> str:
    """``HOST:PID:RANDOM``: unique across hosts and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


@dataclass(slots=True)
class _Seen:
    job: str
    id: str
    path: str
    size: int = 0
    acked_bytes: int = 0
    stage: str = "queued"


@dataclass(slots=True)
class ItemsSeen:
    """An :class:`~bulkup.client.progress.Observer`: each held item's bytes and stage."""

    items: dict[str, _Seen] = field(default_factory=dict)

    def hold(self, key: str, job: str, item_id: str, path: str) -> None:
        self.items[key] = _Seen(job, item_id, path)

    def drop(self, key: str) -> None:
        self.items.pop(key, None)

    def item_started(self, item_id: str, size: int, done_bytes: int) -> None:
        seen = self.items.get(item_id)
        if seen is not None:
            seen.size, seen.acked_bytes, seen.stage = size, done_bytes, "sending"

    def item_state(self, item_id: str, state: str, percent: int | None = None) -> None:
        seen = self.items.get(item_id)
        if seen is not None:
            seen.stage = state

    def bytes_acked(self, item_id: str, count: int) -> None:
        seen = self.items.get(item_id)
        if seen is not None:
            seen.acked_bytes += count

    def retried(self, item_id: str, reason: str) -> None:
        pass

    def waiting(self, endpoint: str, until: float) -> None:
        pass

    def item_finished(self, result: Result) -> None:
        pass

    def as_json(self) -> list[dict[str, Any]]:
        return [
            {
                "job": s.job,
                "id": s.id,
                "path": s.path,
                "size": s.size,
                "acked_bytes": s.acked_bytes,
                "stage": s.stage,
            }
            for s in self.items.values()
        ]


class Registration:
    """This worker's entry in ``workers`` and its ``worker:W`` hash."""

    def __init__(self, db: aioredis.Redis, keys: Keys, wid: str, version: str) -> None:
        self._db, self._keys, self.id = db, keys, wid
        self._static: dict[str, str | int | float] = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "version": version,
        }
        self.started: float | None = None

    async def beat(self, ttl: float, seen: ItemsSeen, done: int, accounts: list[str]) -> None:
        sec, usec = await self._db.time()
        now = sec + usec / 1e6
        if self.started is None:
            self.started = now
        fields: dict[str, str | int | float] = {
            **self._static,
            "started": self.started,
            "seen": now,
            "items": json.dumps(seen.as_json()),
            "done": done,
            "accounts": json.dumps(accounts),
        }
        key = self._keys.worker(self.id)
        pipe = self._db.pipeline(transaction=True)
        pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
        pipe.expire(key, max(1, int(ttl * 3)))
        pipe.zadd(self._keys.workers, {self.id: now + ttl})
        pipe.zremrangebyscore(self._keys.workers, "-inf", now - 3600)
        await pipe.execute()

    async def leave(self) -> None:
        pipe = self._db.pipeline(transaction=True)
        pipe.delete(self._keys.worker(self.id))
        pipe.zrem(self._keys.workers, self.id)
        await pipe.execute()
