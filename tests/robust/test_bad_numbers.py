"""Numbers no honest server or checkpoint holds: one item's clear error, never a crash.

Issue #13, finding 8: an answer with ``expires_after_secs`` of ``1e300`` or ``NaN``
crashed the run (an ExceptionGroup, no report line), the same value written to the
checkpoint crashed every later run, and ``check_after_secs: NaN`` made 11,657 STATUS
requests in 5 s. The ranges are those of :mod:`bulkup.core.numbers`.

- **Answers**: each number (and the media id) of INIT, FINALIZE, STATUS and one-shot
  answers, parsed with no server; then through the whole client, with a proxy
  (:mod:`tests.robust.rewriting`) putting the value into the emulator's answers about
  one file: that item fails naming the field and the value, the others land
  byte-exact, and STATUS is asked a bounded number of times.
- **Headers**: ``x-rate-limit-*`` and ``Retry-After`` values that are not numbers, are
  negative, NaN, huge or absurd dates are ignored, as if absent: the run neither
  crashes nor spins.

Every run is bounded with ``anyio.fail_after`` as a hang guard; nothing sleeps to wait.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiohttp import web

from bulkup.client.config import UploadConfig
from bulkup.client.pacing import Budget
from bulkup.client.uploader import Uploader
from bulkup.core.dialects import (
    V1,
    V2,
    Dialect,
    HttpAnswer,
    raise_for_answer,
    rate_window,
    retry_after,
    spent_until,
)
from bulkup.core.items import Item, Result, UploadParams
from bulkup.core.record_codec import record_from_json, record_to_json
from bulkup.core.records import ItemRecord
from bulkup.core.retry import RetryPolicy
from bulkup.core.steps import (
    Finalize,
    Init,
    Initialized,
    MediaState,
    Plan,
    Request,
    SimpleUpload,
    Status,
)
from bulkup.emulator import Emulator, EmulatorConfig, Lifetimes
from bulkup.errors import ApiError, ProtocolError, RateCapped, RateLimited
from bulkup.media import samples
from bulkup.run.checkpoint import Checkpoint, CheckpointError, RunIdentity
from tests.cli.test_bad_input import no_traceback
from tests.cli.test_cli_upload import bulkup, env_for
from tests.conftest import FAST, KiB, oauth
from tests.conftest import file_sha256 as sha256
from tests.robust.rewriting import Answer, Exchange, Rewriter

pytestmark = pytest.mark.anyio

#: A hang guard, far above what any run here needs; not a timed assertion.
GUARD_SECS = 30
MAX_ATTEMPTS = 3
NAN, INF = float("nan"), float("inf")
#: What a JSON reader makes of ``NaN``, ``Infinity``, ``1e300``, ``-1``, ``"3600"``, ``true``.
BAD_SECONDS = [NAN, INF, 1e300, -1, "3600", True]
THIRTY_DAYS = 30 * 86400


# --- answers, no server ---------------------------------------------------------------
PLAN = Plan(size=3 * KiB, media_type="video/mp4", media_category="tweet_video", chunk_size=KiB)
COMMANDS: dict[str, Request] = {
    "INIT": Init(PLAN),
    "FINALIZE": Finalize("42"),
    "STATUS": Status("42"),
    "upload": SimpleUpload(PLAN),
}


def dialect(name: str) -> Dialect:
    return V1("http://127.0.0.1") if name == "v1.1" else V2("http://127.0.0.1")


def parse(api: str, command: str, fields: dict[str, Any]) -> object:
    """Parse a 200 answer to ``command`` holding ``fields`` besides the media id."""
    if api == "v2":
        body: dict[str, Any] = {"data": {"id": "42", **fields}}
    else:
        body = {"media_id": 42, "media_id_string": "42", **fields}
    answer = HttpAnswer(200, {"Content-Type": "application/json"}, json.dumps(body).encode())
    return dialect(api).parse(COMMANDS[command], answer)


def refused(api: str, command: str, fields: dict[str, Any]) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        parse(api, command, fields)
    error = caught.value
    assert error.http_status == 200 and error.accepted and error.kind == "protocol_error"
    return error


def field(api: str, name: str) -> str:
    """How a message names a field of the answer: v2's sit in ``data``."""
    return f"data.{name}" if api == "v2" else name


@pytest.mark.parametrize("api", ["v1.1", "v2"])
@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("value", BAD_SECONDS, ids=repr)
def test_expires_after_secs_that_is_not_seconds_is_a_protocol_error_naming_field_and_value(
    api: str, command: str, value: object
) -> None:
    error = refused(api, command, {"expires_after_secs": value})
    assert error.message == (
        f"HTTP 200 answer to {command}: {field(api, 'expires_after_secs')} {value!r} is not "
        f"a number of seconds between 0 and {THIRTY_DAYS} (30 days)"
    )


@pytest.mark.parametrize("api", ["v1.1", "v2"])
@pytest.mark.parametrize(
    ("name", "value", "range_"),
    [
        ("check_after_secs", NAN, "a number of seconds between 0 and 86400 (1 day)"),
        ("check_after_secs", 1e300, "a number of seconds between 0 and 86400 (1 day)"),
        ("check_after_secs", -1, "a number of seconds between 0 and 86400 (1 day)"),
        ("check_after_secs", INF, "a number of seconds between 0 and 86400 (1 day)"),
        ("progress_percent", NAN, "a number of percent between 0 and 100"),
        ("progress_percent", 101, "a number of percent between 0 and 100"),
        ("progress_percent", -5, "a number of percent between 0 and 100"),
        ("progress_percent", "50", "a number of percent between 0 and 100"),
    ],
    ids=str,
)
def test_a_bad_number_in_processing_info_is_a_protocol_error(
    api: str, name: str, value: object, range_: str
) -> None:
    info = {"state": "in_progress", name: value}
    error = refused(api, "STATUS", {"processing_info": info})
    what = field(api, f"processing_info.{name}")
    assert error.message == f"HTTP 200 answer to STATUS: {what} {value!r} is not {range_}"


@pytest.mark.parametrize("api", ["v1.1", "v2"])
@pytest.mark.parametrize("state", [5, None, ["pending"]], ids=repr)
def test_a_processing_state_that_is_not_a_word_is_a_protocol_error(api: str, state: object) -> None:
    if state is None:  # absent or null: ask again (the document's "pending")
        result = parse(api, "STATUS", {"processing_info": {"state": None}})
        assert isinstance(result, MediaState) and result.processing is not None
        assert result.processing.state == "pending"
        return
    error = refused(api, "STATUS", {"processing_info": {"state": state}})
    assert f"{field(api, 'processing_info.state')} {state!r} is not" in error.message


@pytest.mark.parametrize("api", ["v1.1", "v2"])
@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"size": -1}, "size"),
        ({"size": 1.5}, "size"),
        ({"size": 2**64}, "size"),
        ({"size": NAN}, "size"),
        ({"image": {"w": NAN, "h": 10}}, "image.w"),
        ({"image": {"w": 10, "h": -10}}, "image.h"),
    ],
    ids=str,
)
def test_a_bad_size_or_dimension_is_a_protocol_error(
    api: str, fields: dict[str, Any], name: str
) -> None:
    error = refused(api, "upload", fields)
    assert f"upload: {field(api, name)} " in error.message
    assert "is not a whole number" in error.message


@pytest.mark.parametrize("api", ["v1.1", "v2"])
def test_the_edges_of_every_range_are_accepted(api: str) -> None:
    info = {"state": "in_progress", "check_after_secs": 86400, "progress_percent": 100}
    fields = {"expires_after_secs": THIRTY_DAYS, "size": 0, "processing_info": info}
    state = parse(api, "FINALIZE", fields)
    assert isinstance(state, MediaState) and state.processing is not None
    assert state.expires_after_secs == THIRTY_DAYS and state.size == 0
    assert state.processing.check_after_secs == 86400 and state.processing.progress_percent == 100
    zero = {"expires_after_secs": 0, "processing_info": {"state": "pending", "check_after_secs": 0}}
    state = parse(api, "STATUS", zero | {"image": {"w": 0, "h": 0}})
    assert isinstance(state, MediaState) and state.processing is not None
    assert state.expires_after_secs == 0 and state.processing.check_after_secs == 0


@pytest.mark.parametrize(
    "media_id",
    ["", "abc", "12a", " 12", "١٢٣", "12345678901234567890", 1.5, True, -3, 10**19, None],
    ids=repr,
)
def test_a_media_id_that_is_not_1_to_19_digits_is_a_protocol_error(media_id: object) -> None:
    body = json.dumps({"data": {"id": media_id}}).encode()
    with pytest.raises(ProtocolError) as caught:
        V2("http://x").parse(Init(PLAN), HttpAnswer(200, {}, body))
    error = caught.value
    assert error.accepted
    if media_id is None:
        assert error.message.startswith("HTTP 200 answer to INIT lacks a media id (data.id)")
    else:
        assert error.message.startswith(
            f"HTTP 200 answer to INIT: data.id {media_id!r} is not a media id (1 to 19 digits)"
        )


def test_v1_media_id_may_be_a_json_integer_or_a_string_of_digits() -> None:
    def init(body: dict[str, Any]) -> str:
        answer = HttpAnswer(202, {}, json.dumps(body).encode())
        initialized = V1("http://x").parse(Init(PLAN), answer)
        assert isinstance(initialized, Initialized)
        return initialized.media_id

    assert init({"media_id": 1880028106020515840}) == "1880028106020515840"
    assert init({"media_id_string": "7", "media_id": 8}) == "7"
    with pytest.raises(ProtocolError, match=r"media_id_string '7x' is not a media id"):
        init({"media_id_string": "7x"})


def test_a_processing_error_code_that_is_not_a_code_is_left_out_keeping_the_message() -> None:
    info = {"state": "failed", "error": {"code": NAN, "name": "InvalidMedia", "message": "bad"}}
    state = parse("v2", "STATUS", {"processing_info": info})
    assert isinstance(state, MediaState) and state.processing is not None
    assert state.processing.error_code is None and state.processing.error_message == "bad"


# --- answers, through the whole client -------------------------------------------------
class OneFile:
    """Puts ``value`` at ``data.<name>`` of the answers about one file: its INIT (known
    by ``total_bytes``) and, by the media ids those gave, its later answers."""

    def __init__(self, path: Path, endpoints: set[str], name: str, value: object) -> None:
        self.size, self.endpoints = path.stat().st_size, endpoints
        self.name, self.value = name, value
        self.ids: set[str] = set()

    def __call__(self, exchange: Exchange) -> None:
        if not 200 <= exchange.status < 300:
            return
        if exchange.endpoint == "initialize":
            if json.loads(exchange.body)["total_bytes"] != self.size:
                return
            self.ids.add(exchange.answer_json()["data"]["id"])
        elif exchange.media_id not in self.ids:
            return
        if exchange.endpoint in self.endpoints:
            exchange.set_data(self.name, self.value)


def videos(folder: Path, count: int = 3) -> list[Path]:
    """Videos of distinct sizes, a few segments each."""
    paths = [
        samples.write_video(folder / f"v{i}.mp4", width=64, height=64, seconds=1, seed=i)
        for i in range(count)
    ]
    assert len({p.stat().st_size for p in paths}) == count
    return paths


def client_config(url: str, **kw: Any) -> UploadConfig:
    """Small chunks, few attempts, no backoff: a bad answer fails fast, without waiting."""
    settings: dict[str, Any] = {"chunk_size": 8 * KiB, "max_attempts": MAX_ATTEMPTS}
    return UploadConfig(api="v2", endpoint=url, backoff_base=0.0, **(settings | kw))


async def upload(
    emu: Emulator, proxy: Rewriter, paths: list[Path], checkpoint: Path
) -> list[Result]:
    items = [Item(id=p.name, path=p) for p in paths]
    with anyio.fail_after(GUARD_SECS):
        async with Uploader(client_config(proxy.url), auth=oauth(emu)) as up:
            return [r async for r in up.upload_many(items, checkpoint=checkpoint)]


def check_landed(emu: Emulator, result: Result, path: Path) -> None:
    assert result.ok, result.error
    info = emu.media(result.media_id_string or "")
    assert info is not None and info["sha256"] == sha256(path)


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return FAST


@pytest.mark.parametrize("value", [NAN, 1e300], ids=repr)
@pytest.mark.parametrize("endpoints", ["initialize", "finalize,status"])
async def test_a_bad_expires_after_secs_fails_its_item_alone_and_the_others_land(
    emulator: Emulator, tmp_path: Path, value: float, endpoints: str
) -> None:
    paths = videos(tmp_path)
    bad = OneFile(paths[1], set(endpoints.split(",")), "expires_after_secs", value)
    checkpoint = tmp_path / "run.ckpt"

    async with Rewriter(emulator.url, bad) as proxy:
        results = await upload(emulator, proxy, paths, checkpoint)
        # The checkpoint holds nothing of it: the next run, with an honest server, finishes.
        proxy.edit = lambda exchange: None
        again = await upload(emulator, proxy, paths, checkpoint)

    by_id = {r.id: r for r in results}
    assert sorted(by_id) == ["v0.mp4", "v1.mp4", "v2.mp4"] and len(results) == 3
    failed = by_id["v1.mp4"]
    assert failed.status == "failed" and failed.error is not None
    assert failed.error.kind == "protocol_error"
    assert f"data.expires_after_secs {value!r} is not a number of seconds" in failed.error.message
    for path in (paths[0], paths[2]):
        check_landed(emulator, by_id[path.name], path)
    for result, path in zip(sorted(again, key=lambda r: r.id), paths, strict=True):
        check_landed(emulator, result, path)


async def test_check_after_secs_nan_fails_the_item_after_a_bounded_number_of_polls(
    tmp_path: Path,
) -> None:
    """Processing never ends on its own here; before the fix every poll went at once."""
    emulator_slow = Lifetimes(processing_secs=3600, check_after_secs=0)
    async with Emulator(EmulatorConfig(lifetimes=emulator_slow), environ={}) as slow:
        (path,) = videos(tmp_path, 1)
        bad = OneFile(path, {"status"}, "processing_info.check_after_secs", NAN)

        def edit(exchange: Exchange) -> None:
            bad(exchange)
            if exchange.endpoint == "status" and proxy.seen["status"] == 100:
                slow.advance(3600)  # a spin (before the fix): let processing end, and the test

        async with Rewriter(slow.url, edit) as proxy:
            (result,) = await upload(slow, proxy, [path], tmp_path / "run.ckpt")

    assert proxy.seen["status"] == MAX_ATTEMPTS
    assert result.status == "failed" and result.error is not None
    assert result.error.message == (
        "HTTP 200 answer to STATUS: data.processing_info.check_after_secs nan is not a number "
        "of seconds between 0 and 86400 (1 day)"
    )


async def test_a_nan_in_an_answer_is_a_report_line_and_exit_1_not_a_traceback(
    emulator: Emulator, tmp_path: Path
) -> None:
    paths = videos(tmp_path)
    bad = OneFile(paths[0], {"finalize", "status"}, "expires_after_secs", NAN)
    async with Rewriter(emulator.url, bad) as proxy:
        run = await bulkup(
            "upload",
            *(p.name for p in paths),
            "--endpoint",
            proxy.url,
            "--max-attempts",
            "2",
            "--chunk-size",
            "8KiB",
            "--checkpoint",
            "run.ckpt",
            env=env_for(emulator),
            cwd=tmp_path,
        )
    no_traceback(run)
    assert run.code == 1, run.err
    lines = {line["id"]: line for line in run.lines()}
    assert sorted(lines) == ["v0.mp4", "v1.mp4", "v2.mp4"]
    assert [lines[p.name]["status"] for p in paths] == ["failed", "succeeded", "succeeded"]
    message = lines["v0.mp4"]["error"]["message"]
    assert "data.expires_after_secs nan is not a number of seconds" in message


# --- rate-limit headers -----------------------------------------------------------------
NOW = 1_700_000_000.0
BAD_TIMES = ["nan", "NaN", "inf", "-1", "1e300", "99999999999999", "1_700_000_000", "soon", ""]
BAD_COUNTS = ["nan", "-5", "1e3", "12.0", "١٢", "99999999999", "lots", ""]
BAD_RETRY_AFTER = [
    "-5",
    "nan",
    "inf",
    "1e300",
    "1.5e9",
    "99999999999",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Wed, 31 Dec 1969 23:00:00 GMT",
    "someday",
]


def window(
    limit: str = "10", remaining: str = "0", reset: str = str(int(NOW + 60))
) -> dict[str, str]:
    return {
        "x-rate-limit-limit": limit,
        "x-rate-limit-remaining": remaining,
        "x-rate-limit-reset": reset,
    }


@pytest.mark.parametrize("reset", BAD_TIMES, ids=repr)
def test_a_reset_that_is_not_a_unix_time_is_ignored_as_if_absent(reset: str) -> None:
    assert spent_until(window(reset=reset)) is None
    assert rate_window(window(reset=reset), "x-rate-limit") is None
    budget = Budget()
    budget.update(window(reset=reset), status=429, now=NOW)
    assert (budget.remaining, budget.reset, budget.held_until) == (None, None, None)
    assert budget.wait_secs(NOW) == 0.0  # nothing known: go (never NaN, never 1e300)
    with pytest.raises(RateLimited) as caught:
        raise_for_answer(HttpAnswer(429, window(reset=reset), b"{}"), "append")
    assert caught.value.reset_at is None and caught.value.wait_until(NOW) is None


@pytest.mark.parametrize("count", BAD_COUNTS, ids=repr)
@pytest.mark.parametrize("which", ["limit", "remaining"])
def test_a_limit_or_remaining_that_is_not_a_count_is_ignored(which: str, count: str) -> None:
    headers = window(**{which: count})
    assert rate_window(headers, "x-rate-limit") is None
    budget = Budget()
    budget.update(headers, now=NOW)
    assert (budget.limit, budget.remaining, budget.reset) == (None, None, None)


@pytest.mark.parametrize("value", BAD_RETRY_AFTER, ids=repr)
def test_a_retry_after_that_is_negative_nan_huge_or_an_absurd_date_is_ignored(value: str) -> None:
    assert retry_after({"Retry-After": value}) == (None, None)
    for status in (429, 503):
        with pytest.raises(ApiError) as caught:
            raise_for_answer(HttpAnswer(status, {"Retry-After": value}, b"{}"), "append")
        assert caught.value.retry_after is None and caught.value.wait_until(NOW) is None
        budget = Budget()
        budget.update({"Retry-After": value}, status=status, now=NOW)
        assert budget.held_until is None and budget.wait_secs(NOW) == 0.0


def test_usable_headers_still_count() -> None:
    assert retry_after({"Retry-After": " 30 "}) == (30.0, None)
    assert retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == (None, 1445412480.0)
    assert rate_window(window(remaining="3"), "x-rate-limit") == (10, 3, int(NOW + 60))
    assert spent_until(window(reset=f"{NOW + 60:.3f}")) == (NOW + 60, "15-minute")


def test_a_reset_a_year_ahead_is_a_cap_whose_message_names_the_date() -> None:
    """Before 2100 a reset is taken at its word: past --max-wait, the item is left for later."""
    later = NOW + 366 * 86400
    with pytest.raises(RateLimited) as caught:
        raise_for_answer(HttpAnswer(429, window(reset=str(int(later))), b"{}"), "append")
    with pytest.raises(RateCapped, match="spent until 2024-11-14 22:13:20 UTC"):
        RetryPolicy().next(caught.value, random.Random(0), NOW)


BAD_WINDOWS = {
    "nan": window(reset="nan"),
    "1e300": window(reset="1e300"),
    "inf": window(reset="inf"),
    "negative": window(limit="-1", remaining="-5", reset="-1"),
    "not numbers": window(limit="many", remaining="some", reset="soon"),
    "24-hour nan": {
        "x-app-limit-24hour-limit": "nan",
        "x-app-limit-24hour-remaining": "0",
        "x-app-limit-24hour-reset": "nan",
    },
    "24-hour 1e300": {
        "x-user-limit-24hour-limit": "10",
        "x-user-limit-24hour-remaining": "0",
        "x-user-limit-24hour-reset": "1e300",
    },
}


def with_headers(headers: dict[str, str]) -> Callable[[Exchange], None]:
    def edit(exchange: Exchange) -> None:
        for name in list(exchange.headers):
            if name.lower().startswith(("x-rate-limit", "x-app-limit", "x-user-limit")):
                del exchange.headers[name]
        exchange.headers.update(headers)

    return edit


@pytest.mark.parametrize("headers", list(BAD_WINDOWS.values()), ids=list(BAD_WINDOWS))
async def test_bad_rate_limit_headers_on_every_answer_neither_crash_nor_spin(
    emulator: Emulator, tmp_path: Path, headers: dict[str, str]
) -> None:
    paths = videos(tmp_path)
    async with Rewriter(emulator.url, with_headers(headers)) as proxy:
        results = await upload(emulator, proxy, paths, tmp_path / "run.ckpt")

    for result, path in zip(sorted(results, key=lambda r: r.id), paths, strict=True):
        check_landed(emulator, result, path)
    sent = dict(proxy.seen)
    segments = sum(-(-p.stat().st_size // (8 * KiB)) for p in paths)
    assert sent == {"initialize": 3, "append": segments, "finalize": 3, "status": 3}


def refusing(status: int, headers: dict[str, str], count: int) -> Answer:
    """Answers the first ``count`` APPENDs itself: ``status``, with ``headers``."""
    refused = [0]

    def answer(exchange: Exchange) -> web.Response | None:
        if exchange.endpoint != "append" or refused[0] == count:
            return None
        refused[0] += 1
        return web.json_response({"title": "Not now"}, status=status, headers=headers)

    return answer


RETRY_HEADERS = {
    **{f"Retry-After {value}": {"Retry-After": value} for value in BAD_RETRY_AFTER[:4]},
    "Retry-After in 9999": {"Retry-After": BAD_RETRY_AFTER[6]},
    "reset nan": window(reset="nan"),
    "reset 1e300": window(reset="1e300"),
}


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("headers", list(RETRY_HEADERS.values()), ids=list(RETRY_HEADERS))
async def test_a_refusal_with_unusable_headers_is_retried_after_the_usual_backoff(
    emulator: Emulator, tmp_path: Path, status: int, headers: dict[str, str]
) -> None:
    (path,) = videos(tmp_path, 1)
    refuse = refusing(status, headers, count=MAX_ATTEMPTS - 1)
    async with Rewriter(emulator.url, answer=refuse) as proxy:
        (result,) = await upload(emulator, proxy, [path], tmp_path / "run.ckpt")

    check_landed(emulator, result, path)
    segments = -(-path.stat().st_size // (8 * KiB))
    assert proxy.seen["append"] == segments + MAX_ATTEMPTS - 1


# --- the checkpoint -----------------------------------------------------------------------
IDENTITY = RunIdentity(endpoint="https://api.x.com", dialect="v2", account="oauth1:ab12")
PARAMS = UploadParams(
    media_type="video/mp4", media_category="tweet_video", chunk_size=KiB, strategy="chunked"
)
RESULT = Result(id="clip", path="/data/clip.mp4", status="succeeded", size=3 * KiB, attempts=2)
BAD_RECORD_FIELDS = [
    ("size", -1, "a whole number of bytes"),
    ("size", 2**63, "a whole number of bytes"),
    ("size", 1.5, "a whole number of bytes"),
    ("mtime_ns", 2**64, "a whole number of nanoseconds"),
    ("mtime_ns", NAN, "a whole number of nanoseconds"),
    ("upload_deadline", NAN, "a Unix time"),
    ("upload_deadline", 1e300, "a Unix time"),
    ("upload_deadline", -1, "a Unix time"),
    ("media_expires_at", INF, "a Unix time"),
    ("media_expires_at", 1e300, "a Unix time"),
    ("attempts", -1, "a whole number of attempts"),
    ("attempts", 2**31, "a whole number of attempts"),
    ("result.size", -5, "a whole number of bytes"),
    ("result.attempts", 1e300, "a whole number of attempts"),
    ("result.elapsed_s", NAN, "a number of seconds"),
    ("result.elapsed_s", -1, "a number of seconds"),
    ("params.chunk_size", 0, "a whole number of bytes"),
    ("params.chunk_size", 10**9, "a whole number of bytes"),
]


def clip_record() -> ItemRecord:
    return ItemRecord(
        id="clip",
        path="/data/clip.mp4",
        size=3 * KiB,
        mtime_ns=1_700_000_000_000_000_000,
        params=PARAMS,
        media_id="42",
        upload_deadline=NOW + 3600,
        media_expires_at=NOW + 86400,
        result=RESULT,
        attempts=2,
    )


def with_field(data: dict[str, Any], name: str, value: object) -> dict[str, Any]:
    """``data`` with ``name`` (``result.size``: a field of a field) set to ``value``."""
    *parents, last = name.split(".")
    node = data
    for parent in parents:
        node = node[parent]
    node[last] = value
    return data


@pytest.mark.parametrize(("name", "value", "what"), BAD_RECORD_FIELDS, ids=str)
def test_a_record_with_a_bad_number_is_refused_naming_item_field_and_value(
    name: str, value: object, what: str
) -> None:
    data = with_field(record_to_json(clip_record()), name, value)
    with pytest.raises(ValueError) as caught:
        record_from_json("clip", data)
    top, _, inner = name.partition(".")
    shown = f"{inner} {value!r}" if inner else repr(value)
    assert str(caught.value).startswith(
        f"item 'clip': invalid field {top!r}: {shown} is not {what}"
    )


def test_a_record_with_numbers_at_the_edges_is_read() -> None:
    data = record_to_json(clip_record())
    data |= {"size": 0, "mtime_ns": -(2**63), "upload_deadline": 0, "attempts": 0}
    data["params"]["chunk_size"] = 5 * 1024 * 1024
    assert record_from_json("clip", data).mtime_ns == -(2**63)


def written(path: Path) -> None:
    """A checkpoint holding the record of ``clip``, compacted into the snapshot."""
    with Checkpoint.open(path, IDENTITY) as checkpoint:
        checkpoint.put(clip_record())


@pytest.mark.parametrize("value", [NAN, 1e300], ids=repr)
@pytest.mark.parametrize("event", ["snapshot", "put", "update"])
def test_a_checkpoint_holding_a_bad_number_is_refused_naming_file_item_and_field(
    tmp_path: Path, event: str, value: float
) -> None:
    path = tmp_path / "run.ckpt"
    written(path)
    snapshot = json.loads(path.read_bytes())
    journal = path.with_name("run.ckpt.journal")
    if event == "snapshot":
        path.write_text(json.dumps(with_field(snapshot, "items.clip.upload_deadline", value)))
        where = f"checkpoint {path} is damaged ("
    else:
        data = with_field(record_to_json(clip_record()), "upload_deadline", value)
        change = {"p": "clip", "r": data} if event == "put" else {"u": "clip", "c": data}
        header = {"v": 2, "gen": snapshot["generation"]}
        journal.write_text(json.dumps(header) + "\n" + json.dumps(change) + "\n")
        where = f"checkpoint journal {journal} is damaged at line 2 ("
    before = (path.read_bytes(), journal.exists() and journal.read_bytes())

    with pytest.raises(CheckpointError) as caught:
        Checkpoint.open(path, IDENTITY)

    assert str(caught.value).startswith(
        f"{where}item 'clip': invalid field 'upload_deadline': {value!r} is not a Unix time "
        "between 0 and 4102444800 (2100-01-01)); it was left untouched"
    )
    assert (path.read_bytes(), journal.exists() and journal.read_bytes()) == before


@pytest.mark.parametrize("value", [NAN, 1e300], ids=repr)
@pytest.mark.parametrize("where", ["snapshot", "journal"])
async def test_a_run_on_a_checkpoint_holding_a_bad_number_exits_2_naming_it(
    emulator: Emulator, tmp_path: Path, where: str, value: float
) -> None:
    """The record of a media id that is ready but was not reported yet (the run that
    wrote it crashed); before the fix, 1e300 crashed every later run with a traceback."""
    (path,) = videos(tmp_path, 1)
    args = ["upload", path.name, "--endpoint", emulator.url, "--checkpoint", "run.ckpt"]
    assert (await bulkup(*args, env=env_for(emulator), cwd=tmp_path)).code == 0
    checkpoint = tmp_path / "run.ckpt"
    snapshot = json.loads(checkpoint.read_bytes())
    change = {"media_expires_at": value, "result": None}
    if where == "snapshot":
        snapshot["items"][path.name] |= change
        checkpoint.write_text(json.dumps(snapshot))
    else:
        header = {"v": 2, "gen": snapshot["generation"]}
        event = {"u": path.name, "c": change}
        (tmp_path / "run.ckpt.journal").write_text(f"{json.dumps(header)}\n{json.dumps(event)}\n")
    sent = sum(sum(counts.values()) for counts in emulator.stats()["requests"].values())

    for run in (
        await bulkup(*args, env=env_for(emulator), cwd=tmp_path),
        await bulkup("status", "run.ckpt", env=env_for(None), cwd=tmp_path),
    ):
        no_traceback(run)
        assert run.code == 2, run.err
        assert "run.ckpt" in run.err and "is damaged" in run.err
        assert f"item 'v0.mp4': invalid field 'media_expires_at': {value!r} is not" in run.err
    assert sum(sum(counts.values()) for counts in emulator.stats()["requests"].values()) == sent
