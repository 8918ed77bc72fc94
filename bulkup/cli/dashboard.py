"""``bulkup dashboard --queue URL``: a live page of the work queue, its JSON feed and
Prometheus metrics (:mod:`bulkup.fleet.dashboard`).

Standard error says where it listens; it serves until Ctrl-C. A queue server that does
not answer is no reason to stop: the page says so, and recovers when it is back.
Building the parser imports neither aiohttp.web nor redis.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from bulkup import redact
from bulkup.errors import ConfigError
from bulkup.run.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE

__all__ = ["DASHBOARD_HOST", "DASHBOARD_PORT", "QUEUE_VAR", "add_dashboard", "run_dashboard"]

DASHBOARD_HOST, DASHBOARD_PORT = "127.0.0.1", 8040
#: The queue's URL when --queue is not given.
QUEUE_VAR = "BULKUP_QUEUE"


def add_dashboard(commands: Any) -> None:
    p = commands.add_parser(
        "dashboard",
        help="serve a live page of the work queue, with Prometheus metrics",
        description=(
            "Serve a page of the work queue on --queue's Redis: jobs, items by state, "
            "throughput, each account's budget use per endpoint against its limit, workers "
            "alive and what each uploads, recent failures. Also /feed.json (the page polls "
            "it every second) and /metrics (Prometheus). It only reads the queue. The "
            "password goes in the URL (redis://:PASSWORD@HOST) or, better, in "
            "$BULKUP_QUEUE_PASSWORD. Stop with Ctrl-C."
        ),
    )
    p.add_argument(
        "--queue",
        metavar="URL",
        default=os.environ.get(QUEUE_VAR),
        help=f"the queue's redis:// or rediss:// URL (default ${QUEUE_VAR})",
    )
    p.add_argument("--port", type=int, default=DASHBOARD_PORT, help="port (default %(default)s)")
    p.add_argument(
        "--host",
        default=DASHBOARD_HOST,
        help="address to bind (default %(default)s: this machine only)",
    )
    p.set_defaults(handler=run_dashboard)


def run_dashboard(args: argparse.Namespace) -> int:
    from bulkup.fleet.connection import QueueServer

    if not args.queue:
        return _usage(f"give the queue's URL: --queue redis://HOST:6379/0 (or ${QUEUE_VAR})")
    try:
        server = QueueServer.from_url(args.queue)
    except ConfigError as exc:
        return _usage(str(exc))
    try:
        asyncio.run(_serve(server, args.host, args.port))
    except OSError as exc:
        reason = str(exc.strerror or exc).rsplit(": ", 1)[-1]
        where = f"{args.host}:{args.port}"
        _say(f"bulkup dashboard: cannot listen on {where} ({reason}): give another --port")
        return EXIT_FAILED
    except KeyboardInterrupt:
        _say("bulkup dashboard: stopped")
    return EXIT_OK


async def _serve(server: Any, host: str, port: int) -> None:
    from aiohttp import web

    from bulkup.fleet.dashboard import dashboard_app
    from bulkup.fleet.feed import Feed, client
    from bulkup.fleet.metrics import bound_port

    db = client(server)
    runner = web.AppRunner(dashboard_app(Feed(db), queue=server.shown), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = bound_port(site, port)
        shown = f"[{host}]" if ":" in host else host
        _say(
            f"bulkup dashboard: http://{shown}:{bound}/ (feed /feed.json, metrics /metrics) "
            f"for the queue at {server.shown}; Ctrl-C stops it"
        )
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await db.aclose()


def _say(text: str) -> None:
    print(redact.text(text), file=sys.stderr, flush=True)


def _usage(message: str) -> int:
    _say(f"bulkup dashboard: {message}")
    return EXIT_USAGE
