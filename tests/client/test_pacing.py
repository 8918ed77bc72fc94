"""Rate-limit pacing: spend the announced budget, then wait for the reset, never a 429.

The bookkeeping (:class:`Budget`) and the waiting (:class:`Pacer`) run on an
injected clock, as does STATUS polling (which must not burn its budget); the last
test paces a real upload against the emulator's windows.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from bulkup.auth.credentials import OAuth1Auth
from bulkup.client.config import UploadConfig
from bulkup.client.pacing import RESET_SLACK_SECS, Budget, Pacer
from bulkup.client.uploader import Uploader
from bulkup.core.items import Item
from bulkup.emulator import Emulator, EmulatorConfig, Lifetimes, RateLimits
from bulkup.media import samples
from tests.apiclient import credentials
from tests.conftest import KiB

pytestmark = pytest.mark.anyio

NOW = 1_700_000_000.0


def headers(remaining: int, reset: float, limit: int = 10) -> dict[str, str]:
    return {
        "x-rate-limit-limit": str(limit),
        "x-rate-limit-remaining": str(remaining),
        "x-rate-limit-reset": str(int(reset)),
    }


class FakeClock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --- Budget: pure decisions -----------------------------------------------------------
def test_an_unknown_budget_lets_one_request_go_at_a_time() -> None:
    budget = Budget()
    assert budget.wait_secs(NOW) == 0.0
    budget.in_flight = 1
    assert budget.wait_secs(NOW) is None  # wait for its answer to learn the budget


def test_the_budget_is_spent_counting_requests_in_flight_then_waits_for_the_reset() -> None:
    reset = NOW + 60
    budget = Budget()
    budget.update(headers(remaining=3, reset=reset))
    assert budget.limit == 10 and budget.remaining == 3

    budget.in_flight = 2
    assert budget.wait_secs(NOW) == 0.0  # one left beyond the two in flight
    budget.in_flight = 3
    assert budget.wait_secs(NOW) is None  # all of it is in flight: wait for an answer

    budget.in_flight = 0
    budget.update(headers(remaining=0, reset=reset))
    assert budget.wait_secs(NOW) == pytest.approx(60 + RESET_SLACK_SECS)
    assert budget.wait_secs(reset) == pytest.approx(RESET_SLACK_SECS)  # the slack absorbs skew


def test_answers_arriving_out_of_order_never_raise_the_remaining_budget() -> None:
    reset = NOW + 60
    budget = Budget()
    budget.update(headers(remaining=4, reset=reset))
    budget.update(headers(remaining=7, reset=reset))  # an older answer of the same window
    assert budget.remaining == 4
    budget.update(headers(remaining=2, reset=reset))
    assert budget.remaining == 2


def test_a_late_answer_from_the_previous_window_is_ignored() -> None:
    old, new = NOW - 1, NOW + 59
    budget = Budget()
    budget.update(headers(remaining=1, reset=new))
    budget.update(headers(remaining=8, reset=old))  # sent before the window turned
    assert (budget.remaining, budget.reset) == (1, new)
    assert budget.wait_secs(NOW) == 0.0
    budget.in_flight = 1
    assert budget.wait_secs(NOW) is None


def test_after_the_reset_a_new_window_starts_unknown_and_takes_its_new_budget() -> None:
    reset = NOW + 60
    budget = Budget()
    budget.update(headers(remaining=0, reset=reset))
    after = reset + RESET_SLACK_SECS

    assert budget.wait_secs(after) == 0.0  # one request goes to learn the new window
    assert [budget.remaining, budget.reset] == [None, None]
    budget.in_flight = 1
    assert budget.wait_secs(after) is None
    budget.update(headers(remaining=9, reset=reset + 900))
    assert budget.remaining == 9 and budget.wait_secs(after) == 0.0


def test_answers_without_rate_headers_change_nothing() -> None:
    budget = Budget()
    budget.update(headers(remaining=5, reset=NOW + 60))
    budget.update({})
    budget.update({"x-rate-limit-remaining": "lots"})
    assert (budget.limit, budget.remaining, budget.reset) == (10, 5, NOW + 60)


# --- Pacer: the waiting ---------------------------------------------------------------
async def test_the_pacer_holds_a_second_request_until_the_first_answer_tells_the_budget() -> None:
    pacer = Pacer(clock=FakeClock())
    order: list[str] = []
    first_answered = anyio.Event()

    async def first() -> None:
        async with pacer.slot("append") as budget:
            order.append("first sent")
            await first_answered.wait()
            pacer.observe(budget, headers(remaining=5, reset=NOW + 60))

    async def second() -> None:
        async with pacer.slot("append"):
            order.append("second sent")

    async with anyio.create_task_group() as tg:
        tg.start_soon(first)
        await wait_all_tasks_blocked()
        tg.start_soon(second)
        await wait_all_tasks_blocked()
        assert order == ["first sent"]  # the budget is unknown: one at a time
        first_answered.set()
    assert order == ["first sent", "second sent"]
    assert pacer.budget("append").in_flight == 0


async def test_a_spent_budget_waits_until_the_reset_then_goes() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    budget = pacer.budget("append")
    budget.update(headers(remaining=0, reset=NOW + 30))
    sent = anyio.Event()

    async def request() -> None:
        async with pacer.slot("append"):
            sent.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(request)
        await wait_all_tasks_blocked()
        pacer.observe(pacer.budget("status"), {})  # another answer: still before the reset
        await wait_all_tasks_blocked()
        assert not sent.is_set()

        clock.now = NOW + 30 + RESET_SLACK_SECS
        pacer.observe(pacer.budget("status"), {})
    assert sent.is_set()
    assert pacer.waited_secs == pytest.approx(30 + RESET_SLACK_SECS)


async def test_a_disabled_pacer_never_waits() -> None:
    pacer = Pacer(enabled=False, clock=FakeClock())
    pacer.budget("append").update(headers(remaining=0, reset=NOW + 900))
    held: list[int] = []

    async def two_requests() -> None:
        async with pacer.slot("append"), pacer.slot("append"):
            held.append(pacer.budget("append").in_flight)

    async with anyio.create_task_group() as tg:
        tg.start_soon(two_requests)
        await wait_all_tasks_blocked()
        assert held == [2]  # both slots given at once, the spent budget ignored


# --- against the emulator -------------------------------------------------------------
WINDOW_SECS = 2.0
PACED = EmulatorConfig(
    lifetimes=Lifetimes(processing_secs=0, check_after_secs=0),
    limits=RateLimits(per_window={"append": 10}, time_scale=900 / WINDOW_SECS),
)


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return PACED


async def test_an_upload_needing_three_windows_of_appends_gets_no_429(
    emulator: Emulator, tmp_path: Path
) -> None:
    files = [
        samples.write_image(
            tmp_path / f"big{i}.png", fmt="png", width=32, height=32, seed=i, target_bytes=13 * KiB
        )
        for i in range(2)
    ]
    segments = sum(-(-f.stat().st_size // KiB) for f in files)
    assert 25 <= segments <= 28
    config = UploadConfig(
        endpoint=emulator.url,
        strategy="chunked",
        chunk_size=1 * KiB,
        concurrency=8,
        segments_per_file=4,
        files_in_flight=2,
    )
    auth = OAuth1Auth(credentials(emulator.user))
    with anyio.fail_after(60):  # a hang guard: the run takes some three windows
        async with Uploader(config, auth=auth) as up:
            results = [r async for r in up.upload_many([Item(id=f.name, path=f) for f in files])]
            waited = up.stats["rate_limit_wait_s"]

    assert all(r.ok for r in results), [r.error for r in results]
    appends = emulator.stats()["requests"]["append"]
    # More APPENDs than two windows allow, and not one 429: the pacer waited for the
    # resets. (How long it waited is not asserted: on a slow host, time passes anyway.)
    assert segments > 2 * PACED.limits.per_window["append"]
    assert appends == {"200": segments}, appends
    print(f"\n{segments} APPENDs, waited {waited:.1f} s for resets")
    for result, path in zip(sorted(results, key=lambda r: r.id), files, strict=True):
        info = emulator.media(result.media_id_string)  # type: ignore[arg-type]
        assert info is not None
        assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_day_window_with_less_left_binds_before_the_15_minute_one() -> None:
    budget = Budget()
    day_reset = NOW + 20 * 3600
    budget.update(
        headers(remaining=400, reset=NOW + 60)
        | {
            "x-app-limit-24hour-limit": "50000",
            "x-app-limit-24hour-remaining": "2",
            "x-app-limit-24hour-reset": str(int(day_reset)),
        }
    )
    budget.in_flight = 1
    assert budget.wait_secs(NOW) == 0.0  # one more fits in the day
    budget.in_flight = 2
    assert budget.wait_secs(NOW) is None  # the day's last two are in flight: wait for them
    budget.in_flight = 0
    budget.update(
        headers(remaining=398, reset=NOW + 60)
        | {
            "x-app-limit-24hour-limit": "50000",
            "x-app-limit-24hour-remaining": "0",
            "x-app-limit-24hour-reset": str(int(day_reset)),
        }
    )
    assert budget.wait_secs(NOW) == pytest.approx(day_reset - NOW + RESET_SLACK_SECS)
    assert budget.held_by == "the 24-hour app limit"
