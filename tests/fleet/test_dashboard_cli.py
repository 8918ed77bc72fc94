"""``bulkup dashboard`` as a user runs it: a subprocess that says where it listens,
serves the page, the feed and the metrics of a real Redis-protocol server, and stops
cleanly at Ctrl-C; bad settings are refused with the fix."""

from __future__ import annotations

import signal
import subprocess
import sys

import aiohttp
import anyio
import pytest
from anyio.streams.text import TextReceiveStream

from bulkup.fleet.connection import QueueServer
from bulkup.fleet.feed import client
from bulkup.testing.redis_server import RedisServer, free_port
from tests.fleet.fleet_state import realistic

pytestmark = pytest.mark.anyio


def command(*args: object) -> list[str]:
    return [sys.executable, "-m", "bulkup", "dashboard", *map(str, args)]


async def test_the_dashboard_says_where_it_listens_serves_the_queue_and_stops_at_ctrl_c(
    redis_server: RedisServer,
) -> None:
    db = client(QueueServer.from_url(redis_server.url, {}))
    await realistic(db)
    await db.aclose()
    port = free_port()
    env = {"PATH": "/usr/bin:/bin"}
    args = command("--queue", redis_server.url, "--port", port)
    with anyio.fail_after(60):
        async with await anyio.open_process(args, env=env, stdin=subprocess.DEVNULL) as run:
            assert run.stderr is not None
            said = ""
            async for text in TextReceiveStream(run.stderr):  # until it says it listens
                said += text
                if "\n" in said:
                    break
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/feed.json") as answer:
                    feed = await answer.json()
                async with http.get(f"http://127.0.0.1:{port}/") as answer:
                    page = await answer.text()
                    policy = answer.headers["Content-Security-Policy"]
            run.send_signal(signal.SIGINT)
            code = await run.wait()
            said += "".join([t async for t in TextReceiveStream(run.stderr)])

    assert said.startswith(f"bulkup dashboard: http://127.0.0.1:{port}/ (feed /feed.json")
    assert [job["name"] for job in feed["jobs"]] == ["photos-dec", "clips"]
    assert "<title>bulkup dashboard</title>" in page and "script-src 'self'" in policy
    assert code == 0 and said.rstrip().endswith("bulkup dashboard: stopped")
    assert "Traceback" not in said


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ((), "give the queue's URL: --queue redis://HOST:6379/0 (or $BULKUP_QUEUE)"),
        (("--queue", "http://q:6379"), "--queue must be a redis:// or rediss:// (TLS) URL"),
    ],
    ids=["no queue", "not redis"],
)
async def test_a_missing_or_wrong_queue_url_exits_2_saying_the_fix(
    args: tuple[str, ...], said: str
) -> None:
    with anyio.fail_after(60):
        done = await anyio.run_process(command(*args), env={"PATH": "/usr/bin:/bin"}, check=False)
    assert done.returncode == 2
    assert said in done.stderr.decode()
