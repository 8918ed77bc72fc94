"""``bulkup worker --queue URL``: upload the items of the queue's jobs, on any number of
hosts, until stopped (or, with ``--exit-when-idle``, until the jobs are done)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bulkup import logs, redact
from bulkup.cli.fleetcommon import add_queue_option, refused
from bulkup.cli.options import add_settings_options, seconds, settings_from_args
from bulkup.errors import BulkupError, ConfigError
from bulkup.run.exits import EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from bulkup.auth.credentials import Auth
    from bulkup.cli.settings import Settings
    from bulkup.client.config import UploadConfig
    from bulkup.fleet.connection import QueueServer
    from bulkup.fleet.keys import Keys
    from bulkup.fleet.worker import Tally, WorkerSettings

#: Options of ``bulkup upload`` that mean nothing to a worker: the queue keeps them.
NOT_FOR_WORKERS = ("checkpoint", "report", "posts", "shard")


def add_worker(commands: Any) -> None:
    p = commands.add_parser(
        "worker",
        help="upload the items of jobs on a Redis queue (run on any number of hosts)",
        description=(
            "Take items from the jobs on the queue (those of --job, else every job not "
            "finished), upload them with the upload settings below, and record each item's "
            "one result in its job. Each item's upload state lives in Redis: when a worker "
            "dies, another takes its items once their heartbeat lapsed (--claim-after) and "
            "resumes the same upload sessions. Ctrl-C or SIGTERM hands the held items back "
            "at once (exit 130 or 143). Rate-limit budgets are shared on the queue's server "
            "(--budget URL for another)."
        ),
    )
    add_queue_option(p, job=False)
    p.add_argument(
        "--job", action="append", metavar="NAME", help="work on this job only (repeatable)"
    )
    p.add_argument(
        "--claim-after",
        type=seconds,
        default=30.0,
        metavar="SECS",
        help="take over an item whose worker's heartbeat lapsed this long (30)",
    )
    p.add_argument(
        "--exit-when-idle",
        action="store_true",
        help="exit once every item of the jobs finished (none pending or being uploaded)",
    )
    add_settings_options(p)
    for action in p._actions:  # refused (see _settings): not offered in --help
        if action.dest in NOT_FOR_WORKERS:
            action.help = argparse.SUPPRESS
    p.set_defaults(handler=run_worker)


def run_worker(args: argparse.Namespace) -> int:
    from bulkup.cli.running import run_interruptible
    from bulkup.fleet.connection import QueueServer
    from bulkup.fleet.worker import WorkerSettings

    try:
        settings, auth = _settings(args)
        config, port = settings.upload, settings.metrics_port
        server = QueueServer.from_url(args.queue)
        config = _shared_budget(config, server)
        if args.claim_after <= 0:
            raise ConfigError("--claim-after must be above 0 seconds, e.g. 30")
    except (BulkupError, OSError, ValueError) as exc:
        return refused("worker", exc)
    jobs = tuple(args.job or ())
    ws = WorkerSettings(jobs, args.claim_after, args.exit_when_idle, min(0.5, args.claim_after / 3))
    work = partial(_work, server, config, _Credentials(settings, auth), ws)
    return run_interruptible(lambda: _with_metrics(port, work))


def _settings(args: argparse.Namespace) -> tuple[Settings, Auth]:
    from bulkup.auth.config import build_auth
    from bulkup.auth.credentials import secrets_of
    from bulkup.cli.guards import check_plain_http

    for key in NOT_FOR_WORKERS:
        if getattr(args, key, None) is not None:
            flag = "--" + key.replace("_", "-")
            raise ConfigError(
                f"{flag} means nothing to a worker: the queue keeps each item's state and "
                "result (read them with `bulkup status --queue` and `bulkup report --queue`)"
            )
    settings = settings_from_args(args)
    auth = build_auth(settings.auth)
    out = settings.output
    logs.configure(level=out.log_level, fmt=out.log_format, secrets=secrets_of(auth))
    if not settings.allow_plain_http:
        check_plain_http(settings.upload.base_url, auth)
    if settings.metrics_port is not None:
        import prometheus_client  # noqa: F401  (a clear ImportError before anything runs)
    return settings, auth


def _shared_budget(config: UploadConfig, server: QueueServer) -> UploadConfig:
    """The budgets are shared on the queue's server unless ``--budget`` names another."""
    if config.budget is not None:
        return config
    if server.password and not urlsplit(server.url).password:
        os.environ.setdefault("BULKUP_BUDGET_PASSWORD", server.password)
    return dataclasses.replace(config, budget=server.url)


async def _with_metrics(port: int | None, work: Callable[[object | None], Awaitable[int]]) -> int:
    """``work``, with this worker's Prometheus metrics served on ``port`` (if given)."""
    if port is None:
        return await work(None)
    from bulkup.fleet.metrics import WorkerMetrics, serve_metrics

    metrics = WorkerMetrics()
    async with contextlib.AsyncExitStack() as stack:
        try:
            await stack.enter_async_context(serve_metrics(metrics.registry, port))
        except OSError as exc:  # the port is taken: nothing was taken from the queue
            return refused("worker", exc)
        return await work(metrics)


async def _work(
    server: QueueServer,
    config: UploadConfig,
    credentials: _Credentials,
    ws: WorkerSettings,
    observer: object | None,
) -> int:
    from bulkup import __version__
    from bulkup.fleet.connection import Patience
    from bulkup.fleet.queue import JobQueue
    from bulkup.fleet.registry import Registration, worker_id
    from bulkup.fleet.worker import Worker

    try:
        db = await server.connect()
    except BulkupError as exc:
        return refused("worker", exc)
    queue = JobQueue(db)
    reg = Registration(db, queue.keys, worker_id(), __version__)
    auth_for = credentials.auth_for(db, queue.keys)
    worker = Worker(queue, config, auth_for, ws, Patience(server.shown), reg, observer)
    jobs = ", ".join(ws.jobs) if ws.jobs else "every job"
    say(f"bulkup worker {reg.id}: working on {jobs} at {server.shown}")
    await _say_missing(queue, ws)
    try:
        await worker.run()
    except BulkupError as exc:  # the shared budget's server not answering, say
        return refused("worker", exc)
    finally:
        say(_summary(worker.tally))
        await db.aclose()
    if worker.stopped is not None:
        say(
            f"bulkup worker: stopped: {worker.stopped.message}; the items it held went "
            "back to the queue for other workers"
        )
        return EXIT_USAGE
    return EXIT_OK


async def _say_missing(queue: Any, ws: WorkerSettings) -> None:
    """A job named by --job that is not on the queue (a typo, or not submitted yet)."""
    for job in ws.jobs:
        if await queue.db.exists(queue.keys.job(job)):
            continue
        then = "nothing to do" if ws.exit_when_idle else f"waiting for `bulkup submit --job {job}`"
        say(f"bulkup worker: no job {job!r} on the queue (yet): {then}")


@dataclasses.dataclass(frozen=True, slots=True)
class _Credentials:
    """The worker's own credentials (``[auth]``, the environment) and its config file's
    ``[accounts.NAME]`` tables: an item naming an account is uploaded with its table's."""

    settings: Settings
    own: Auth

    def auth_for(self, db: Any, keys: Keys) -> Callable[[str | None], Auth]:
        """Each account's credentials, built once; renewing OAuth 2.0 tokens shared
        with the other workers through the queue's Redis (encrypted with the
        ``[fleet] token_key``). An account the config file does not name fails the
        item that names it, saying which table to add."""
        from bulkup.auth.credentials import secrets_of
        from bulkup.fleet.accounts import Accounts

        s = self.settings
        accounts = Accounts(
            s.auth,
            s.accounts,
            config_file=s.config_file,
            redis=db,
            token_key=s.token_key,
            keys=keys,
        )

        def auth_for(account: str | None) -> Auth:
            auth = accounts.auth_for(account)
            redact.register(secrets_of(auth))  # masked in every output
            return auth

        return auth_for


def _summary(tally: Tally) -> str:
    parts = [f"{n} {status}" for status, n in sorted(tally.by_status.items())]
    text = f"bulkup worker: {tally.done} items finished"
    if parts:
        text += ": " + ", ".join(parts)
    if tally.lost:
        text += f"; {tally.lost} taken over by other workers"
    return text


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


__all__ = ["EXIT_USAGE", "add_worker", "run_worker"]
