"""A proxy in front of the emulator that changes its answers, for tests of what a client
does with an answer no honest server sends (a ``NaN`` in a JSON field, a rate-limit
header that is not a number).

Every request goes to the emulator unchanged (its ``Host`` header kept, so OAuth 1.0a
signatures made for the proxy's address still verify); ``edit`` sees each exchange once
the emulator has answered and may change the status, headers or body before the client
gets them. ``answer`` may instead answer a request itself, before it reaches the
emulator. v2 paths only: the endpoint of each request is read from its path.
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web

from bulkup.core import spec

#: Headers that describe one hop's framing, not the answer.
_HOP = frozenset({"content-length", "transfer-encoding", "connection", "content-encoding"})


@dataclass
class Exchange:
    """One request and the answer the client will get."""

    method: str
    path: str
    query: Mapping[str, str]
    body: bytes
    endpoint: str
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    answer: bytes = b""

    @property
    def media_id(self) -> str | None:
        """The media id the request names (in its path, or STATUS's query)."""
        if "media_id" in self.query:
            return self.query["media_id"]
        parts = self.path.split("/")
        return parts[4] if len(parts) > 5 else None

    def answer_json(self) -> dict[str, Any]:
        value = json.loads(self.answer)
        assert isinstance(value, dict), self.answer
        return value

    def set_data(self, dotted: str, value: object) -> None:
        """Set ``data.<dotted>`` of the JSON answer (``processing_info.check_after_secs``)."""
        body = self.answer_json()
        node = body["data"]
        *parents, last = dotted.split(".")
        for name in parents:
            node = node[name]
        node[last] = value
        self.answer = json.dumps(body).encode()  # NaN and 1e+300 as Python writes them


def endpoint_of(method: str, path: str) -> str:
    if path == spec.V2_INITIALIZE:
        return "initialize"
    if path.endswith("/append"):
        return "append"
    if path.endswith("/finalize"):
        return "finalize"
    if path == spec.V2_UPLOAD:
        return "status" if method == "GET" else "upload"
    if path == spec.V2_METADATA:
        return "metadata"
    return "other"


Edit = Callable[[Exchange], None]
Answer = Callable[[Exchange], web.Response | None]


class Rewriter:
    """``async with Rewriter(emulator.url, edit) as proxy``: point the client at ``proxy.url``."""

    def __init__(self, upstream: str, edit: Edit | None = None, answer: Answer | None = None):
        self.upstream = upstream.rstrip("/")
        self.edit = edit or (lambda exchange: None)
        self.answer = answer or (lambda exchange: None)
        #: Requests seen, per endpoint.
        self.seen: Counter[str] = Counter()
        self._http: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> Rewriter:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(self._runner, sock)
        await site.start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._http = aiohttp.ClientSession(auto_decompress=False)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        assert self._http is not None
        exchange = Exchange(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            body=await request.read(),
            endpoint=endpoint_of(request.method, request.path),
        )
        self.seen[exchange.endpoint] += 1
        own = self.answer(exchange)
        if own is not None:
            return own
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with self._http.request(
            request.method,
            self.upstream + request.path_qs,
            data=exchange.body,
            headers=headers,
        ) as upstream:
            exchange.status = upstream.status
            exchange.headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP}
            exchange.answer = await upstream.read()
        self.edit(exchange)
        return web.Response(status=exchange.status, headers=exchange.headers, body=exchange.answer)
