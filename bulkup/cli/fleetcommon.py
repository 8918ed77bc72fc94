"""What ``bulkup submit``, ``worker``, ``report`` and ``status --queue`` share: the
queue's options and connecting to it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from bulkup import redact
from bulkup.run.exits import EXIT_USAGE

if TYPE_CHECKING:
    from bulkup.fleet.queue import JobQueue

__all__ = ["add_queue_option", "refused", "with_queue"]

T = TypeVar("T")


def add_queue_option(p: argparse.ArgumentParser, *, job: bool) -> None:
    p.add_argument(
        "--queue",
        metavar="URL",
        help="the queue's Redis or Valkey server: redis://HOST:PORT/DB, rediss:// for TLS; "
        "a password in the URL or in $BULKUP_QUEUE_PASSWORD (default: $BULKUP_QUEUE)",
    )
    if job:
        p.add_argument("--job", metavar="NAME", required=True, help="the job's name")


def refused(command: str, exc: BaseException) -> int:
    print(f"bulkup {command}: {redact.text(str(exc))}", file=sys.stderr)
    return EXIT_USAGE


async def with_queue(url: str | None, work: Callable[[JobQueue], Awaitable[T]]) -> T:
    """Run ``work`` on the queue at ``url`` (or ``$BULKUP_QUEUE``), then disconnect."""
    from bulkup.fleet.connection import QueueServer
    from bulkup.fleet.queue import JobQueue

    server = QueueServer.from_url(url)
    db = await server.connect()
    try:
        return await work(JobQueue(db))
    finally:
        await db.aclose()
