"""Answers of a misbehaving server or proxy, and connections dropped on purpose.

Fault injection (:mod:`bulkup.emulator.faults`) decides *whether*; this module is
*what goes on the wire*: a proxy's HTML error page, a request never answered, a
success answer emptied or cut short, a connection aborted instead of answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from bulkup.emulator.faults import HANG_SECS

_PROXY_PAGE = """<html>
<head><title>{status} {reason}</title></head>
<body>
<center><h1>{status} {reason}</h1></center>
<hr><center>nginx</center>
</body>
</html>
"""
#: A success answer cut short: not JSON, although it claims to be.
_GARBAGE = {"v1.1": '{"media_id": 18800281060205', "v2": '{"data": {"id": "18800281060205'}


class Misbehave(Exception):
    """Raised by :meth:`EmulatorState.admit`: answer like a misbehaving server."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def proxy_page(status: int, reason: str) -> web.Response:
    page = _PROXY_PAGE.format(status=status, reason=reason)
    return web.Response(status=status, text=page, content_type="text/html")


async def misbehaviour(kind: str, on_gone: Callable[[], None]) -> web.Response:
    """The answer of a misbehaving server or proxy; the request was not performed.

    ``on_gone`` is called when the client leaves a ``hang`` before it is answered.
    """
    if kind == "html_error":
        return proxy_page(502, "Bad Gateway")
    try:  # hang: no answer until the client gives up and closes the connection
        await asyncio.sleep(HANG_SECS)
    except asyncio.CancelledError:
        on_gone()
        raise
    return proxy_page(504, "Gateway Time-out")


def rewritten(kind: str, dialect: str, status: int) -> web.Response:
    """A performed request's success answer, as a ``missing_fields`` or ``garbage_200``.

    ``missing_fields`` keeps the status and drops every field, required ones included:
    ``{"data": {}}`` (v2) or ``{}`` (v1.1). ``garbage_200`` is a 200 whose body is a
    success answer cut short: not JSON, although it claims to be.
    """
    if kind == "garbage_200":
        return web.Response(text=_GARBAGE[dialect], content_type="application/json")
    return web.json_response({"data": {}} if dialect == "v2" else {}, status=status)


def drop(request: web.Request) -> web.Response:
    """Abort the connection instead of answering (fault injection).

    The returned response is never sent: aiohttp's server finds the transport closed
    when it writes the status line, and ``RequestHandler.finish_response`` treats that
    ``ConnectionError`` as a client that went away (logged at debug level only).
    Raising from the handler instead would log an "Error handling request" traceback
    for every injected drop.
    """
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=503)
