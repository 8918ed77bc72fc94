"""Prometheus metrics: the dashboard's ``/metrics`` over a real Redis-protocol server, a
worker's :class:`WorkerMetrics` over real uploads to the emulator, and ``bulkup upload
--metrics-port`` scraped while the run is held mid-upload. Every scrape is read back
with prometheus-client's own text parser."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import anyio
import pytest
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from bulkup.client.uploader import Uploader
from bulkup.core.items import Item
from bulkup.emulator import Emulator, EmulatorConfig
from bulkup.emulator.sections import Faults
from bulkup.fleet.connection import QueueServer
from bulkup.fleet.feed import Feed, client
from bulkup.fleet.metrics import WorkerMetrics, serve_metrics
from bulkup.media import samples
from bulkup.testing.redis_server import RedisServer, free_port
from tests.conftest import FAST, HANG, KiB, oauth, upload_config
from tests.fleet.fleet_state import realistic, served_dashboard

pytestmark = pytest.mark.anyio

#: Every 429 burst the tests schedule refuses two requests in a row.
BURSTS = EmulatorConfig(lifetimes=FAST.lifetimes, faults=Faults(burst_429_length=2))
#: A scrape: (name, labels) → value.
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scraped(text: str) -> Samples:
    """Each sample of a scrape: (name, labels) → value."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[name, frozenset(labels.items())]


async def scrape(url: str) -> Samples:
    async with aiohttp.ClientSession() as http, http.get(url) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/plain")
        return scraped(await answer.text())


@pytest.fixture
async def db(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    connection = client(QueueServer.from_url(redis_server.url, {}))
    yield connection
    await connection.aclose()


async def test_the_dashboards_metrics_give_items_by_state_bytes_budgets_and_nearest_expiries(
    db: aioredis.Redis, redis_server: RedisServer
) -> None:
    await realistic(db)
    async with served_dashboard(Feed(db)) as dashboard:
        samples = await scrape(dashboard.url + "/metrics")
        redis_server.stop(kill=True)
        down = await scrape(dashboard.url + "/metrics")

    assert value(samples, "bulkup_queue_up") == 1
    assert value(samples, "bulkup_job_items", job="photos-dec", state="pending") == 120
    assert value(samples, "bulkup_job_items", job="clips", state="skipped") == 2
    succeeded = 40 * (3 << 20)
    assert value(samples, "bulkup_job_bytes_acked", job="clips") == succeeded
    budget = {"scope": "account", "who": "oauth1:7f3a9c", "endpoint": "append", "window": "15min"}
    assert value(samples, "bulkup_budget_remaining", **budget) == 1504
    assert value(samples, "bulkup_budget_limit", **budget) == 1875
    assert value(samples, "bulkup_budget_in_flight", **budget) == 6
    app = {"scope": "app", "who": "9d1e2f", "endpoint": "append", "window": "24h"}
    assert value(samples, "bulkup_budget_remaining", **app) == 171200
    nearest = value(samples, "bulkup_upload_session_seconds_left", job="photos-dec", id="img-900")
    assert 2900 < nearest <= 3000
    assert value(samples, "bulkup_workers_alive") == 2
    assert value(down, "bulkup_queue_up") == 0  # and the scrape still answers


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return BURSTS


async def test_worker_metrics_count_bytes_requests_retries_and_429s_as_the_server_saw_them(
    emulator: Emulator, tmp_path: Path
) -> None:
    files = [
        samples.write_image(tmp_path / f"p{n}.png", fmt="png", target_bytes=20 * KiB, seed=n)
        for n in range(3)
    ]
    emulator.faults.schedule("burst_429", endpoint="append", after=2)  # two 429s
    emulator.faults.schedule("error_503", endpoint="finalize")
    metrics = WorkerMetrics()
    config = upload_config(emulator, strategy="chunked", backoff_base=0.01)
    async with serve_metrics(metrics.registry, 0, host="127.0.0.1") as port:
        async with Uploader(config, auth=oauth(emulator), observer=metrics) as up:
            results = [r async for r in up.upload_many([Item(id=f.name, path=f) for f in files])]
        samples_ = await scrape(f"http://127.0.0.1:{port}/metrics")

    assert all(r.ok for r in results), [r.error for r in results]
    seen = emulator.stats()["requests"]
    counted = {
        (dict(labels)["endpoint"], dict(labels)["code"]): n
        for (name, labels), n in samples_.items()
        if name == "bulkup_requests_total"
    }
    assert counted == {(e, code): n for e, codes in seen.items() for code, n in codes.items()}
    assert seen["append"]["429"] == 2
    assert value(samples_, "bulkup_rate_limited_total", endpoint="append") == 2
    assert value(samples_, "bulkup_retries_total", endpoint="append") == 2
    assert value(samples_, "bulkup_retries_total", endpoint="finalize") == 1
    assert value(samples_, "bulkup_bytes_acked_total") == sum(f.stat().st_size for f in files)
    assert value(samples_, "bulkup_items_total", status="succeeded") == 3
    assert value(samples_, "bulkup_items_in_flight") == 0


async def test_upload_with_metrics_port_serves_the_runs_metrics_while_it_runs(
    tmp_path: Path,
) -> None:
    png = samples.write_image(tmp_path / "a.png", fmt="png", target_bytes=12 * KiB, seed=3)
    port = free_port()
    async with Emulator(HANG, environ={}) as emu:
        emu.faults.schedule("latency_spike", endpoint="finalize")  # its FINALIZE hangs
        user = emu.user
        env = {"PATH": "/usr/bin:/bin", "X_API_KEY": user.consumer_key,
               "X_API_SECRET": user.consumer_secret, "X_ACCESS_TOKEN": user.access_token,
               "X_ACCESS_TOKEN_SECRET": user.access_token_secret}  # fmt: skip
        args = ["upload", png, "--endpoint", emu.url, "--chunk-size", "4KiB"]
        args += ["--strategy", "chunked", "--metrics-port", port, "--report", tmp_path / "r.jsonl"]
        command = [sys.executable, "-m", "bulkup", *map(str, args)]
        with anyio.fail_after(60):
            async with await anyio.open_process(command, env=env, stdin=subprocess.DEVNULL) as run:
                await emu.wait_for_fault("latency_spike")
                held = await scrape(f"http://127.0.0.1:{port}/metrics")
                run.send_signal(signal.SIGINT)
                assert await run.wait() == 130

    assert value(held, "bulkup_bytes_acked_total") == png.stat().st_size
    assert value(held, "bulkup_requests_total", endpoint="initialize", code="200") == 1
    assert value(held, "bulkup_requests_total", endpoint="append", code="200") == 3
    assert value(held, "bulkup_items_in_flight") == 1


async def test_a_metrics_port_already_taken_refuses_the_run_naming_the_port(
    tmp_path: Path,
) -> None:
    png = samples.write_image(tmp_path / "a.png", fmt="png", width=8, height=8)
    async with (
        Emulator(FAST, environ={}) as emu,
        serve_metrics(WorkerMetrics().registry, 0, host="0.0.0.0") as taken,
    ):
        user = emu.user
        env = {"PATH": "/usr/bin:/bin", "X_API_KEY": user.consumer_key,
               "X_API_SECRET": user.consumer_secret, "X_ACCESS_TOKEN": user.access_token,
               "X_ACCESS_TOKEN_SECRET": user.access_token_secret}  # fmt: skip
        args = ["upload", png, "--endpoint", emu.url, "--metrics-port", taken]
        command = [sys.executable, "-m", "bulkup", *map(str, args)]
        with anyio.fail_after(60):
            done = await anyio.run_process(command, env=env, check=False)
        assert emu.stats()["requests"] == {}  # nothing was sent

    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert f"cannot serve metrics on 0.0.0.0:{taken}" in err and "give another port" in err
    assert "Traceback" not in err
