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

Every run is bounded with ``anyio.fail_after`` as a hang guard; nothing sleeps to wait.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from bulkup.client.config import UploadConfig
from bulkup.client.uploader import Uploader
from bulkup.core.dialects import V1, V2, Dialect, HttpAnswer
from bulkup.core.items import Item, Result
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
from bulkup.errors import ProtocolError
from bulkup.media import samples
from tests.cli.test_bad_input import no_traceback
from tests.cli.test_cli_upload import bulkup, env_for
from tests.conftest import FAST, KiB, oauth
from tests.conftest import file_sha256 as sha256
from tests.robust.rewriting import Exchange, Rewriter

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
