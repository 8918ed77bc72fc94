"""Structured logs: JSON lines parse, levels filter, secrets never get through."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import structlog

from bulkup import logs


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    logs.redactor = logs.Redactor()


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
