"""``bulkup report --queue URL --job NAME`` (the job's JSON Lines report: one line per
finished item, the fields of ``--report``) and ``bulkup status --queue URL --job NAME``
(counts by state, bytes, workers alive, failures by reason)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import anyio

from bulkup.cli.fleetcommon import add_queue_option, refused, with_queue
from bulkup.core.units import binary_units, plural
from bulkup.errors import BulkupError
from bulkup.run.exits import EXIT_OK, EXIT_USAGE

__all__ = ["add_report", "render_job", "run_queue_status", "run_report"]


def add_report(commands: Any) -> None:
    p = commands.add_parser(
        "report",
        help="a job's JSON Lines report, from the queue",
        description=(
            "Print the report of a job on the queue: one JSON line per finished item, with "
            "the fields of `bulkup upload --report`, in the order the items finished."
        ),
    )
    add_queue_option(p, job=True)
    p.add_argument("-o", "--output", type=Path, metavar="FILE", help="write it to FILE")
    p.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    from bulkup.fleet.jobs import result_lines

    async def read(queue: Any) -> list[str] | None:
        if not await queue.db.exists(queue.keys.job(args.job)):
            return None
        return [line async for line in result_lines(queue.db, queue.keys, args.job)]

    try:
        lines = anyio.run(with_queue, args.queue, read)
        if lines is None:
            return _no_job("report", args.job)
        text = "".join(line + "\n" for line in lines)
        if args.output is not None:
            args.output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    except (BulkupError, OSError) as exc:
        return refused("report", exc)
    return EXIT_OK


def run_queue_status(args: argparse.Namespace) -> int:
    """``bulkup status --queue URL --job NAME``."""
    from bulkup.fleet.jobs import job_status

    if not args.job:
        what = "--queue needs --job NAME: the job to show"
        if not args.queue:
            what = "give a CHECKPOINT file, or --queue URL --job NAME for a job on a queue"
        return refused("status", ValueError(what))
    try:
        status = anyio.run(with_queue, args.queue, lambda q: job_status(q.db, q.keys, args.job))
    except (BulkupError, OSError) as exc:
        return refused("status", exc)
    if status is None:
        return _no_job("status", args.job)
    print(json.dumps(status, indent=2) if args.json else "\n".join(render_job(status)))
    return EXIT_OK


def render_job(status: dict[str, Any]) -> list[str]:
    from bulkup.cli.status import _failures

    in_flight = sum(len(w["items"]) for w in status["workers"])
    workers = [
        f"  {w['id']}: {plural(len(w['items']), 'item')} of this job" for w in status["workers"]
    ]
    return [
        f"job: {status['job']} ({status['state']})",
        f"items: {status['items']}",
        f"pending: {status['pending']}",
        f"running: {status['running']}",
        f"succeeded: {status['succeeded']}",
        f"failed: {status['failed']}",
        f"skipped: {status['skipped']}",
        f"bytes: {binary_units(status['bytes_succeeded'])} uploaded, "
        f"{binary_units(status['bytes_in_flight'])} acknowledged of items in progress",
        f"workers alive: {len(status['workers'])} ({plural(in_flight, 'item')} in hand)",
        *workers,
        *_failures(status["failures"]),
    ]


def _no_job(command: str, job: str) -> int:
    print(
        f"bulkup {command}: no job {job!r} on this queue (never submitted, or expired "
        "after --keep): check the name with the one given to `bulkup submit --job`",
        file=sys.stderr,
    )
    return EXIT_USAGE
