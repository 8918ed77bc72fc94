"""Three ``bulkup worker`` processes on one job, one of them SIGKILLed mid-upload three
times (and started again each time): every item byte-exact, reported exactly once, and
the bytes sent again no more than the segments that were in flight when it died.

The emulator answers each request after 150 ms, so the job lasts a few seconds; the
victim is killed once it took items and the emulator answered a few more APPENDs
(so it holds uploads in progress: their records are in Redis). The others take
its items over once their heartbeat lapsed (``--claim-after 1``: about a second of real
waiting each time) and resume the same upload sessions.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
import redis.asyncio as aioredis
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream

from bulkup.emulator import Emulator, EmulatorConfig, Network, RateLimits
from bulkup.fleet.jobs import result_lines
from bulkup.fleet.queue import JobQueue
from bulkup.fleet.submit import submit
from bulkup.testing.redis_server import RedisServer
from tests.cli.test_cli_upload import env_for
from tests.conftest import FAST_LIFETIMES, KiB
from tests.fleet.test_worker import check_byte_exact, images

pytestmark = pytest.mark.anyio

ITEMS = 40
FILES_IN_FLIGHT, SEGMENTS_PER_FILE, CHUNK = 2, 2, 4 * KiB
KILLS = 3


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    config = EmulatorConfig(
        lifetimes=FAST_LIFETIMES,
        network=Network(latency_ms=150),
        limits=RateLimits(enabled=False),
    )
    async with Emulator(config, environ={}) as emulator:
        yield emulator


@pytest.fixture
async def db(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


class WorkerProcess:
    """``bulkup worker`` in a process; its stderr read as it comes (JSON log lines)."""

    def __init__(self, process: Process) -> None:
        self.process = process
        self.took = anyio.Event()
        self.lines: list[str] = []

    async def read(self) -> None:
        assert self.process.stderr is not None
        buffer = ""
        async for chunk in TextReceiveStream(self.process.stderr):
            buffer += chunk
            *whole, buffer = buffer.split("\n")
            for line in whole:
                self.lines.append(line)
                if '"item_taken"' in line:
                    self.took.set()


async def start(
    tg: anyio.abc.TaskGroup,
    url: str,
    emu: Emulator,
    claim_after: str = "1",
    files_in_flight: int = FILES_IN_FLIGHT,
) -> WorkerProcess:
    args = [
        sys.executable, "-m", "bulkup", "worker", "--queue", url, "--job", "j",
        "--claim-after", claim_after, "--exit-when-idle", "--endpoint", emu.url,
        "--chunk-size", "4KiB", "--strategy", "chunked",
        "--files-in-flight", str(files_in_flight), "--segments-per-file", str(SEGMENTS_PER_FILE),
        "--log-format", "json", "--log-level", "info",
    ]  # fmt: skip
    process = await anyio.open_process(args, env=env_for(emu), stdout=None)
    worker = WorkerProcess(process)
    tg.start_soon(worker.read)
    return worker


async def test_three_workers_one_killed_three_times_upload_every_item_once_byte_exact(
    redis_server: RedisServer, db: aioredis.Redis, emu: Emulator, tmp_path: Path
) -> None:
    items = images(tmp_path, ITEMS, size=32 * KiB)  # 8 segments each
    queue = JobQueue(db)
    await submit(queue, "j", items)
    codes: list[int | None] = []
    workers: list[WorkerProcess] = []
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            # The two that live take one item at a time: the job lasts past the third kill.
            workers += [await start(tg, redis_server.url, emu, files_in_flight=1) for _ in "ab"]
            victim = await start(tg, redis_server.url, emu)
            workers.append(victim)
            for _ in range(KILLS):
                await victim.took.wait()  # it holds items: some APPENDs later, it uploads them
                appended = emu.stats()["requests"].get("append", {}).get("200", 0)
                await emu.wait_for_requests("append", appended + 9, status=200)
                assert await queue.remaining("j") > ITEMS // 4, "the job ended before the kills"
                victim.process.send_signal(signal.SIGKILL)
                await victim.process.wait()
                victim = await start(tg, redis_server.url, emu)
                workers.append(victim)
            for worker in workers:
                codes.append(await worker.process.wait())
    lines = [json.loads(line) async for line in result_lines(db, queue.keys, "j")]
    check_byte_exact(lines, items, emu)  # every item once, the emulator holds its bytes
    assert codes == [0, 0, -signal.SIGKILL, -signal.SIGKILL, -signal.SIGKILL, 0], codes
    taken_over = [
        item.id
        for item in items
        if int(await db.hget(queue.keys.item("j", item.id), "gen") or 0) > 1
    ]
    assert taken_over, "no item was taken over from the killed worker"
    initialized = emu.stats()["requests"]["initialize"].get("200", 0)
    # The taken-over items resumed their upload sessions: no INIT again (but for one
    # killed in the millisecond between INIT's answer and its record reaching Redis).
    assert ITEMS <= initialized < ITEMS + len(taken_over), (initialized, taken_over)
    total = sum(item.path.stat().st_size for item in items)
    resent = emu.stats()["bytes_received"] - total
    in_flight = FILES_IN_FLIGHT * SEGMENTS_PER_FILE * CHUNK  # per worker at a kill
    assert 0 <= resent <= KILLS * in_flight, (resent, taken_over)


async def test_a_worker_stopped_by_sigterm_exits_143_and_hands_its_items_back_at_once(
    redis_server: RedisServer, db: aioredis.Redis, emu: Emulator, tmp_path: Path
) -> None:
    items = images(tmp_path, 4, size=32 * KiB)
    queue = JobQueue(db)
    await submit(queue, "j", items)
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            worker = await start(tg, redis_server.url, emu, claim_after="30")
            await worker.took.wait()
            await emu.wait_for_requests("append", 6, status=200)  # some acked
            worker.process.send_signal(signal.SIGTERM)
            assert await worker.process.wait() == 143
    counts = await db.hgetall(queue.keys.counts("j"))
    assert counts.get("running") == "0", counts
    # Another worker takes them now, though their lease (--claim-after) had 30 s to run.
    taken = await queue.claim("j", "other", 4, claim_after=30, lease=30)
    assert len(taken) == 4 - int(counts.get("succeeded", 0))
    assert any(claim.record is not None and claim.record.acked for claim in taken)
