"""Logging with structlog: human lines on a terminal, JSON lines for batch systems.

Every event carries its fields (``item``, ``media_id``, ``endpoint``, ``attempt``…).
:func:`configure` installs the processors for the CLI; a library user's own
structlog configuration is left alone unless they call it. Whatever the code path,
:class:`Redactor` removes secrets before anything is rendered: values of keys that
name a secret (``*secret*``, ``*token*``, ``authorization``, ``password``) are
masked, and every string goes through :func:`bulkup.redact.text` (the registry of
the secrets in use, shared with every other output).

The command's own messages on standard error (its summary, why it stopped) go
through :func:`say`, whatever the level: a human line, or with JSON logs
(:func:`json_mode`) a JSON object like every other line there.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
import sys
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any, Literal, TextIO, cast

from bulkup import redact

Format = Literal["auto", "console", "json"]
MASK = redact.MASK
_SECRET_KEY = re.compile(r"secret|token|authorization|password|signature", re.IGNORECASE)
#: Secrets shorter than this are not searched for inside strings (too many false hits).
MIN_SECRET_LEN = redact.MIN_LENGTH

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_LEVELS |= {"error": logging.ERROR, "critical": logging.CRITICAL}
#: Events are emitted only once :func:`configure` ran: a library never writes to the
#: host application's stdout behind its back. structlog is imported and set up only
#: when the first event at the configured level or above comes: a run that logs
#: nothing (the CLI's default level, warning) does not pay the 40 ms its import (with
#: rich, for the console renderer) took, nor build events nobody reads.
_threshold: int | None = None
_install: Callable[[], None] | None = None  # configure()'s settings, not applied yet
_log: Any = None
#: What the last :func:`configure` decided: JSON lines, and the stream (None: whatever
#: ``sys.stderr`` is when a line is written, so that a live display can hold it).
_json = False
_stream: TextIO | None = None
#: Events shown another way (see :func:`shown_elsewhere`).
_elsewhere: frozenset[str] = frozenset()


def event(level: str, name: str, **fields: Any) -> None:
    """Log one event if logging was configured at ``level`` or below (cheap no-op otherwise)."""
    if _threshold is not None and _LEVELS[level] >= _threshold and name not in _elsewhere:
        getattr(_logger(), level)(name, **fields)


def shown_elsewhere(*names: str) -> None:
    """Leave out these events of console lines: the terminal shows them already (a
    failed item's own line on standard output). JSON lines keep every event."""
    global _elsewhere
    _elsewhere = frozenset() if _json else frozenset(names)


def json_mode() -> bool:
    """Whether standard error carries JSON lines: ``--log-format json``, or ``auto``
    when it is not a terminal (as :func:`configure` decided; False before it ran)."""
    return _json


def say(level: str, event: str, message: str, **fields: Any) -> None:
    """Write one of the command's own messages on standard error, whatever the log
    level: ``message`` as it is (a human line), or in :func:`json_mode` one JSON object
    ``{"event", "level", "message", **fields, "timestamp"}``. Secrets are masked either
    way (keys that name one, and every registered secret in any string)."""
    if level not in _LEVELS:
        raise ValueError(f"unknown log level {level!r}: use debug, info, warning or error")
    out = _stream or sys.stderr
    if _json:
        record: dict[str, Any] = {"event": event, "level": level, "message": message}
        record |= fields
        record["timestamp"] = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
        line = json.dumps(redactor(None, level, record), ensure_ascii=False, default=str)
    else:
        line = redact.text(message)
    out.write(line + "\n")
    out.flush()


class _Stderr:
    """``sys.stderr`` as it is at each write (a live progress display swaps it for one
    that prints above its bars), for structlog's printer."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _logger() -> Any:
    """bulkup's structlog logger, with the settings of the last :func:`configure`."""
    global _install, _log
    if _install is not None:
        install, _install = _install, None
        install()
    if _log is None:
        import structlog

        _log = structlog.get_logger("bulkup")
    return _log


def __getattr__(name: str) -> Any:
    """``logs.log``: the structlog logger itself, configured as :func:`configure` said."""
    if name == "log":
        return _logger()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Redactor:
    """A structlog processor that masks secrets in every event.

    The secrets it is given join the process's one registry (:mod:`bulkup.redact`), so
    the report, the summary and the messages mask them too.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        redact.register(secrets)

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return redact.text(value)
        if isinstance(value, dict):
            return {
                k: MASK if _SECRET_KEY.search(str(k)) else self._clean(v) for k, v in value.items()
            }
        if isinstance(value, (list, tuple)):
            return type(value)(self._clean(v) for v in value)
        if isinstance(value, BaseException):
            return self._clean(f"{type(value).__name__}: {value}")
        return value

    def __call__(
        self, logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key in list(event):
            event[key] = MASK if _SECRET_KEY.search(key) else self._clean(event[key])
        return event


#: The redactor the CLI configures; add the run's secrets to it.
redactor = Redactor()


def configure(
    *,
    level: str = "warning",
    fmt: Format = "auto",
    stream: TextIO | None = None,
    secrets: Iterable[str] = (),
) -> None:
    """Route bulkup's structlog events to ``stream`` (stderr) as console or JSON lines.

    structlog is configured when the first event passes ``level`` (or ``log`` is used).
    """
    global _install, _threshold, _json, _stream
    out = stream or sys.stderr
    redactor.add(secrets)
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}: use debug, info, warning or error")
    use_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    printer = stream or cast(TextIO, _Stderr())  # write and flush are all it needs
    _install = functools.partial(_configure_structlog, numeric, printer, use_json, out.isatty())
    _threshold, _json, _stream = numeric, use_json, stream


def _configure_structlog(level: int, out: TextIO, use_json: bool, colors: bool) -> None:
    import structlog

    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=colors)
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redactor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
