"""Sending one :class:`~bulkup.core.dialects.HttpRequest` over the shared aiohttp session.

The transport reads the chunk a request carries from disk just before sending it
(never earlier: memory stays at requests-in-flight × chunk size), signs the
request, holds the endpoint's share of the rate-limit budget while it is in flight,
and turns every network failure into a :mod:`bulkup.errors` error: a response that
never comes becomes :class:`~bulkup.errors.UploadTimeout` after the read timeout (no
byte of the answer for ``sock_read`` seconds), a kept-alive connection the server
closed becomes :class:`~bulkup.errors.TransportError` (aiohttp itself re-sends only
idempotent requests), and both are retried by the caller's policy. A 401 for an
OAuth 2.0 token that can renew itself refreshes it and sends the request once more.

The transport is also where a run stops sending (:meth:`Transport.refuse`): refused
credentials or certificate, a server never reached (three failed connections, refused
or not made within the connect timeout, before anything answered: :class:`Unreachable`),
or a server that stopped answering (:class:`~bulkup.client.stall.StallWatch`: requests
outstanding and none answered for the stall timeout: :class:`StallError`). Every later
request, and each one waiting for its rate-limit budget, then fails at once with that
error; a server that is gone also has the requests in flight cut short.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

import aiohttp
import anyio
from aiohttp import ClientHandlerType, ClientMiddlewareType, ClientResponse, hdrs

from bulkup.auth.credentials import Auth
from bulkup.client.config import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MIN_SEND_RATE,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_STALL_TIMEOUT,
)
from bulkup.client.pacer_api import RatePacer
from bulkup.client.stall import StallWatch
from bulkup.core.dialects import HttpAnswer, HttpRequest
from bulkup.errors import (
    AuthError,
    ConnectError,
    ConnectionRefused,
    ConnectTimeout,
    Disconnected,
    FileChanged,
    NameNotResolved,
    ReadTimeout,
    StallError,
    TLSError,
    TransportError,
    Unreachable,
    UploadError,
    UploadTimeout,
    WriteTimeout,
)

FORM = "application/x-www-form-urlencoded"
#: Failed connections (refused, no such host, connect timeout) before anything has
#: answered that stop the run: a wrong endpoint or a server that is down.
UNREACHABLE_AFTER = 3


@dataclass(slots=True)
class Counters:
    requests: int = 0
    #: Requests the server answered (any status): it has been reached.
    answered: int = 0
    bytes_sent: int = 0
    retries: int = 0


class Transport:
    """Performs requests for every file of one uploader."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        auth: Auth,
        pacer: RatePacer,
        *,
        timeout: aiohttp.ClientTimeout | None = None,
        concurrency: int = 8,
        min_send_rate: float = DEFAULT_MIN_SEND_RATE,
        stall_timeout: float = DEFAULT_STALL_TIMEOUT,
    ) -> None:
        """``stall_timeout``: the run stops when requests are outstanding and none is
        answered for this long (0: never)."""
        self.http = http
        #: Requests in flight; a chunk is read only after one of these is held.
        self.requests = anyio.CapacityLimiter(concurrency)
        self.auth = auth
        self.pacer = pacer
        self.timeout = timeout or aiohttp.ClientTimeout(
            total=None, connect=DEFAULT_CONNECT_TIMEOUT, sock_read=DEFAULT_READ_TIMEOUT
        )
        #: A chunk's request not done at this many bytes/s fails (0: no limit).
        self.min_send_rate = min_send_rate
        self.counters = Counters()
        self.refused: UploadError | None = None
        self.stall = StallWatch(stall_timeout, on_stall=lambda: self.refuse(self._stalled()))
        #: Connections that failed while nothing had answered yet.
        self._unreached = 0
        self._waits: set[anyio.CancelScope] = set()
        #: Told of each answer: its request's endpoint and the status (metrics).
        self.on_answer: Callable[[str, int], None] | None = None

    def refuse(self, error: UploadError) -> None:
        """Stop the run sending: every later request, and each one waiting for its
        budget, fails with ``error`` (never retried). For a server that is gone (a
        transport error), the requests in flight are cut short too."""
        if self.refused is not None:
            return
        if error.retryable:  # a connection refused until an item's attempts were spent
            error = unreachable(error)
        self.refused = error
        self.pacer.stop(error)
        for scope in self._waits:
            scope.cancel()
        if isinstance(error, TransportError):
            self.stall.cut()

    @contextlib.contextmanager
    def until_stopped(self) -> Iterator[None]:
        """Run the body (a wait) until the run stops sending, if it does."""
        with anyio.CancelScope() as scope:
            if self.refused is not None:
                scope.cancel()
            self._waits.add(scope)
            try:
                yield
            finally:
                self._waits.discard(scope)

    async def send(
        self,
        request: HttpRequest,
        path: str | os.PathLike[str] | None,
        *,
        sending: Callable[[], None] | None = None,
    ) -> HttpAnswer:
        """Send ``request``; ``path`` is the file its ``media`` range is read from.

        ``sending`` is called once the request goes out: a request refused because the
        run stopped sending (raising :attr:`refused`) never calls it."""
        if self.refused is not None:
            raise self.refused  # the run stopped sending: not even a wait for the budget
        async with self.pacer.slot(request.endpoint) as held, self.requests:
            if self.refused is not None:
                raise self.refused
            if sending is not None:
                sending()
            try:
                sent = await self.auth.prepare(self.http)  # renewed if about to expire
            except AuthError as exc:  # the token endpoint refused: stop the run, once
                self.refuse(exc)
                raise
            body = await self._body(request, path)
            answer = await self._perform(request, body.data, body.headers)
            if answer.status == 401 and sent is not None:
                answer = await self._refreshed(request, path, answer, sent)
            elif body.sha256 is not None:
                answer = dataclasses.replace(answer, sent_sha256=body.sha256)
            self.pacer.observe(held, answer.headers, answer.status)
            if self.on_answer is not None:
                self.on_answer(request.endpoint, answer.status)
            return answer

    async def _refreshed(
        self,
        request: HttpRequest,
        path: str | os.PathLike[str] | None,
        answer: HttpAnswer,
        sent: str,
    ) -> HttpAnswer:
        """After a 401 for the credentials ``sent``: renew them, send ``request`` again.

        Requests refused together share one refresh (see :meth:`OAuth2Auth.refresh`).
        Without a way to renew, or if the request is refused again, the 401 stands.
        """
        try:
            renewed = await self.auth.renew(self.http, sent)
        except AuthError as exc:  # the token endpoint refused: stop the run, once
            self.refuse(exc)
            raise
        if not renewed:
            return answer
        body = await self._body(request, path)
        answer = await self._perform(request, body.data, body.headers)
        return dataclasses.replace(answer, sent_sha256=body.sha256)

    async def _body(self, request: HttpRequest, path: str | os.PathLike[str] | None) -> _Body:
        if request.form is not None:
            return _Body(urlencode(request.form).encode(), {"Content-Type": FORM})
        if request.json is not None:
            data = json.dumps(request.json).encode()
            return _Body(data, {"Content-Type": "application/json"})
        if request.media is None:
            return _Body(None, {})
        if path is None:
            raise ValueError(f"{request.endpoint}: a request with media needs the file's path")
        chunk = await read_chunk(path, *request.media)
        digest = await sha256_of(chunk)
        writer = aiohttp.MultipartWriter("form-data")
        for name, value in request.fields:
            part = writer.append(value)
            part.set_content_disposition("form-data", name=name)
        media = writer.append(chunk, {"Content-Type": "application/octet-stream"})
        media.set_content_disposition("form-data", name="media", filename="blob")
        return _Body(writer, {}, digest)

    async def _perform(
        self, request: HttpRequest, data: object, headers: dict[str, str]
    ) -> HttpAnswer:
        """One exchange, watched for a stall; connections that fail before anything
        answered count towards :data:`UNREACHABLE_AFTER`."""
        self.counters.requests += 1
        try:
            with self.stall.request() as watched:
                answer = await self._exchange(request, data, headers)
                watched.answered = True
        except (ConnectError, ConnectTimeout) as exc:
            stopped = self._not_reached(exc)
            if stopped is not None:
                raise stopped from exc
            raise
        if watched.answered:
            return answer
        assert self.refused is not None  # cut short: the run stopped (a stall, say)
        raise self.refused

    def _not_reached(self, error: UploadError) -> UploadError | None:
        """Count a failed connection; the error that stops the run, once it does."""
        if self.counters.answered or self.refused is not None:
            return self.refused
        self._unreached += 1
        if self._unreached >= UNREACHABLE_AFTER:
            self.refuse(unreachable(error))
        return self.refused

    def _stalled(self) -> StallError:
        limit = self.stall.limit
        return StallError(
            f"no answer from the server for {limit:g} s while requests were outstanding "
            f"(--stall-timeout {limit:g}s): the run stopped; run it again with the same "
            "--checkpoint when the server answers"
        )

    async def _exchange(
        self, request: HttpRequest, data: object, headers: dict[str, str]
    ) -> HttpAnswer:
        timeout = self._timeout_for(request)
        try:
            async with self.http.request(
                request.method,
                request.url,
                data=data,
                headers=headers,
                timeout=timeout,
                middlewares=(*_session_middlewares(self.http), self._signer(request)),
            ) as resp:
                body = await resp.read()
                self.counters.answered += 1
                if request.media is not None:
                    self.counters.bytes_sent += request.media[1]
                return HttpAnswer(resp.status, resp.headers, body)
        except TimeoutError as exc:
            raise self._late(request, exc, timeout) from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise Disconnected(f"{request.endpoint}: {_describe(exc)}") from exc
        except aiohttp.ClientConnectorError as exc:  # no request reached the server
            raise _not_connected(exc) from exc
        except aiohttp.ClientError as exc:
            raise TransportError(f"{request.endpoint}: {_describe(exc)}") from exc
        except OSError as exc:  # a socket error aiohttp did not wrap
            raise TransportError(f"{request.endpoint}: {type(exc).__name__}: {exc}") from exc

    def _signer(self, request: HttpRequest) -> ClientMiddlewareType:
        """Sign each attempt of ``request`` afresh.

        aiohttp re-sends an idempotent request (STATUS is a GET) once by itself when a
        kept-alive connection turns out closed; an OAuth 1.0a nonce is single-use, so a
        header signed once, before sending, makes that re-send a 401 (and a refused run).
        """

        async def sign(req: aiohttp.ClientRequest, handler: ClientHandlerType) -> ClientResponse:
            req.headers[hdrs.AUTHORIZATION] = self.auth.header(
                request.method, request.url, request.form
            )
            return await handler(req)

        return sign

    def _timeout_for(self, request: HttpRequest) -> aiohttp.ClientTimeout:
        """The session's timeouts, and for a chunk a limit on the whole request."""
        base = self.timeout
        if request.media is None or not self.min_send_rate:
            return base
        limit = (base.connect or 0) + (base.sock_read or 0) + request.media[1] / self.min_send_rate
        return aiohttp.ClientTimeout(total=limit, connect=base.connect, sock_read=base.sock_read)

    def _late(
        self, request: HttpRequest, exc: TimeoutError, timeout: aiohttp.ClientTimeout
    ) -> UploadTimeout:
        """The timeout that expired: the connection, the answer, or the whole request."""
        where = request.endpoint
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return ConnectTimeout(f"{where}: could not connect within {timeout.connect:g} s")
        if isinstance(exc, aiohttp.SocketTimeoutError) and timeout.sock_read is not None:
            return ReadTimeout(f"{where}: no answer within {timeout.sock_read:g} s (read timeout)")
        if timeout.total is not None:
            return WriteTimeout(
                f"{where}: not done within {timeout.total:g} s: the server took the chunk "
                f"slower than {self.min_send_rate:g} bytes/s, or stopped reading it"
            )
        return UploadTimeout(f"{where}: no answer in time ({exc!r})")


@dataclass(frozen=True, slots=True)
class _Body:
    data: object
    headers: dict[str, str]
    #: SHA-256 (hex) of the file's bytes in it.
    sha256: str | None = None


#: Chunks up to this size are hashed on the event loop (microseconds); larger ones in a
#: worker thread (hashlib lets go of the GIL), so a 4 MiB chunk never stalls the loop.
INLINE_HASH_BYTES = 256 * 1024


async def sha256_of(chunk: bytes | bytearray) -> str:
    """The SHA-256 (hex) of ``chunk``, off the event loop when it is large."""
    if len(chunk) <= INLINE_HASH_BYTES:
        return hashlib.sha256(chunk).hexdigest()
    return await anyio.to_thread.run_sync(lambda: hashlib.sha256(chunk).hexdigest())


async def read_chunk(path: str | os.PathLike[str], offset: int, length: int) -> bytearray:
    """Exactly ``length`` bytes at ``offset``, or :class:`FileChanged` if the file shrank.

    What the page cache holds of the range is read at once, without waiting for the
    disk (:func:`_read_cached`); the rest, if any, is read in a worker thread, so a
    slow disk never stalls the event loop. That thread's open, read and close happen
    in one call, which a cancellation waits for: a task cancelled mid-read (its item's
    other APPEND failed) leaks no open file.
    """
    name = os.fspath(path)
    chunk = bytearray(length)
    try:
        done = _read_cached(name, offset, chunk)
        if done < length:
            with memoryview(chunk)[done:] as rest:
                done += await anyio.to_thread.run_sync(_read_into, name, offset + done, rest)
    except FileNotFoundError:
        raise FileChanged(f"{name} was deleted during the upload") from None
    if done != length:
        raise FileChanged(
            f"{name} changed during the upload: expected {length} bytes at "
            f"offset {offset}, read {done}"
        )
    return chunk


def _read_into(path: str, offset: int, view: memoryview) -> int:
    """Fill ``view`` from ``offset`` of the file; fewer bytes only at its end."""
    done = 0
    with open(path, "rb", buffering=0) as fh:
        fh.seek(offset)
        while done < len(view):
            count = fh.readinto(view[done:])
            if not count:
                break
            done += count
    return done


#: preadv2(RWF_NOWAIT) reads only what the page cache holds, never waiting for a disk
#: (Linux 4.14+); elsewhere every chunk is read in a worker thread.
_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None)


def _read_cached(path: str, offset: int, buffer: bytearray) -> int:
    """Read into ``buffer`` what the page cache holds from ``offset`` on; the count.

    A chunk of a file written or read lately (the usual case) costs no thread hop:
    handing each chunk to a worker thread and back cost more CPU than reading it.
    Any error other than a missing file reads nothing, so that the thread's read
    reports it as before.
    """
    if _NOWAIT is None:
        return 0
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError:
        return 0
    try:
        return os.preadv(fd, [buffer], offset, _NOWAIT)
    except OSError:  # EAGAIN: not cached; EOPNOTSUPP: a file system without NOWAIT
        return 0
    finally:
        os.close(fd)


def _session_middlewares(http: aiohttp.ClientSession) -> tuple[ClientMiddlewareType, ...]:
    """A shared session's own middlewares, kept: per-request middlewares replace them."""
    return tuple(getattr(http, "_middlewares", None) or ())


def _describe(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection before answering"
    return f"{type(exc).__name__}: {exc}"


def _not_connected(exc: aiohttp.ClientConnectorError) -> TransportError:
    """The error, in plain words, for a connection that could not be made."""
    where = f"{exc.host}:{exc.port}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return TLSError(
            f"TLS certificate not trusted: {where} presented one this machine cannot verify "
            f"({_certificate_problem(exc.certificate_error)}); give its CA with --ca-bundle "
            "FILE (or, for a test server only, --insecure)"
        )
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return NameNotResolved(f"the name {exc.host} does not resolve ({_reason(exc.os_error)})")
    if isinstance(exc.os_error, ConnectionRefusedError):
        return ConnectionRefused(f"nothing is listening at {where} (connection refused)")
    return ConnectError(f"cannot connect to {where} ({_reason(exc.os_error)})")


def _certificate_problem(error: Exception) -> str:
    """``CERTIFICATE_VERIFY_FAILED: unable to get local issuer certificate``, say."""
    reason = getattr(error, "reason", None)
    detail = getattr(error, "verify_message", None)
    if reason and detail:
        return f"{reason}: {detail}"
    return str(reason or detail or error)


def _reason(error: OSError) -> str:
    """An OS error's own words ("No route to host"), without errno numbers."""
    return str(error.strerror or type(error).__name__)


def unreachable(error: UploadError) -> Unreachable:
    """The run's stop after connections failed (``error``, the last) while no request of
    the run had reached the server: the cause in plain words and what to do."""
    cause = error.message.split(": ", 1)[1] if isinstance(error, ConnectTimeout) else error.message
    fix = error.fix if isinstance(error, ConnectError) else "check --endpoint and the network"
    return Unreachable(
        f"{cause}: no request of this run reached the server, so it stopped; {fix}, "
        "then run the same command again"
    )
