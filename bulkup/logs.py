"""Logging with structlog: human lines on a terminal, JSON lines for batch systems.

Every event carries its fields (``item``, ``media_id``, ``endpoint``, ``attempt``…).
:func:`configure` installs the processors for the CLI; a library user's own
structlog configuration is left alone unless they call it. Whatever the code path,
:class:`Redactor` removes secrets before anything is rendered: values of keys that
name a secret (``*secret*``, ``*token*``, ``authorization``, ``password``) are
masked, and any known secret value found inside any string is replaced.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, Literal, TextIO

import structlog

Format = Literal["auto", "console", "json"]
MASK = "***"
_SECRET_KEY = re.compile(r"secret|token|authorization|password|signature", re.IGNORECASE)
#: Secrets shorter than this are not searched for inside strings (too many false hits).
MIN_SECRET_LEN = 6

log = structlog.get_logger("bulkup")
#: Events are emitted only once :func:`configure` ran: a library never writes to the
#: host application's stdout behind its back.
_configured = False


def event(level: str, name: str, **fields: Any) -> None:
    """Log one event if logging was configured (cheap no-op otherwise)."""
    if _configured:
        getattr(log, level)(name, **fields)


class Redactor:
    """A structlog processor that masks secrets in every event."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        known = {*self._secrets, *(s for s in secrets if s and len(s) >= MIN_SECRET_LEN)}
        self._secrets = sorted(known, key=len, reverse=True)  # longest first

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self._secrets:
                if secret in value:
                    value = value.replace(secret, MASK)
            return value
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
    """Route bulkup's structlog events to ``stream`` (stderr) as console or JSON lines."""
    global _configured
    out = stream or sys.stderr
    redactor.add(secrets)
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}: use debug, info, warning or error")
    use_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redactor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    _configured = True
