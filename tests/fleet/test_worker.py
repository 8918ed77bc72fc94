"""Workers in this process, on the suite's Redis server and a real emulator: a job
uploaded by two workers byte-exact with a complete report, and a Redis server killed
and restarted mid-run (AOF on) losing nothing."""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest
import redis.asyncio as aioredis

from bulkup.auth.credentials import Auth, OAuth1Auth
from bulkup.core.items import Item, Result
from bulkup.emulator import Emulator, EmulatorConfig, Network
from bulkup.errors import ConfigError
from bulkup.fleet.connection import Patience
from bulkup.fleet.jobs import job_status, result_lines
from bulkup.fleet.queue import JobQueue
from bulkup.fleet.registry import Registration
from bulkup.fleet.submit import submit
from bulkup.fleet.worker import Tally, Worker, WorkerSettings
from bulkup.media import samples
from bulkup.testing.redis_server import RedisServer
from tests.apiclient import credentials
from tests.conftest import FAST_LIFETIMES, file_sha256, oauth, upload_config

pytestmark = pytest.mark.anyio

KiB = 1024


@pytest.fixture
async def db(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


def images(folder: Path, count: int, size: int = 24 * KiB) -> list[Item]:
    """``count`` images of ``size`` bytes (6 segments of 4 KiB each)."""
    items = []
    for n in range(count):
        path = samples.write_image(folder / f"img{n}.png", seed=n, target_bytes=size)
        items.append(Item(id=f"img-{n}", path=path))
    return items


class Said(list[str]):
    """What the workers said on standard error; ``gone`` is set by the first line."""

    def __init__(self) -> None:
        super().__init__()
        self.gone = anyio.Event()

    def __call__(self, text: str) -> None:
        self.append(text)
        self.gone.set()


async def work(url: str, emu: Emulator, name: str, said: Said, **settings: Any) -> Tally:
    """One worker, to the end of job ``j``."""
    db = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        queue = JobQueue(db)
        config = upload_config(emu, strategy="chunked", files_in_flight=2)
        ws = WorkerSettings(("j",), settings.get("claim_after", 1.0), True, 0.1)
        worker = Worker(
            queue,
            config,
            partial(auth_for, emu),
            ws,
            Patience(url, say=said),
            Registration(db, queue.keys, name, "test"),
        )
        return await worker.run()
    finally:
        await db.aclose()


def auth_for(emu: Emulator, account: str | None) -> Auth:
    """The emulator's user for items naming no account; the worker's refusal otherwise."""
    if account is None:
        return oauth(emu)
    raise ConfigError(f"the item names the account {account!r}, for which this worker holds none")


async def report(db: aioredis.Redis, job: str = "j") -> list[dict[str, Any]]:
    queue = JobQueue(db)
    return [json.loads(line) async for line in result_lines(db, queue.keys, job)]


def check_byte_exact(lines: list[dict[str, Any]], items: list[Item], emu: Emulator) -> None:
    """Every item reported once, succeeded, and the emulator holds its bytes."""
    assert sorted(line["id"] for line in lines) == sorted(item.id for item in items)
    paths = {item.id: item.path for item in items}
    for line in lines:
        assert line["status"] == "succeeded", line
        media = emu.media(line["media_id_string"])
        assert media is not None and media["sha256"] == file_sha256(paths[line["id"]])


async def test_a_job_uploaded_by_two_workers_is_byte_exact_and_reported_once_per_item(
    redis_server: RedisServer, db: aioredis.Redis, x_media_emulator: Emulator, tmp_path: Path
) -> None:
    emu = x_media_emulator
    items = images(tmp_path, 8)
    await submit(JobQueue(db), "j", items)
    said = Said()
    tallies: list[Tally] = []

    async def one(name: str) -> None:
        tallies.append(await work(redis_server.url, emu, name, said))

    async with anyio.create_task_group() as tg:
        tg.start_soon(one, "w1")
        tg.start_soon(one, "w2")
    check_byte_exact(await report(db), items, emu)
    assert sorted(t.done for t in tallies) != [0, 8] and sum(t.done for t in tallies) == 8
    status = await job_status(db, JobQueue(db).keys, "j")
    assert status is not None
    assert (status["state"], status["succeeded"], status["pending"], status["running"]) == (
        "finished",
        8,
        0,
        0,
    )
    assert status["bytes_succeeded"] == sum(item.path.stat().st_size for item in items)
    assert said == []  # the server never went away


async def test_redis_killed_and_restarted_mid_run_loses_nothing(
    redis_server: RedisServer, db: aioredis.Redis, x_media_emulator: Emulator, tmp_path: Path
) -> None:
    emu = x_media_emulator
    items = images(tmp_path, 6, size=48 * KiB)
    await submit(JobQueue(db), "j", items)
    said = Said()
    tallies: list[Tally] = []

    async def one(name: str) -> None:
        tallies.append(await work(redis_server.url, emu, name, said, claim_after=2.0))

    async with anyio.create_task_group() as tg:
        tg.start_soon(one, "w1")
        tg.start_soon(one, "w2")
        await emu.wait_for_requests("append", 8)
        await anyio.to_thread.run_sync(lambda: redis_server.stop(kill=True))
        with anyio.fail_after(30):
            await said.gone.wait()  # a worker found it gone, and goes on uploading
        await anyio.to_thread.run_sync(redis_server.start)  # its data back from the AOF
    lines = await report(db)
    check_byte_exact(lines, items, emu)
    assert any("does not answer" in text and "nothing is lost" in text for text in said), said
    assert said[-1].endswith("answers again; going on"), said
    assert sum(t.done for t in tallies) == len(items)


async def test_a_file_the_worker_cannot_read_fails_naming_the_host_and_the_path(
    redis_server: RedisServer, db: aioredis.Redis, x_media_emulator: Emulator, tmp_path: Path
) -> None:
    items = images(tmp_path, 2, size=8 * KiB)
    accounted = dataclasses.replace(items[1], id="news-1", extra={"account": "news"})
    await submit(JobQueue(db), "j", [*items, accounted])
    items[0].path.unlink()  # gone from this host since it was submitted
    await work(redis_server.url, x_media_emulator, "w1", Said())
    lines = {line["id"]: line for line in await report(db)}
    assert lines["img-1"]["status"] == "succeeded"
    error = lines["img-0"]["error"]
    assert lines["img-0"]["status"] == "failed" and error["kind"] == "missing_file"
    assert error["message"].startswith(f"on host {socket.gethostname()}")
    assert str(items[0].path) in error["message"]
    error = lines["news-1"]["error"]
    assert (lines["news-1"]["status"], error["kind"]) == ("failed", "unknown_account")
    assert "the item names the account 'news'" in error["message"]


async def test_a_worker_whose_credentials_are_refused_stops_and_hands_its_items_back(
    redis_server: RedisServer, db: aioredis.Redis, x_media_emulator: Emulator, tmp_path: Path
) -> None:
    emu = x_media_emulator
    items = images(tmp_path, 3, size=8 * KiB)
    queue = JobQueue(db)
    await submit(queue, "j", items)
    wrong = OAuth1Auth(dataclasses.replace(credentials(emu.user), token_secret="wrong"))
    worker = Worker(
        queue,
        upload_config(emu, strategy="chunked", files_in_flight=2),
        lambda account: wrong,
        WorkerSettings(("j",), 30.0, True, 0.1),
        Patience(redis_server.url, say=Said()),
        Registration(db, queue.keys, "w-bad", "test"),
    )
    with anyio.fail_after(20):
        tally = await worker.run()
    assert worker.stopped is not None and worker.stopped.http_status == 401
    assert tally.done == 0 and await report(db) == []  # none skipped for good
    counts = await db.hgetall(queue.keys.counts("j"))
    assert (counts["pending"], counts["running"]) == ("3", "0")
    await work(redis_server.url, emu, "w-good", Said())  # another worker uploads them all
    check_byte_exact(await report(db), items, emu)


async def test_a_worker_that_lost_its_lease_stops_that_item_and_its_late_writes_change_nothing(
    redis_server: RedisServer, db: aioredis.Redis, tmp_path: Path
) -> None:
    config = EmulatorConfig(lifetimes=FAST_LIFETIMES, network=Network(latency_ms=100))
    items = images(tmp_path, 1, size=48 * KiB)  # 12 segments
    queue = JobQueue(db)
    await submit(queue, "j", items)
    tallies: list[Tally] = []
    async with Emulator(config, environ={}) as emu, anyio.create_task_group() as tg:

        async def one() -> None:
            tallies.append(await work(redis_server.url, emu, "w1", Said(), claim_after=30.0))

        tg.start_soon(one)
        await emu.wait_for_requests("append", 2, status=200)
        # Another worker takes the item now (as if w1's heartbeat had lapsed).
        (stolen,) = await queue.claim("j", "thief", 1, claim_after=0, lease=30)
        assert stolen.record is not None and stolen.record.media_id is not None
        assert await queue.finish(stolen, Result(id="img-0", path="/x", status="failed"))
        # w1 hears LOST at its next write, stops the item, and exits: nothing left to do.
    assert tallies[0].lost == 1 and tallies[0].done == 0
    assert [line["status"] for line in await report(db)] == ["failed"]  # the thief's, once
    requests = emu.stats()["requests"]
    assert sum(requests["append"].values()) < 12 and "finalize" not in requests, requests
