"""Structured logs: JSON lines parse, levels filter, secrets never get through."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
from collections.abc import Iterator

import pytest
import structlog

from bulkup import logs


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    logs.redactor = logs.Redactor()
    logs._threshold, logs._install, logs._json, logs._stream = None, None, False, None


def test_json_format_gives_one_parseable_object_per_line() -> None:
    out = io.StringIO()
    logs.configure(level="info", fmt="json", stream=out)
    logs.log.info("item_finished", item="a.png", media_id="123")
    logs.log.warning("retry", item="b.mp4", attempt=2)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["item_finished", "retry"]
    assert lines[0]["item"] == "a.png" and lines[0]["media_id"] == "123"
    assert lines[1]["level"] == "warning" and "timestamp" in lines[1]


def test_level_filters_events_below_it() -> None:
    out = io.StringIO()
    logs.configure(level="warning", fmt="json", stream=out)
    logs.log.info("quiet")
    logs.log.error("loud")
    assert [json.loads(x)["event"] for x in out.getvalue().splitlines()] == ["loud"]


def test_console_format_is_human_readable() -> None:
    out = io.StringIO()
    logs.configure(level="info", fmt="console", stream=out)
    logs.log.info("item_finished", item="a.png")
    text = out.getvalue()
    assert "item_finished" in text and "item=a.png" in text and not text.startswith("{")


def test_secrets_are_redacted_by_key_and_by_value_everywhere() -> None:
    out = io.StringIO()
    secret = "SECRET-consumer-9f3a"
    logs.configure(level="debug", fmt="json", stream=out, secrets=[secret])
    logs.log.error(
        "boom",
        authorization=f'OAuth oauth_consumer_key="k", oauth_signature="{secret}"',
        consumer_secret=secret,
        detail=f"request failed with {secret} in it",
        nested={"token": "abc", "items": [secret]},
        exc=RuntimeError(f"leak {secret}"),
    )
    text = out.getvalue()
    assert secret not in text
    line = json.loads(text)
    assert line["authorization"] == logs.MASK and line["consumer_secret"] == logs.MASK
    assert line["nested"] == {"token": logs.MASK, "items": [logs.MASK]}
    assert line["detail"] == f"request failed with {logs.MASK} in it"


def test_an_unknown_level_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        logs.configure(level="loud")


def structlog_pending() -> bool:
    """Whether structlog is still to be set up (a call, so that no check narrows it)."""
    return logs._install is not None


def test_events_below_the_level_cost_no_structlog_and_the_rest_are_redacted() -> None:
    out = io.StringIO()
    logs.configure(level="info", fmt="json", stream=out, secrets=["SECRET-bearer-77"])
    assert structlog_pending()  # structlog is set up at the first event shown
    logs.event("debug", "hidden", item="a.png")
    assert structlog_pending() and out.getvalue() == ""
    logs.event("info", "shown", item="a.png", token="t", error="sent SECRET-bearer-77")
    assert not structlog_pending()
    (line,) = [json.loads(x) for x in out.getvalue().splitlines()]
    assert line["event"] == "shown" and line["token"] == logs.MASK
    assert line["error"] == f"sent {logs.MASK}"


# --- the command's own messages: logs.say ---------------------------------------------
def test_json_mode_is_the_format_or_auto_off_a_terminal() -> None:
    assert not logs.json_mode()  # a library that configured nothing writes no JSON
    logs.configure(fmt="json", stream=io.StringIO())
    assert logs.json_mode()
    logs.configure(fmt="console", stream=io.StringIO())
    assert not logs.json_mode()
    logs.configure(fmt="auto", stream=io.StringIO())  # a pipe or a file: JSON
    assert logs.json_mode()
    leader, follower = os.openpty()
    with open(follower, "w") as terminal:
        logs.configure(fmt="auto", stream=terminal)
        assert not logs.json_mode()  # a terminal: human lines
    os.close(leader)


def test_say_writes_one_json_object_in_json_mode_whatever_the_level() -> None:
    out = io.StringIO()
    secret = "SECRET-consumer-5d1e"
    logs.configure(level="error", fmt="json", stream=out, secrets=[secret])
    logs.say("info", "run_finished", f"bulkup: 3 items ({secret})", succeeded=3, token="t")
    (text,) = out.getvalue().splitlines()
    line = json.loads(text)
    assert list(line)[:3] == ["event", "level", "message"]
    assert line["event"] == "run_finished" and line["level"] == "info"
    assert line["message"] == f"bulkup: 3 items ({logs.MASK})" and line["succeeded"] == 3
    assert line["token"] == logs.MASK and secret not in text
    assert dt.datetime.fromisoformat(line["timestamp"]).tzinfo == dt.UTC


def test_say_writes_the_human_line_in_console_mode_whatever_the_level() -> None:
    out = io.StringIO()
    logs.configure(level="error", fmt="console", stream=out, secrets=["SECRET-token-8c2b"])
    logs.say("warning", "run_stopped", "bulkup upload: stopped: SECRET-token-8c2b", items=3)
    assert out.getvalue() == f"bulkup upload: stopped: {logs.MASK}\n"


def test_say_before_any_configuration_writes_the_line_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.say("info", "note", "bulkup: hello")
    assert capsys.readouterr().err == "bulkup: hello\n"
    with pytest.raises(ValueError, match="unknown log level"):
        logs.say("loud", "note", "bulkup: hello")


def test_events_go_to_stderr_as_it_is_when_they_are_written(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A live progress display swaps ``sys.stderr`` to print lines above its bars: an
    event written then goes there, not to the stream of when logging was configured."""
    logs.configure(level="warning", fmt="json")
    swapped = io.StringIO()
    with contextlib.redirect_stderr(swapped):
        logs.event("warning", "item_failed", item="a.png")
        logs.say("warning", "run_stopped", "stopped")
    assert [json.loads(x)["event"] for x in swapped.getvalue().splitlines()] == [
        "item_failed",
        "run_stopped",
    ]
    assert capsys.readouterr().err == ""
