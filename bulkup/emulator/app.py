"""The emulator's aiohttp application: routing and the request pipeline.

Every API request goes through the same steps, in :func:`api_middleware` and
:meth:`EmulatorState.begin` / :meth:`EmulatorState.admit`:

1. simulated network: latency, jitter, spikes, bandwidth (as a delay of
   ``body bytes / bandwidth``), a gathering that holds requests until enough are
   held at once (:meth:`FaultPlan.gather`), possibly a connection dropped mid-body;
2. authentication (OAuth 1.0a or OAuth 2.0 user token);
3. parameters from query, form, multipart or JSON, media bytes spooled to disk;
4. injected 500/503/429 faults and misbehaviour (an HTML page or a hang instead
   of performing the request; garbage or missing fields in place of a performed
   request's success answer), then the user's rate-limit windows;
5. the dialect's handler; errors rendered in the dialect's error body;
6. ``x-rate-limit-*`` headers (unless ``[answers] rate_headers = false``),
   statistics, and possibly a dropped response or a connection marked to be closed
   when the client reuses it.

The ``/_emulator/*`` routes (no authentication) expose what the server holds
(:mod:`bulkup.emulator.inspection`); misbehaving answers and dropped connections are
:mod:`bulkup.emulator.misbehave`. The OAuth 2.0 authorize and token endpoints are
:mod:`bulkup.emulator.oauth2`.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import weakref
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from bulkup.core import spec
from bulkup.core.clock import OffsetClock
from bulkup.emulator import errors, misbehave
from bulkup.emulator.auth import Authenticator
from bulkup.emulator.config import EmulatorConfig, User
from bulkup.emulator.errors import ApiError
from bulkup.emulator.faults import REWRITE_KINDS, FaultPlan, note
from bulkup.emulator.misbehave import Misbehave
from bulkup.emulator.oauth2 import OAuth2Server
from bulkup.emulator.params import MULTIPART, Params, read_params
from bulkup.emulator.ratelimit import RateLimiter, Verdict
from bulkup.emulator.store import Media, MediaStore

STATE_KEY: web.AppKey[EmulatorState] = web.AppKey("bulkup_emulator_state")
INSPECT_PREFIX = "/_emulator"


@dataclass(slots=True)
class Exchange:
    """What the pipeline learns about one API request as it goes."""

    dialect: str
    endpoint: str | None = None
    params: Params | None = None
    rate: Verdict | None = None
    drop_response: bool = False
    #: Close this connection when the client sends its next request on it.
    close_connection: bool = False
    #: Performed, and a success answer rewritten (``missing_fields``, ``garbage_200``).
    rewrite: str | None = None


EXCHANGE_KEY: web.RequestKey[Exchange] = web.RequestKey("bulkup_exchange", Exchange)


@dataclass(slots=True)
class Call:
    """One API request as the handlers see it."""

    request: web.Request
    dialect: str
    user: User
    params: Params
    endpoint: str | None = None


#: Faults answered by :func:`misbehave.misbehaviour` instead of performing the request.
MISBEHAVIOURS = ("html_error", "hang")
#: Endpoints whose success answer has fields the contract requires (``data.id``; v1.1:
#: the media id), which a ``missing_fields`` fault drops. The others require none.
STRIPPABLE = {
    "v2": frozenset({"initialize", "finalize", "status", "upload", "metadata"}),
    "v1.1": frozenset({"initialize", "finalize", "status", "upload"}),
}


class Stats:
    """Request counts per endpoint and status, bytes received, faults injected.

    ``window_peak`` is the most requests one user had accepted in one rate-limit
    window of an endpoint: a client that paces itself never exceeds the budget, and
    this shows it.
    """

    def __init__(self) -> None:
        self.requests: defaultdict[str, Counter[int]] = defaultdict(Counter)
        self.window_peak: Counter[str] = Counter()
        self._changed = asyncio.Event()

    def record(self, endpoint: str, status: int) -> None:
        self.requests[endpoint][status] += 1
        self.notify()

    def notify(self) -> None:
        """Wake every :meth:`wait_for` to check its predicate again."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[Stats], bool]) -> None:
        """Return once ``predicate(self)`` holds; re-checked after every answered request."""
        while not predicate(self):
            await self._changed.wait()

    def count(self, endpoint: str, status: int | None = None) -> int:
        counts = self.requests.get(endpoint, Counter())
        return counts.total() if status is None else counts[status]


class EmulatorState:
    """Everything one running emulator holds."""

    def __init__(self, config: EmulatorConfig, root: Path, users: tuple[User, ...]) -> None:
        self.config = config
        self.users = users
        self.clock = OffsetClock()
        self.faults = FaultPlan(config.faults, config.network)
        self.store = MediaStore(config, self.clock, root, self.faults)
        self.limiter = RateLimiter(config.limits, self.clock)
        self.oauth2 = OAuth2Server(config.oauth2, users, self.clock)
        self.auth = Authenticator(config, users, issued=self.oauth2.lookup)
        self.stats = Stats()
        #: Turns of the minimal APPEND answers (:mod:`bulkup.emulator.answers`).
        self.append_turns = itertools.count()
        self.faults.on_inject = self.stats.notify
        #: Connections a ``close_connection`` fault closes at their next request.
        self.closing: weakref.WeakSet[asyncio.BaseTransport] = weakref.WeakSet()

    async def begin(self, request: web.Request) -> Call:
        """Authenticate the request and read its parameters."""
        exchange = request[EXCHANGE_KEY]
        try:
            user = await self.auth.authenticate(request, exchange.dialect)
            params = exchange.params = await read_params(request, self.store)
        except web.HTTPRequestEntityTooLarge:
            # A url-encoded or JSON body over client_max_size: the dialect's 413, not aiohttp's.
            raise ApiError(errors.TOO_LARGE, empty_body=exchange.dialect == "v1.1") from None
        return Call(request, exchange.dialect, user, params)

    def admit(self, call: Call, endpoint: str) -> None:
        """Injected faults, then the rate-limit budget, for ``endpoint``."""
        exchange = call.request[EXCHANGE_KEY]
        call.endpoint = exchange.endpoint = endpoint
        fault = self.faults.before(endpoint, strippable=endpoint in STRIPPABLE[call.dialect])
        if fault == "error_500":
            raise ApiError(errors.INTERNAL)
        if fault == "error_503":
            raise ApiError(errors.OVER_CAPACITY)
        if fault in MISBEHAVIOURS:
            raise Misbehave(fault)  # answered without performing the request
        exchange.rewrite = fault if fault in REWRITE_KINDS else None  # performed, then
        if fault == "burst_429":
            self.limiter.start_burst(call.user.id, endpoint, self.config.faults.burst_429_length)
        verdict = exchange.rate = self.limiter.acquire(call.user.id, endpoint)
        if not verdict.allowed:
            if verdict.burst:
                note("burst_429")  # refused by a burst an earlier request started
            raise ApiError(errors.RATE_LIMITED)
        if self.config.limits.enabled:
            used = verdict.limit - verdict.remaining
            self.stats.window_peak[endpoint] = max(self.stats.window_peak[endpoint], used)
        exchange.drop_response = self.faults.drop_response(endpoint)
        if not exchange.drop_response:
            exchange.close_connection = self.faults.close_connection(endpoint)

    def describe(self, media: Media) -> dict[str, Any]:
        """The inspection view of one media id (``GET /_emulator/media/{id}``)."""
        processing = self.store.processing(media)
        facts = media.facts
        return {
            "media_id": media.id_string,
            "media_key": media.key,
            "owner": media.owner,
            "additional_owners": list(media.additional_owners),
            "shared": media.shared,
            "dialect": media.dialect,
            "size": media.size if media.size is not None else media.total_bytes,
            "total_bytes": media.total_bytes,
            "received_bytes": sum(s.size for s in media.segments.values()),
            "segments": sorted(media.segments),
            "sha256": media.sha256,
            "media_type": media.media_type,
            "detected_type": facts.mime if facts else None,
            "media_category": media.category,
            "state": self.store.state(media),
            "processing_info": processing.as_json() if processing else None,
            "error": media.problem.message if media.problem else None,
            "width": facts.width if facts else None,
            "height": facts.height if facts else None,
            "duration": facts.duration if facts else None,
            "alt_text": media.alt_text,
            "allow_download": media.allow_download,
            "sensitive_media_warning": media.sensitive_media_warning,
            "metadata": media.metadata,
            "subtitles": list(media.subtitles),
            "created_at": media.created_at,
            "finalized_at": media.finalized_at,
            "expires_at": media.expires_at,
            "path": str(media.path) if media.path else None,
        }

    def stats_json(self) -> dict[str, Any]:
        return {
            "requests": {
                endpoint: {str(status): n for status, n in sorted(counts.items())}
                for endpoint, counts in sorted(self.stats.requests.items())
            },
            "bytes_received": self.store.bytes_received,
            "faults": dict(self.faults.injected),
            "rate_window_peak": dict(sorted(self.stats.window_peak.items())),
            "rate_windows": self.limiter.usage() if self.config.limits.enabled else {},
            "app_windows": self.limiter.app_usage() if self.config.limits.enabled else {},
            "media_count": sum(1 for _ in self.store),
            "clock_offset_secs": self.clock.offset,
        }


def dialect_of(path: str) -> str | None:
    if path.startswith("/1.1/"):
        return "v1.1"
    if path.startswith("/2/"):
        return "v2"
    return None


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    dialect = dialect_of(request.path)
    if dialect is None:
        return await handler(request)
    state = request.app[STATE_KEY]
    # The endpoint as far as method, path and query tell; admit() makes it exact.
    exchange = request[EXCHANGE_KEY] = Exchange(dialect, endpoint_hint(request))
    if request.transport in state.closing:
        note("close_connection")
        return _drop(request, state)  # a close_connection fault: the reused connection is gone
    body_bytes = request.content_length or 0
    delay = state.faults.latency_secs(exchange.endpoint, body_bytes)
    if delay > 0:
        await asyncio.sleep(delay)
    gathering = state.faults.gathering(exchange.endpoint)
    if gathering is not None:
        await gathering.arrive()
    if body_bytes and state.faults.drop_mid_body(exchange.endpoint):
        await request.content.read(max(1, body_bytes // 2))
        return _drop(request, state)
    try:
        response = await handler(request)
    except ApiError as exc:
        response = errors.render(exc, dialect, request.path)
    except Misbehave as exc:
        endpoint = exchange.endpoint or request.path
        gone = functools.partial(state.stats.record, endpoint, 0)
        response = await misbehave.misbehaviour(exc.kind, gone)
    finally:
        if exchange.params is not None:
            exchange.params.discard()
    if exchange.rewrite is not None and 200 <= response.status < 300:
        response = misbehave.rewritten(exchange.rewrite, dialect, response.status)
        state.faults.record(exchange.rewrite)
    if exchange.rate is not None and state.config.answers.rate_headers:
        response.headers.update(exchange.rate.headers())
    if exchange.drop_response:
        return _drop(request, state)
    if exchange.close_connection and request.transport is not None:
        state.closing.add(request.transport)
    state.stats.record(exchange.endpoint or request.path, response.status)
    return response


_ROUTE_ENDPOINTS: dict[tuple[str, str], str] = {
    ("POST", spec.V2_INITIALIZE): "initialize",
    ("POST", spec.V2_APPEND): "append",
    ("POST", spec.V2_FINALIZE): "finalize",
    ("GET", spec.V2_UPLOAD): "status",
    ("POST", spec.V2_UPLOAD): "upload",
    ("POST", spec.V2_METADATA): "metadata",
    ("POST", spec.V2_SUBTITLES): "subtitles_create",
    ("DELETE", spec.V2_SUBTITLES): "subtitles_delete",
    ("GET", spec.V1_UPLOAD): "status",
    ("POST", spec.V1_METADATA): "metadata",
    ("POST", spec.V1_SUBTITLES_CREATE): "subtitles_create",
    ("POST", spec.V1_SUBTITLES_DELETE): "subtitles_delete",
}
_V1_COMMANDS = {"INIT": "initialize", "APPEND": "append", "FINALIZE": "finalize"}


def endpoint_hint(request: web.Request) -> str | None:
    """The endpoint of ``request`` as far as it is known before the body is read.

    Lets network faults (``drop_mid_body``, ``latency_spike``) be scheduled per
    endpoint and keys statistics of requests refused before :meth:`EmulatorState.admit`.
    v1.1 ``POST media/upload.json`` names its command in the body: the query's
    ``command`` is used when present, else a multipart body is taken for APPEND
    (a multipart simple upload counts as ``append`` until then), else unknown.
    """
    resource = request.match_info.route.resource
    if resource is None:
        return None
    route = (request.method, resource.canonical)
    if route == ("POST", spec.V1_UPLOAD):
        command = request.rel_url.query.get("command")
        if command is not None:
            return _V1_COMMANDS.get(command)
        return "append" if request.content_type == MULTIPART else None
    return _ROUTE_ENDPOINTS.get(route)


def build_app(
    state: EmulatorState, *, request_log: Callable[[str], None] | None = None
) -> web.Application:
    """The aiohttp application serving both dialects and the inspection routes.

    ``request_log`` receives one line per request (:mod:`bulkup.emulator.requestlog`).
    """
    from bulkup.emulator import inspection, oauth2, requestlog, v1, v2

    max_body = state.config.lifetimes.max_chunk_bytes * 4 // 3 + (1 << 20)
    middlewares: list[Middleware] = [api_middleware]
    if request_log is not None:
        secrets = requestlog.secrets_of(state.config, state.users)
        middlewares.insert(0, requestlog.middleware(request_log, secrets))
    app = web.Application(middlewares=middlewares, client_max_size=max_body)
    app[STATE_KEY] = state
    v1.add_routes(app)
    v2.add_routes(app)
    oauth2.add_routes(app, state.oauth2)
    inspection.add_routes(app)
    return app


def _drop(request: web.Request, state: EmulatorState) -> web.Response:
    """Abort the connection instead of answering; counted as status 0."""
    state.stats.record(request[EXCHANGE_KEY].endpoint or request.path, 0)
    return misbehave.drop(request)
