"""A job's queue on Redis, as the commands use it: each method is one script of
:mod:`bulkup.fleet.scripts` (atomic on the server), or a read.

A :class:`Claim` is one item a worker holds: its ``gen`` fences every write it makes
(:meth:`JobQueue.save`, :meth:`~JobQueue.ack`, :meth:`~JobQueue.finish`,
:meth:`~JobQueue.release` return False once the lease was lost: the write changed
nothing).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bulkup.core.items import Item, Result
from bulkup.core.record_codec import record_from_json, record_to_json
from bulkup.core.records import ItemRecord
from bulkup.fleet import scripts
from bulkup.fleet.keys import Keys
from bulkup.fleet.specs import item_from_spec

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["Claim", "JobQueue"]


@dataclass(slots=True)
class Claim:
    """An item a worker holds, under generation ``gen``."""

    job: str
    id: str
    gen: str
    item: Item
    #: Its upload state in Redis (None: nothing sent yet).
    record: ItemRecord | None
    spec: dict[str, Any]

    @property
    def key(self) -> str:
        """The item's id inside the worker's uploader: unique across jobs and claims."""
        return f"{self.id}@{self.job}#{self.gen}"


class JobQueue:
    """The jobs of one deployment (``bulkup:{NAME}:``) on one server."""

    def __init__(self, db: aioredis.Redis, name: str = "bulkup") -> None:
        self.db = db
        self.keys = Keys(name)
        self._scripts = {name: db.register_script(text) for name, text in scripts.ALL.items()}

    async def _run(self, script: str, job: str, *args: object) -> Any:
        argv: list[str | int | float] = [self.keys.prefix, job]
        argv += [
            "" if a is None else a if isinstance(a, str | int | float) else str(a) for a in args
        ]
        return await self._scripts[script](keys=[self.keys.job(job)], args=argv)

    async def submit(self, job: str, entries: list[Submission], keep: float) -> list[str]:
        """Each entry (in one round trip): an item's ``(spec, file key)``, or a source
        problem's result, recorded at once. Each answer is ``new``, ``unchanged``,
        ``replaced`` (an item only) or ``conflict:STATE``."""
        pipe = self.db.pipeline(transaction=False)
        for entry in entries:
            if isinstance(entry, Result):
                args: tuple[object, ...] = (entry.id, _line(entry), entry.status, keep, "")
                script = "problem"
            else:
                spec, file = entry
                text = json.dumps(spec, separators=(",", ":"), ensure_ascii=False)
                account, size = spec.get("account") or "", spec.get("size") or 0
                args = (spec["id"], text, file, keep, "", account, size)
                script = "submit"
            argv = [self.keys.prefix, job, *(_arg(a) for a in args)]
            await self._scripts[script](keys=[self.keys.job(job)], args=argv, client=pipe)
        return [str(answer) for answer in await pipe.execute()]

    async def claim(
        self, job: str, worker: str, count: int, claim_after: float, lease: float
    ) -> list[Claim]:
        """Up to ``count`` items: idle ones first (a worker that died), then new ones."""
        idle_ms = int(claim_after * 1000)
        taken = await self._run("claim", job, worker, count, idle_ms, lease)
        return [_claim(job, *entry) for entry in taken]

    async def renew(self, job: str, worker: str, lease: float, held: list[Claim]) -> list[str]:
        """The ids of ``held`` whose lease was lost; the others' leases renewed."""
        pairs = [v for c in held for v in (c.id, c.gen)]
        return [str(i) for i in await self._run("renew", job, worker, lease, *pairs)]

    async def save(self, claim: Claim, record: ItemRecord, *, fresh: bool = False) -> bool:
        """The item's record; ``fresh``: a new upload session (its segments start empty)."""
        text = json.dumps(record_to_json(record), separators=(",", ":"))
        deadline = record.upload_deadline
        args = (claim.id, claim.gen, text, record.media_id, deadline, 1 if fresh else 0)
        return bool(await self._run("save", claim.job, *args))

    async def ack(self, claim: Claim, index: int, sha256: str | None, length: int) -> bool:
        args = (claim.id, claim.gen, index, sha256, length)
        return bool(await self._run("ack", claim.job, *args))

    async def finish(self, claim: Claim, result: Result) -> bool:
        """The item's one result; False when it is not this claim's to give."""
        size = result.size or 0 if result.ok else 0
        args = (claim.id, claim.gen, _line(result), result.status, size)
        return bool(await self._run("finish", claim.job, *args))

    async def release(self, claim: Claim) -> bool:
        return bool(await self._run("release", claim.job, claim.id, claim.gen))

    async def jobs(self) -> list[str]:
        """Jobs not finished, most recently active first."""
        names = [str(n) for n in await self.db.zrevrange(self.keys.jobs, 0, -1)]
        if not names:
            return []
        pipe = self.db.pipeline(transaction=False)
        for name in names:
            pipe.hget(self.keys.job(name), "state")
        states = await pipe.execute()
        gone = [n for n, s in zip(names, states, strict=True) if s is None]
        if gone:  # expired after --keep
            await self.db.zrem(self.keys.jobs, *gone)
        return [n for n, s in zip(names, states, strict=True) if s == "active"]

    async def remaining(self, job: str) -> int:
        """Items of the job not finished (pending or running)."""
        counts = await self.db.hmget(self.keys.counts(job), "pending", "running")
        return sum(int(c or 0) for c in counts)


#: What ``submit`` takes: an item's spec and file key, or a source problem's result.
Submission = tuple[dict[str, Any], str] | Result


def _arg(value: object) -> str | int | float:
    if value is None:
        return ""
    return value if isinstance(value, str | int | float) else str(value)


def _line(result: Result) -> str:
    return json.dumps(result.as_json(), separators=(",", ":"), ensure_ascii=False)


def _claim(
    job: str, item_id: str, gen: str, spec: str, record: str, acked: Any, hashes: Any
) -> Claim:
    data = json.loads(spec)
    item = item_from_spec(data)
    key = f"{item_id}@{job}#{gen}"
    state = record_from_json(key, json.loads(record)) if record else None
    if state is not None:
        state.acked = {int(i) for i in acked}
        pairs = list(hashes)
        state.segment_sha256 = {int(pairs[i]): pairs[i + 1] for i in range(0, len(pairs), 2)}
        state.segment_sha256 = {i: h for i, h in state.segment_sha256.items() if i in state.acked}
    return Claim(job, str(item_id), str(gen), item, state, data)
