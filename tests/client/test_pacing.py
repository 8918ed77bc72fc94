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
from bulkup.errors import ConnectError
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
def test_an_unknown_budget_without_a_published_limit_holds_nothing_back() -> None:
    budget = Budget()  # v1.1: no published figure
    for _ in range(50):
        assert budget.wait_secs(NOW) == 0.0
        budget.start(NOW)
    assert budget.in_flight == 50


def test_until_an_answer_announces_it_the_published_limit_is_assumed_and_counted() -> None:
    budget = Budget.assuming(3)
    for _ in range(3):
        assert budget.wait_secs(NOW) == 0.0  # in parallel, not one at a time
        budget.start(NOW)
    budget.in_flight = 0  # answered without headers: they still count in the window
    assert budget.wait_secs(NOW + 10) == pytest.approx(890.0)  # until the assumed window ends
    assert budget.wait_secs(NOW + 900) == 0.0  # a new assumed window
    budget.start(NOW + 900)
    budget.update(headers(remaining=5, reset=NOW + 1000))  # an answer announces it
    budget.in_flight = 5
    assert budget.wait_secs(NOW + 900) is None  # its budget, less the requests in flight


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


def test_after_the_reset_a_new_window_holds_the_announced_limit_until_it_is_announced() -> None:
    reset = NOW + 60
    budget = Budget()
    budget.update(headers(remaining=0, reset=reset, limit=10))
    after = reset + RESET_SLACK_SECS

    for _ in range(10):  # the limit the last window announced, at once: never one at a time
        assert budget.wait_secs(after) == 0.0
        budget.start(after)
    assert [budget.remaining, budget.reset] == [None, None]
    assert budget.wait_secs(after) == pytest.approx(900.0)  # assumed: 15 minutes from now
    budget.update(headers(remaining=1, reset=reset))  # sent before the reset: stale
    assert [budget.remaining, budget.reset] == [None, None]
    budget.update(headers(remaining=9, reset=reset + 900))
    budget.in_flight = 5
    assert (budget.remaining, budget.wait_secs(after)) == (9, 0.0)


def test_answers_without_rate_headers_change_nothing() -> None:
    budget = Budget()
    budget.update(headers(remaining=5, reset=NOW + 60))
    budget.update({})
    budget.update({"x-rate-limit-remaining": "lots"})
    assert (budget.limit, budget.remaining, budget.reset) == (10, 5, NOW + 60)


# --- Pacer: the waiting ---------------------------------------------------------------
async def test_the_pacer_holds_requests_past_the_published_limit_until_one_is_announced() -> None:
    pacer = Pacer(clock=FakeClock(), published={"append": 2})
    sent: list[int] = []
    answer = anyio.Event()

    async def request(n: int) -> None:
        async with pacer.slot("append") as budget:
            sent.append(n)
            await answer.wait()
            pacer.observe(budget, headers(remaining=5, reset=NOW + 60))

    async with anyio.create_task_group() as tg:
        for n in range(3):
            tg.start_soon(request, n)
            await wait_all_tasks_blocked()
        assert sent == [0, 1]  # two at once, as published; the third waits
        answer.set()
    assert sorted(sent) == [0, 1, 2]  # the answer announced room for it
    assert pacer.budget("append").in_flight == 0
    # Not published: the lowest limit announced (10) is assumed until status announces.
    assert pacer.budget("status").limit == 10


async def test_a_stopped_pacer_fails_the_requests_waiting_and_every_later_one() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    pacer.budget("append").update(headers(remaining=0, reset=NOW + 300))
    stop = ConnectError("cannot connect")
    failed: list[Exception] = []

    async def request() -> None:
        try:
            async with pacer.slot("append"):
                pass
        except ConnectError as exc:
            failed.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(request)
        await wait_all_tasks_blocked()
        assert not failed  # waiting for the reset, five minutes away
        pacer.stop(stop)
    await request()
    assert failed == [stop, stop]


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


# --- --budget-fraction: a share of each window ------------------------------------------
def test_a_budget_fraction_spends_only_its_share_of_an_announced_window() -> None:
    budget = Budget.assuming(10, fraction=0.5)
    budget.update(headers(remaining=8, reset=NOW + 60, limit=10))  # another client spent 2
    for _ in range(3):  # 5 of 10 are kept for the others: 3 of the 8 left are ours
        assert budget.wait_secs(NOW) == 0.0
        budget.start(NOW)
    assert budget.room() == 0
    assert budget.wait_secs(NOW) is None  # ours are in flight: their answers decide
    budget.in_flight = 0
    budget.update(headers(remaining=5, reset=NOW + 60, limit=10))
    assert budget.wait_secs(NOW) == pytest.approx(60 + RESET_SLACK_SECS)
    assert budget.spent() == "the 15-minute limit (this run's share of it)"


def test_a_budget_fraction_assumes_its_share_of_the_published_limit() -> None:
    budget = Budget.assuming(1875, fraction=0.8)
    assert budget.room() == 1500
    started = 0
    while budget.wait_secs(NOW) == 0.0:
        budget.start(NOW)
        started += 1
    assert started == 1500


def test_a_tiny_budget_fraction_still_spends_one_request_a_window() -> None:
    budget = Budget.assuming(3, fraction=0.01)
    assert budget.wait_secs(NOW) == 0.0
    budget.start(NOW)
    assert budget.wait_secs(NOW + 1) == pytest.approx(899.0)


@pytest.mark.parametrize("fraction", [0.0, -0.5, 1.5])
def test_a_budget_fraction_outside_0_to_1_is_refused_naming_the_setting(fraction: float) -> None:
    from bulkup.errors import ConfigError

    with pytest.raises(ConfigError, match=r"budget_fraction must be above 0 and at most 1"):
        UploadConfig(budget_fraction=fraction)


async def test_with_half_the_budget_no_window_spends_more_than_half_its_limit(
    emulator: Emulator, tmp_path: Path
) -> None:
    path = samples.write_image(
        tmp_path / "big.png", fmt="png", width=32, height=32, seed=3, target_bytes=11 * KiB
    )
    segments = -(-path.stat().st_size // KiB)
    config = UploadConfig(
        endpoint=emulator.url,
        strategy="chunked",
        chunk_size=1 * KiB,
        segments_per_file=4,
        budget_fraction=0.5,
    )
    auth = OAuth1Auth(credentials(emulator.user))
    with anyio.fail_after(60):  # a hang guard: the run takes some three windows
        async with Uploader(config, auth=auth) as up:
            result = await up.upload(path)

    assert result.ok, result.error
    stats = emulator.stats()
    assert stats["requests"]["append"] == {"200": segments}
    used = [window["used"] for window in stats["rate_windows"]["append"]]
    assert sum(used) == segments and len(used) >= 3
    assert max(used) <= PACED.limits.per_window["append"] // 2, used


# --- limits announced below the published ones -------------------------------------------
def test_a_limit_announced_below_its_published_figure_scales_the_others_assumed() -> None:
    pacer = Pacer(clock=FakeClock(), published={"initialize": 100, "append": 200})
    assert pacer.budget("append").room() == 200
    pacer.observe(pacer.budget("initialize"), headers(remaining=9, reset=NOW + 60, limit=10))
    assert pacer.budget("append").room() == 20  # a tenth, as initialize's was
    assert pacer.budget("finalize").room() == 10  # none published: the lowest announced
    pacer.observe(pacer.budget("append"), headers(remaining=150, reset=NOW + 60, limit=150))
    assert pacer.budget("append").room() == 150  # its own answer wins


def test_without_any_answer_an_endpoint_with_no_published_limit_holds_nothing_back() -> None:
    pacer = Pacer(clock=FakeClock())  # v1.1: nothing published, nothing announced yet
    assert pacer.budget("append").room() == float("inf")


# --- the last budgets seen, for a later run ---------------------------------------------
def test_a_later_run_restores_the_windows_still_open_and_waits_instead_of_a_429() -> None:
    clock = FakeClock()
    first = Pacer(clock=clock, published={"upload": 500})
    first.observe(first.budget("upload"), headers(remaining=0, reset=NOW + 300, limit=500))
    first.observe(first.budget("append"), headers(remaining=7, reset=NOW + 10, limit=10))
    kept = first.snapshot()

    clock.now = NOW + 60  # the rerun, a minute later: append's window has turned over
    later = Pacer(clock=clock, published={"upload": 500})
    later.restore(kept)
    assert later.budget("upload").wait_secs(clock.now) == pytest.approx(240 + RESET_SLACK_SECS)
    assert later.budget("upload").spent() == "the 15-minute limit"
    assert later.budget("append").remaining is None  # a new window: assumed again


def test_unreadable_budgets_kept_by_an_earlier_run_are_ignored() -> None:
    pacer = Pacer(clock=FakeClock())
    pacer.restore({"upload": "nonsense", "append": {"window": ["a", "b"]}})
    assert pacer.budget("upload").wait_secs(NOW) == 0.0
