"""Ctrl-C and SIGTERM at any phase of a command: exit 130 or 143, one line, no traceback.

While a command starts (argument parsing, the config file, reading the sources,
planning the posts, opening the checkpoint) and after its run (writing the posts file,
closing the report), a signal raises: SIGINT the usual :class:`KeyboardInterrupt`,
SIGTERM :class:`Terminated` (a kind of it), so every ``finally`` and ``except
BaseException`` on the way out releases what it holds (a checkpoint's lock, a report
not yet emptied). :func:`bulkup.cli.main` catches it and exits with
:func:`exit_code`; a second signal after the first exits at once.

The upload itself runs under the event loop, which takes the signals over (see
``bulkup.cli.upload``: the first one cancels the run and the checkpoint is saved);
:func:`install` puts these handlers back when the loop gives the signals up.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

from bulkup.run.exits import EXIT_INTERRUPTED, EXIT_TERMINATED

__all__ = ["Terminated", "exit_at_once", "exit_code", "handled", "install", "stopped"]


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived; raised where Ctrl-C would raise :class:`KeyboardInterrupt`."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def exit_at_once(signum: int, frame: FrameType | None) -> None:
    """A second signal while the first is being handled: quit now."""
    os._exit(EXIT_TERMINATED if signum == signal.SIGTERM else EXIT_INTERRUPTED)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def install() -> None:
    """SIGINT raises KeyboardInterrupt, SIGTERM :class:`Terminated` (main thread only)."""
    if _main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _terminate)


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """:func:`install` for the duration of a command, then the handlers found before."""
    if not _main_thread():  # a test calling main() from a thread: signals are not ours
        yield
        return
    previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    install()
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])


def exit_code(exc: KeyboardInterrupt) -> int:
    """130 for SIGINT (Ctrl-C), 143 for SIGTERM."""
    return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED


def stopped(exc: KeyboardInterrupt) -> int:
    """Say in one line that the command was stopped, and return its exit status."""
    if _main_thread():
        signal.signal(signal.SIGINT, exit_at_once)
        signal.signal(signal.SIGTERM, exit_at_once)
    what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted (Ctrl-C)"
    with contextlib.suppress(OSError, ValueError):  # stderr closed: the status says it
        print(f"bulkup: {what}; stopped", file=sys.stderr, flush=True)
    return exit_code(exc)
