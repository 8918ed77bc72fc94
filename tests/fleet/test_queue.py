"""The queue's scripts on a real Redis-protocol server: what ``submit`` does with an id
seen before, and the fencing that keeps one result per item (a write with an old
generation refused, a second finish refused, an item taken over from a worker whose
heartbeat lapsed)."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
import redis.asyncio as aioredis

from bulkup.core.items import Item, Result, SourceProblem
from bulkup.core.records import ItemRecord
from bulkup.fleet.jobs import result_lines
from bulkup.fleet.queue import JobQueue
from bulkup.fleet.specs import file_key, item_from_spec, spec_of
from bulkup.fleet.submit import submit
from bulkup.testing.redis_server import RedisServer

pytestmark = pytest.mark.anyio


@pytest.fixture
async def queue(redis_server: RedisServer) -> AsyncIterator[JobQueue]:
    db = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        yield JobQueue(db)
    finally:
        await db.aclose()


def files(tmp_path: Path, *names: str) -> list[Path]:
    paths = []
    for name in names:
        path = tmp_path / name
        path.write_bytes(name.encode() * 100)
        paths.append(path)
    return paths


def ok(item_id: str) -> Result:
    return Result(id=item_id, path="/x", status="succeeded", media_id_string="1", size=300)


async def test_submit_says_new_unchanged_replaced_and_conflict_for_an_id_seen_before(
    queue: JobQueue, tmp_path: Path
) -> None:
    a, b, c = files(tmp_path, "a.png", "b.png", "c.png")
    first = await submit(queue, "j", [Item(id="x", path=a), Item(id="y", path=b)])
    assert (first.new, first.unchanged, first.replaced, first.conflicts) == (2, 0, 0, [])
    again = await submit(queue, "j", [Item(id="x", path=a)])
    assert (again.new, again.unchanged) == (0, 1)
    replaced = await submit(queue, "j", [Item(id="x", path=c)])  # still pending
    assert replaced.replaced == 1 and "1 replaced" in replaced.text()
    (claim,) = await queue.claim("j", "w1", 1, 30, 30)
    assert claim.id == "x" and claim.item.path == c  # the replacement is what is uploaded
    assert await queue.finish(claim, ok("x"))
    late = await submit(queue, "j", [Item(id="x", path=a)])
    assert late.conflicts == [("x", "succeeded")]
    assert "1 conflict: x (it already succeeded; submit it under another id)" in late.text()


async def test_submit_records_a_source_problem_as_the_entrys_failed_result(
    queue: JobQueue, tmp_path: Path
) -> None:
    problem = SourceProblem(
        id="m.jsonl:3", path=None, source="m.jsonl:3", kind="invalid_entry", message="bad line"
    )
    done = await submit(queue, "j", [problem])
    assert done.problems == 1 and "1 source problem recorded in the report" in done.text()
    (text,) = [line async for line in result_lines(queue.db, queue.keys, "j")]
    line = json.loads(text)
    assert (line["id"], line["status"], line["error"]["kind"]) == (
        "m.jsonl:3",
        "failed",
        "invalid_entry",
    )
    assert await queue.db.hget(queue.keys.job("j"), "state") == "finished"  # nothing else to do


async def test_a_write_with_an_old_generation_is_refused_after_a_takeover(
    queue: JobQueue, tmp_path: Path
) -> None:
    (a,) = files(tmp_path, "a.png")
    await submit(queue, "j", [Item(id="x", path=a)])
    (old,) = await queue.claim("j", "w1", 1, 0.2, 0.2)
    record = ItemRecord(id=old.key, path=str(a), size=300, mtime_ns=1, params=None, media_id="7")
    assert await queue.save(old, record)
    assert await queue.ack(old, 0, None, 300)
    await anyio.sleep(0.3)  # w1's heartbeat lapses: w2 takes the item over
    (new,) = await queue.claim("j", "w2", 1, 0.2, 0.2)
    assert int(new.gen) == int(old.gen) + 1
    assert new.record is not None and new.record.media_id == "7" and new.record.acked == {0}
    assert not await queue.save(old, record)  # the old holder's late writes change nothing
    assert not await queue.ack(old, 1, None, 300)
    assert await queue.renew("j", "w1", 30, [old]) == ["x"]  # its heartbeat hears LOST
    assert not await queue.finish(old, ok("x"))
    assert await queue.finish(new, ok("x"))
    assert await queue.db.xlen(queue.keys.results("j")) == 1


async def test_finish_twice_is_refused_and_the_job_finishes_with_its_last_item(
    queue: JobQueue, tmp_path: Path
) -> None:
    a, b = files(tmp_path, "a.png", "b.png")
    await submit(queue, "j", [Item(id="x", path=a), Item(id="y", path=b)], keep=60)
    x, y = await queue.claim("j", "w1", 2, 30, 30)
    assert await queue.finish(x, ok(x.id))
    assert not await queue.finish(x, ok(x.id))
    assert await queue.db.hget(queue.keys.job("j"), "state") == "active"
    assert await queue.finish(y, ok(y.id))
    assert await queue.db.hget(queue.keys.job("j"), "state") == "finished"
    counts = await queue.db.hgetall(queue.keys.counts("j"))
    assert counts["succeeded"] == "2" and counts["running"] == "0" and counts["bytes"] == "600"
    ttl = await queue.db.ttl(queue.keys.item("j", "x"))
    assert 0 < ttl <= 60  # kept for --keep, then gone


async def test_an_item_handed_back_is_taken_at_once_and_the_hand_cannot_write(
    queue: JobQueue, tmp_path: Path
) -> None:
    (a,) = files(tmp_path, "a.png")
    await submit(queue, "j", [Item(id="x", path=a)])
    (held,) = await queue.claim("j", "w1", 1, 30, 30)
    assert await queue.release(held)
    (taken,) = await queue.claim("j", "w2", 1, 30, 30)  # no waiting for a lease
    assert taken.id == "x" and not await queue.ack(held, 0, None, 1)


def test_a_spec_keeps_every_field_of_the_item_and_its_file(tmp_path: Path) -> None:
    (a,) = files(tmp_path, "a.png")
    item = Item(
        id="x",
        path=Path(os.path.relpath(a)),
        alt_text="alt",
        sensitive_media_warning=("other",),
        post="p1",
        extra={"account": "news"},
    )
    spec = spec_of(item, host="h1")
    assert spec["path"] == str(a) and spec["host"] == "h1" and spec["size"] == 500
    assert file_key(spec).startswith(f"h1:{a}:500:")
    assert item_from_spec(json.dumps(spec)) == dataclasses.replace(item, path=a)


async def test_a_new_upload_session_forgets_the_segments_of_the_one_before(
    queue: JobQueue, tmp_path: Path
) -> None:
    (a,) = files(tmp_path, "a.png")
    await submit(queue, "j", [Item(id="x", path=a)])
    (first,) = await queue.claim("j", "w1", 1, 30, 30)
    record = ItemRecord(id=first.key, path=str(a), size=500, mtime_ns=1, params=None, media_id="7")
    assert await queue.save(first, record, fresh=True)
    assert await queue.ack(first, 0, None, 250) and await queue.ack(first, 1, None, 250)
    # Its session expired: the upload starts over with a new INIT (a fresh record).
    assert await queue.save(first, dataclasses.replace(record, media_id="8"), fresh=True)
    assert await queue.release(first)
    (again,) = await queue.claim("j", "w2", 1, 30, 30)
    assert again.record is not None and again.record.media_id == "8"
    assert again.record.acked == set()  # not the segments media 7 had
    assert await queue.db.hget(queue.keys.item("j", "x"), "acked_bytes") == "0"
