"""The dashboard's feed, read from a real Redis-protocol server in the state workers leave.

The state is written as ``submit`` and the workers write it (:mod:`tests.fleet.fleet_state`);
the feed is read over HTTP from the dashboard's app on a real socket, as the page reads it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
import redis.asyncio as aioredis

from bulkup.fleet.connection import QueueServer
from bulkup.fleet.feed import Feed, client
from bulkup.fleet.keys import Keys
from bulkup.testing.redis_server import RedisServer
from tests.fleet.fleet_state import (
    HOSTILE,
    Dashboard,
    FleetState,
    realistic,
    served_dashboard,
    server_now,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
async def db(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    connection = client(QueueServer.from_url(redis_server.url, {}))
    yield connection
    await connection.aclose()


@pytest.fixture
async def dashboard(db: aioredis.Redis) -> AsyncIterator[Dashboard]:
    async with served_dashboard(Feed(db)) as served:
        yield served


async def test_the_feed_shows_each_job_with_its_counts_bytes_and_an_eta_from_the_recent_rate(
    db: aioredis.Redis, dashboard: Dashboard
) -> None:
    written = await realistic(db)
    feed = await dashboard.get("/feed.json")

    assert feed["ok"] is True
    photos, clips = feed["jobs"]  # the most recently active first
    assert (photos["name"], photos["state"], clips["name"], clips["state"]) == (
        "photos-dec",
        "active",
        "clips",
        "finished",
    )
    assert photos["counts"] == {"pending": 120, "running": 4, "succeeded": 52, "failed": 3,
                                "skipped": 0}  # fmt: skip
    assert photos["total"] == 179 and clips["total"] == 42
    assert clips["bytes"] == 40 * (3 << 20)
    # the rate of the last minute (some 12 results) gives the ETA of the 124 left
    recent = sum(1 for at in written["finished"]["photos-dec"] if at >= feed["at"] - 60)
    assert 10 <= recent <= 12
    assert photos["rate"] == pytest.approx(recent / 60, rel=0.01)
    assert photos["eta_secs"] == pytest.approx(124 / (recent / 60), rel=0.01)
    assert clips["eta_secs"] is None
    assert feed["items"] == {"pending": 120, "running": 4, "succeeded": 92, "failed": 3,
                             "skipped": 2}  # fmt: skip


async def test_the_throughput_counts_items_and_bytes_per_interval_from_the_results_streams(
    db: aioredis.Redis, dashboard: Dashboard
) -> None:
    await realistic(db)
    throughput = (await dashboard.get("/feed.json"))["throughput"]

    assert throughput["interval"] == 10 and len(throughput["items"]) == 30
    # the last 5 minutes: the 55 results of photos-dec; the clips finished 15 minutes ago
    assert sum(throughput["items"]) == 55
    succeeded = await db.hget(Keys().counts("photos-dec"), "bytes")
    assert sum(throughput["bytes"]) == int(succeeded or 0)  # failures carry no bytes
    assert max(throughput["items"]) <= 3  # one every 5 s, spread over the bars


async def test_the_feed_lists_workers_alive_with_what_each_uploads_and_the_sessions_nearest_expiry(
    db: aioredis.Redis, dashboard: Dashboard
) -> None:
    written = await realistic(db)
    feed = await dashboard.get("/feed.json")

    workers = {w["id"]: w for w in feed["workers"]}
    assert set(workers) == {"upload-a-4101", "upload-b-977"}  # upload-c-12's heartbeat lapsed
    assert feed["lapsed_workers"] == 1
    a = workers["upload-a-4101"]
    assert (a["host"], a["pid"], a["done"]) == ("upload-a", 4101, 31)
    assert [i["path"] for i in a["items"]] == [u["path"] for u in written["uploads"][:3]]
    assert a["items"][2]["acked_bytes"] == 2 << 20 and a["items"][2]["size"] == 4 << 20
    sessions = feed["sessions"]
    assert [s["id"] for s in sessions] == ["img-900", "img-901", "img-902", "img-903"]
    assert sessions[0]["secs_left"] == pytest.approx(written["now"] + 3000 - feed["at"], abs=0.01)


async def test_the_feed_shows_each_budget_window_against_its_limit_with_requests_in_flight(
    db: aioredis.Redis, dashboard: Dashboard
) -> None:
    await realistic(db)
    await db.set(Keys().prefix + "budget:someone:append", "not a window")  # not a hash: skipped
    budgets = (await dashboard.get("/feed.json"))["budgets"]

    found = {(b["scope"], b["who"], b["endpoint"], b["window"]): b for b in budgets}
    append = found["account", "oauth1:7f3a9c", "append", "15min"]
    assert (append["limit"], append["remaining"], append["in_flight"]) == (1875, 1504, 6)
    assert found["account", "oauth1:7f3a9c", "upload", "15min"]["remaining"] == 12
    app = found["app", "9d1e2f", "append", "24h"]
    assert (app["limit"], app["remaining"], app["in_flight"]) == (180000, 171200, 8)
    turned = found["account", "oauth1:51be02", "append", "15min"]
    assert (turned["remaining"], turned["reset"]) == (1875, None)  # its window is over
    assert len(budgets) == 5  # the leases' sorted sets are not windows


async def test_the_feed_lists_the_last_failures_newest_first_with_their_reasons(
    db: aioredis.Redis, dashboard: Dashboard
) -> None:
    await realistic(db)
    state, now = FleetState(db), await server_now(db)
    for n in range(25):  # more failures than are shown
        await state.failed("clips", now + n / 100, f"late-{n}", f"/data/late-{n}.mp4", "HTTP 413")
    failures = (await dashboard.get("/feed.json"))["failures"]

    assert len(failures) == 20
    assert [f["id"] for f in failures[:2]] == ["late-24", "late-23"]
    assert failures[0] | {"at": None} == {"job": "clips", "id": "late-24", "at": None,
        "path": "/data/late-24.mp4", "kind": "api_error", "reason": "HTTP 413"}  # fmt: skip

    await db.delete(Keys().results("clips"), Keys().job("clips"), Keys().counts("clips"))
    await db.zrem(Keys().jobs, "clips")
    failures = (await dashboard.get("/feed.json"))["failures"]  # a job that expired is gone
    assert [f["id"] for f in failures] == ["img-bad3", "img-bad2", "img-bad1"]
    assert failures[1]["path"] == f"/data/{HOSTILE}" and failures[1]["reason"] == "unsupported"


async def test_a_read_takes_at_most_scan_results_per_job_then_only_the_new_ones(
    db: aioredis.Redis,
) -> None:
    state, now = FleetState(db), await server_now(db)
    await state.job("big", now - 100, pending=1000)
    for n in range(30):
        await state.finished("big", now - 60 + n, f"f-{n}", 1000)
    feed = Feed(db, scan=5)

    first = await feed.read()
    assert sum(first["throughput"]["items"]) == 5  # the newest 5, not the whole stream
    for n in range(3):  # newer than those read, and within the window whatever the clock
        await state.finished("big", now - 20 + n, f"g-{n}", 1000)
    second = await feed.read()
    assert sum(second["throughput"]["items"]) == 8  # the 3 new ones, each counted once


async def test_a_redis_that_goes_away_is_said_in_the_feed_and_the_feed_recovers_when_it_is_back(
    db: aioredis.Redis, dashboard: Dashboard, redis_server: RedisServer
) -> None:
    await realistic(db)
    redis_server.stop(kill=True)
    with anyio.fail_after(30):
        down = await dashboard.get("/feed.json")
    assert down["ok"] is False
    assert "the queue's Redis does not answer" in down["error"]
    assert down["queue"] == "redis://127.0.0.1/0"  # the page still names the server

    redis_server.start()  # the same port; its AOF kept the state
    with anyio.fail_after(30):
        back = await dashboard.get("/feed.json")
    assert back["ok"] is True
    assert [job["name"] for job in back["jobs"]] == ["photos-dec", "clips"]


async def test_the_queue_password_comes_from_the_environment_and_is_never_shown(
    redis_server: RedisServer,
) -> None:
    server = QueueServer.from_url("redis://127.0.0.1:6390/0", {"BULKUP_QUEUE_PASSWORD": "s3cret"})
    assert server.password == "s3cret"
    assert "s3cret" not in server.shown
    with_url = QueueServer.from_url("redis://:pw@127.0.0.1:6390/0", {})
    assert with_url.shown == "redis://:***@127.0.0.1:6390/0"
