"""Shared budgets on a real Redis-protocol server: the reservation scripts and the pacer.

The scripts (:mod:`bulkup.client.budget_scripts`) run on the suite's server (``redis_server``:
never a fake), on its clock; the pacer (:class:`SharedPacer`) is driven with answers'
headers as X sends them. Leases lapse in real time, so the test of a lapsed lease waits
the fraction of a second the server names.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import pytest
import redis.asyncio as aioredis

from bulkup.client.budget_scripts import RESERVE, SETTLE
from bulkup.client.budget_url import BudgetServer, BudgetUnreachable
from bulkup.client.pacer_api import RESET_SLACK_SECS
from bulkup.client.shared_budget import SharedPacer
from bulkup.client.uploader import Uploader
from bulkup.core.items import Item
from bulkup.emulator import Emulator
from bulkup.errors import RateCapped
from bulkup.media import samples
from bulkup.testing.redis_server import RedisServer, free_port
from tests.conftest import FAST, file_sha256, oauth, upload_config

pytestmark = pytest.mark.anyio

#: One window: its hash and its leases.
KEYS = ["t:budget", "t:budget:leases"]


class Scripts:
    """The two scripts on one window, as the pacer calls them."""

    def __init__(self, db: aioredis.Redis) -> None:
        self.db = db
        self._reserve = db.register_script(RESERVE)
        self._settle = db.register_script(SETTLE)

    async def now(self) -> float:
        seconds, micros = await self.db.time()
        return seconds + micros / 1e6

    async def reserve(
        self, lease: str, *, assumed: int | None = None, lease_secs: float = 60, length: float = 900
    ) -> list[Any]:
        args: list[Any] = [lease, lease_secs, 1.0, RESET_SLACK_SECS]
        args.append("" if assumed is None else assumed)
        return list(await self._reserve(keys=KEYS, args=[*args, length]))

    async def settle(self, lease: str, window: tuple[int, int, float] | None = None) -> None:
        args: list[Any] = [lease, "1", "", "", "t:freed", *(window or ("", "", ""))]
        await self._settle(keys=KEYS, args=args)

    async def window(self) -> dict[str, str]:
        found = await self.db.hgetall(KEYS[0])
        return {str(k): str(v) for k, v in found.items()}


@pytest.fixture
async def scripts(redis_server: RedisServer) -> AsyncIterator[Scripts]:
    async with aioredis.from_url(redis_server.url, decode_responses=True) as db:
        yield Scripts(db)


async def test_reservations_go_up_to_the_limit_and_past_it_wait_for_the_reset(
    scripts: Scripts,
) -> None:
    start = await scripts.now()
    for n in range(3):  # an assumed limit of 3: three requests at once, not one at a time
        assert (await scripts.reserve(f"p:{n}", assumed=3))[0] == 1
    refused = await scripts.reserve("p:3", assumed=3)
    assert refused[0] == 0 and refused[3] == "0"  # held by requests in flight, not a cap
    for n in range(3):
        await scripts.settle(f"p:{n}")  # answered without headers: each counts one
    granted, wait, window, capped = await scripts.reserve("p:3", assumed=3)
    assert (granted, window, capped) == (0, "1", "0")  # spent: an assumed window, no cap
    assert float(wait) == pytest.approx(900 - (await scripts.now() - start), abs=1.0)


async def test_the_answers_headers_correct_the_count_and_a_spent_window_is_a_cap(
    scripts: Scripts,
) -> None:
    reset = round(await scripts.now()) + 60
    assert (await scripts.reserve("p:1", assumed=500))[0] == 1
    await scripts.settle("p:1", (10, 2, reset))  # X: a limit of 10, 2 left
    window = await scripts.window()
    assert (window["limit"], window["remaining"], window["announced"]) == ("10", "2", "1")
    assert float(window["reset"]) == reset
    for n in (2, 3):
        assert (await scripts.reserve(f"p:{n}", assumed=500))[0] == 1
    await scripts.settle("p:3", (10, 0, reset))
    await scripts.settle("p:2", (10, 1, reset))  # out of order: the lower count stands
    assert (await scripts.window())["remaining"] == "0"
    granted, wait, window, capped = await scripts.reserve("p:4", assumed=500)
    assert (granted, window, capped) == (0, "1", "1")  # X announced it: past max-wait, a cap
    assert float(wait) == pytest.approx(reset + RESET_SLACK_SECS - await scripts.now(), abs=0.1)


async def test_a_reservation_never_settled_is_given_back_when_its_lease_lapses(
    scripts: Scripts,
) -> None:
    assert (await scripts.reserve("dead:1", assumed=1, lease_secs=0.3))[0] == 1
    granted, wait, _, capped = await scripts.reserve("live:1", assumed=1)
    assert granted == 0 and capped == "0" and 0 < float(wait) <= 0.3  # until the lease lapses
    await anyio.sleep(float(wait))  # the process that holds it died: the lease lapses
    assert (await scripts.reserve("live:1", assumed=1))[0] == 1


async def test_requests_waiting_on_anothers_leases_are_told_when_the_answers_spend_the_window(
    scripts: Scripts,
) -> None:
    """A process waiting for places that another process's requests in flight hold is
    told to wait until their leases lapse (60 s). When their answers then spend the
    window, it must hear so and wait only until the window resets (it slept the 60 s:
    benchmark 9, two workers, 66 s where 13 s were enough)."""
    assert (await scripts.reserve("a:1", assumed=1))[0] == 1
    granted, wait, _, _ = await scripts.reserve("b:1", assumed=1)
    assert granted == 0 and float(wait) > 50  # until a:1's lease lapses
    async with scripts.db.pubsub() as channel:
        await channel.subscribe("t:freed")
        await channel.get_message(timeout=1)  # the subscription's confirmation
        reset = round(await scripts.now()) + 2
        await scripts.settle("a:1", (1, 0, reset))  # X: the window is spent until reset
        with anyio.fail_after(10):
            told = await channel.get_message(ignore_subscribe_messages=True, timeout=10)
    assert told is not None and told["channel"] == "t:freed"
    granted, wait, _, capped = await scripts.reserve("b:1", assumed=1)
    assert (granted, capped) == (0, "1")
    assert float(wait) == pytest.approx(reset + RESET_SLACK_SECS - await scripts.now(), abs=0.5)


# --- the pacer ------------------------------------------------------------------------------


@pytest.fixture
async def pacers(redis_server: RedisServer) -> AsyncIterator[Callable[..., Any]]:
    """Connected shared pacers on the suite's server (``account``, ``app``, …)."""
    async with AsyncExitStack() as stack:

        async def make(**kw: Any) -> SharedPacer:
            pacer = SharedPacer(BudgetServer.from_url(redis_server.url), **kw)
            return await stack.enter_async_context(pacer.connected())

        yield make


def app_day(remaining: int, reset: float) -> dict[str, str]:
    return {
        "x-rate-limit-limit": "500",
        "x-rate-limit-remaining": "400",
        "x-rate-limit-reset": str(int(reset)),
        "x-app-limit-24hour-limit": "50000",
        "x-app-limit-24hour-remaining": str(remaining),
        "x-app-limit-24hour-reset": str(int(reset + 86_000)),
    }


async def test_two_accounts_of_one_app_share_its_24_hour_cap(
    pacers: Callable[..., Any],
) -> None:
    first = await pacers(account="oauth1:aaaa", app="app1", max_wait=900)
    second = await pacers(account="oauth1:bbbb", app="app1", max_wait=900)
    other_app = await pacers(account="oauth1:cccc", app="app2", max_wait=900)
    now = time.time()
    async with first.slot("upload") as held:
        first.observe(held, app_day(remaining=1, reset=now + 300))
    async with second.slot("upload") as held:  # the app's last request, by another account
        second.observe(held, app_day(remaining=0, reset=now + 300))
    for pacer in (first, second):
        with pytest.raises(RateCapped, match="24-hour app limit of upload is spent"):
            async with pacer.slot("upload"):
                pass
    async with other_app.slot("upload"):  # another app's cap is its own
        pass


async def test_a_budget_server_that_does_not_answer_at_the_start_is_named_with_the_fix() -> None:
    url = f"redis://:s3cret-pass@127.0.0.1:{free_port()}/0"
    pacer = SharedPacer(BudgetServer.from_url(url), account="oauth1:aaaa", app="app1")
    with pytest.raises(BudgetUnreachable) as caught:
        async with pacer.connected():
            pass
    message = str(caught.value)
    assert "redis://:***@127.0.0.1" in message and "s3cret-pass" not in message
    assert "--budget" in message and "nothing was sent" in message


# --- a server that goes away mid-run ----------------------------------------------------------
async def test_a_budget_server_that_goes_away_mid_run_pauses_the_uploads_and_loses_nothing(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [samples.write_image(tmp_path / f"i{n}.png", seed=n) for n in range(6)]
    gone = anyio.Event()
    async with Emulator(FAST, environ={}) as emu:
        config = upload_config(emu, budget=redis_server.url, concurrency=2, files_in_flight=1)
        with anyio.fail_after(30):
            async with Uploader(config, auth=oauth(emu)) as up, anyio.create_task_group() as tg:
                pacer = up.runtime.transport.pacer
                assert isinstance(pacer, SharedPacer)
                said = pacer._went_away

                def went_away(exc: BaseException) -> None:
                    said(exc)
                    gone.set()

                pacer._went_away = went_away  # type: ignore[method-assign]

                async def back_when_missed() -> None:
                    await gone.wait()  # the uploads found it gone, and wait
                    await anyio.to_thread.run_sync(redis_server.start)

                tg.start_soon(back_when_missed)
                results = []
                async for result in up.upload_many([Item(id=f.name, path=f) for f in files]):
                    results.append(result)
                    if len(results) == 1:
                        redis_server.stop(kill=True)  # the budget's server crashes
        assert gone.is_set()
        for result, path in zip(sorted(results, key=lambda r: r.id), files, strict=True):
            assert result.ok, result.error
            info = emu.media(result.media_id_string)  # type: ignore[arg-type]
            assert info is not None and info["sha256"] == file_sha256(path)
    err = capsys.readouterr().err
    assert err.count("does not answer") == 1 and "answers again" in err, err
