"""Running the emulator: :class:`Emulator` for Python, :func:`serve` for the CLI.

::

    async with Emulator(EmulatorConfig()) as emu:
        print(emu.url, emu.user.consumer_key)
        ...                         # upload to emu.url
        info = emu.media(media_id)  # what the server assembled, with its sha256
        emu.advance(3600)           # expire uploads without sleeping
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import ssl
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from bulkup.emulator.app import EmulatorState, build_app
from bulkup.emulator.config import EmulatorConfig, User
from bulkup.emulator.faults import FaultPlan

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


class Emulator:
    """A running emulator on a real socket; an async context manager.

    ``port=0`` (the default) picks a free port. ``tls="self-signed"`` serves https
    with a fresh CA whose certificate is written to :attr:`ca_path`; pass an
    :class:`ssl.SSLContext` to use your own certificate. ``request_log`` (off by
    default) receives one line per request: time, method, path, status, milliseconds
    and the faults injected, credentials masked (:mod:`bulkup.emulator.requestlog`);
    ``bulkup serve`` passes one that prints on standard error.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        tls: str | ssl.SSLContext | None = None,
        ca_path: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        request_log: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config or EmulatorConfig()
        self.host = host
        self._port = port
        self._tls = tls
        self._ca_path = Path(ca_path) if ca_path is not None else None
        self._environ = environ
        self._request_log = request_log
        self._runner: web.AppRunner | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._state: EmulatorState | None = None
        self.port = 0

    # --- lifecycle -------------------------------------------------------------
    async def start(self) -> Emulator:
        try:
            await self._start()
        except BaseException:
            await self.stop()  # a failed start leaves no temporary directory behind
            raise
        return self

    async def _start(self) -> None:
        root = self._storage_root()
        users = self.config.effective_users(self._environ)
        self._state = EmulatorState(self.config, root, users)
        ssl_context = self._ssl_context(root)
        sock = _bind(self.host, self._port)
        self.port = sock.getsockname()[1]
        runner = web.AppRunner(
            build_app(self._state, request_log=self._request_log),
            access_log=None,
            shutdown_timeout=1.0,
            handler_cancellation=True,  # a dropped client stops its request, as on a real server
        )
        try:
            await runner.setup()
            self._runner = runner
            await web.SockSite(runner, sock, ssl_context=ssl_context).start()
        except BaseException:
            sock.close()
            raise

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> Emulator:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _storage_root(self) -> Path:
        if self.config.storage.dir:
            root = Path(self.config.storage.dir)
            root.mkdir(parents=True, exist_ok=True)
            return root
        self._tmp = tempfile.TemporaryDirectory(prefix="bulkup-emulator-")
        return Path(self._tmp.name)

    def _ssl_context(self, root: Path) -> ssl.SSLContext | None:
        if self._tls is None:
            return None
        if isinstance(self._tls, ssl.SSLContext):
            return self._tls
        if self._tls != "self-signed":
            raise ValueError("tls must be None, 'self-signed' or an ssl.SSLContext")
        from bulkup.emulator.tls import self_signed_context

        if self._ca_path is None:
            self._ca_path = root / "emulator-ca.pem"
        return self_signed_context(self._ca_path)

    # --- what tests and users look at -------------------------------------------
    @property
    def state(self) -> EmulatorState:
        if self._state is None:
            raise RuntimeError("the emulator is not running; use 'async with Emulator()'")
        return self._state

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8765``; the API paths go after it."""
        scheme = "https" if self._tls is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def ca_path(self) -> Path | None:
        """The CA certificate to trust when serving ``tls="self-signed"``."""
        return self._ca_path if self._tls == "self-signed" else None

    @property
    def users(self) -> tuple[User, ...]:
        return self.state.users

    @property
    def user(self) -> User:
        """The first (usually only) configured user."""
        return self.state.users[0]

    @property
    def faults(self) -> FaultPlan:
        return self.state.faults

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock forward (expiry, processing, rate windows)."""
        self.state.clock.advance(seconds)
        self.state.store.sweep()

    def media(self, media_id: int | str) -> dict[str, Any] | None:
        """The inspection view of one media id, as ``GET /_emulator/media/{id}``."""
        media = self.state.store.peek(int(media_id))
        return self.state.describe(media) if media is not None else None

    def all_media(self) -> list[dict[str, Any]]:
        return [self.state.describe(m) for m in self.state.store]

    async def wait_for_requests(self, endpoint: str, count: int, status: int | None = None) -> None:
        """Wait (without polling) until ``endpoint`` has answered ``count`` requests.

        ``status`` counts only answers with that status (0 = dropped connections).
        For tests that act at a known point of a client's run.
        """
        await self.state.stats.wait_for(lambda s: s.count(endpoint, status) >= count)

    async def wait_for_fault(self, kind: str, count: int = 1) -> None:
        """Wait (without polling) until ``count`` faults of ``kind`` were injected."""
        await self.state.stats.wait_for(lambda _: self.state.faults.injected[kind] >= count)

    def stats(self) -> dict[str, Any]:
        """Request counts per endpoint and status, bytes received, faults injected."""
        return self.state.stats_json()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(512)
    sock.setblocking(False)
    return sock


async def serve(
    emulator: Emulator,
    *,
    on_ready: Callable[[Emulator], None] | None = None,
) -> None:
    """Run until SIGINT or SIGTERM, then stop cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    async with emulator:
        if on_ready is not None:
            on_ready(emulator)
        await stop.wait()
