"""One line per request, for a person watching ``bulkup serve`` (off unless asked).

::

    12:03:04 POST /2/media/upload/initialize 200 2 ms
    12:03:04 POST /2/media/upload/1880028106020515840/append 503 1 ms fault=error_503
    12:03:05 POST /2/media/upload/1880028106020515840/append dropped 4 ms fault=drop_response

``Emulator(request_log=...)`` takes a callable that receives each line; the
:func:`middleware` it installs is the outermost, so the milliseconds include the
simulated network delay. The status is ``dropped`` when the connection was aborted
instead of answered (a fault) or the client left before the answer. The faults are
those injected into this request, as :mod:`bulkup.emulator.faults` notes them
(:func:`~bulkup.emulator.faults.noting`), in the order they happened.

Never logged: headers (the ``Authorization`` header), bodies, and the values of
query parameters that carry credentials (``oauth_*``, tokens, codes, secrets); what
is left also goes through :func:`bulkup.redact.text` and the emulator's own secrets
are masked wherever they appear.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from bulkup import redact
from bulkup.emulator.config import EmulatorConfig, User
from bulkup.emulator.faults import noting

#: Query parameters whose values are never shown (besides every ``oauth_*`` one).
SECRET_PARAMS = frozenset(
    {
        "access_token",
        "refresh_token",
        "token",
        "code",
        "code_verifier",
        "client_secret",
        "password",
    }
)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One answered (or dropped) request."""

    at: float
    method: str
    target: str
    status: int | None
    millis: float
    faults: tuple[str, ...] = ()

    def line(self) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(self.at))
        status = "dropped" if self.status is None else str(self.status)
        text = f"{clock} {self.method} {self.target} {status} {self.millis:.0f} ms"
        return text + (f" fault={','.join(self.faults)}" if self.faults else "")


def secrets_of(config: EmulatorConfig, users: Iterable[User]) -> tuple[str, ...]:
    """Every credential the emulator was configured with, to mask in what it logs."""
    found: list[str] = list(config.app_bearer_tokens)
    for user in users:
        found += [user.consumer_key, user.consumer_secret, user.access_token]
        found += [user.access_token_secret, *user.bearer_tokens]
    found += [client.client_secret for client in config.oauth2.clients]
    return tuple(sorted({s for s in found if len(s) >= redact.MIN_LENGTH}, key=len, reverse=True))


def target(request: web.Request, secrets: tuple[str, ...] = ()) -> str:
    """The path and query of ``request``, credentials masked."""
    parts = []
    for key, value in request.rel_url.query.items():
        hidden = key.startswith("oauth_") or key.lower() in SECRET_PARAMS
        parts.append(f"{quote(key, safe='')}={redact.MASK if hidden else quote(value, safe='')}")
    shown = request.rel_url.raw_path + ("?" + "&".join(parts) if parts else "")
    shown = redact.text(shown)
    for secret in secrets:
        shown = shown.replace(secret, redact.MASK)
        shown = shown.replace(quote(secret, safe=""), redact.MASK)
    return shown


def middleware(sink: Callable[[str], None], secrets: tuple[str, ...] = ()) -> Middleware:
    """An aiohttp middleware giving ``sink`` one :meth:`RequestRecord.line` per request."""

    @web.middleware
    async def log_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status: int | None = None
        with noting() as faults:
            try:
                response = await handler(request)
                status = None if _gone(request) else response.status
                return response
            except web.HTTPException as exc:  # aiohttp's own answers: 404, 405, 413...
                status = exc.status
                raise
            finally:  # also when the client left first (cancelled): status None
                millis = (time.perf_counter() - started) * 1000
                shown = target(request, secrets)
                record = RequestRecord(
                    time.time(), request.method, shown, status, millis, tuple(faults)
                )
                sink(record.line())

    return log_requests


def _gone(request: web.Request) -> bool:
    """Whether the connection was aborted instead of answered (a drop fault)."""
    transport = request.transport
    return transport is None or transport.is_closing()
