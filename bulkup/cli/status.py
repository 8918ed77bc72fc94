"""``bulkup status CHECKPOINT``: what a run's checkpoint holds, as the run reported it.

On a terminal: counts of items by outcome (those of the run's summary: failed items
included), bytes in binary units, the nearest upload deadline as a time and how long
until it, and the failures grouped by reason. ``--json`` prints
:func:`~bulkup.run.checkpoint_status.summarize` as it is: exact integers, ISO 8601 times,
the keys of :data:`~bulkup.run.checkpoint_status.SUMMARY_KEYS` (listed by ``--help``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

from bulkup import redact
from bulkup.core.units import binary_units as human_bytes
from bulkup.core.units import human_duration, plural
from bulkup.run.exits import EXIT_OK, EXIT_USAGE

__all__ = ["add_status", "human_bytes", "render", "run_status", "time_until"]

#: Kinds of failure listed; the rest are counted in one line.
TOP_REASONS = 5
#: A failure's example message is cut at this many characters.
EXAMPLE_CHARS = 120


def add_status(commands: Any) -> None:
    from bulkup.run.checkpoint_status import SUMMARY_KEYS

    keys = "\n".join(f"  {key:<24} {meaning}" for key, meaning in SUMMARY_KEYS.items())
    p = commands.add_parser(
        "status",
        help="summarise a checkpoint",
        description=(
            "Print what a checkpoint holds: its items counted as the run reported them "
            "(succeeded, failed, skipped, in progress), bytes acknowledged, the nearest "
            "upload deadline and the failures by reason. Reads the checkpoint without "
            "taking its lock: a run may be using it."
        ),
        epilog=f"keys of --json (numbers exact, times ISO 8601 UTC):\n{keys}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "checkpoint",
        type=Path,
        nargs="?",
        metavar="CHECKPOINT",
        help="the --checkpoint file of a run (or --queue URL --job NAME: a job on a queue)",
    )
    p.add_argument("--queue", metavar="URL", help="a job's queue (Redis URL; $BULKUP_QUEUE)")
    p.add_argument("--job", metavar="NAME", help="with --queue: the job to show")
    p.add_argument("--json", action="store_true", help="print one JSON object (keys below)")
    p.set_defaults(handler=run_status)


def run_status(args: argparse.Namespace) -> int:
    from bulkup.run.checkpoint import CheckpointError, summarize

    if args.checkpoint is None:
        from bulkup.cli.report import run_queue_status

        return run_queue_status(args)
    now = time.time()
    try:
        summary = redact.value(summarize(args.checkpoint, now=now))  # a URL's password too
    except (CheckpointError, OSError) as exc:
        print(f"bulkup status: {redact.text(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print("\n".join(render(summary, now)))
    return EXIT_OK


def render(summary: dict[str, Any], now: float) -> list[str]:
    """The lines ``bulkup status`` prints for ``summary`` (of :func:`summarize`)."""
    progress = summary["in_progress"]
    detail = (
        f" ({summary['uploading']} uploading, {summary['processing']} processing, "
        f"{summary['not_started']} not started)"
        if progress
        else ""
    )
    acked, total = summary["bytes_acknowledged"], summary["bytes_total"]
    return [
        f"checkpoint: {summary['path']}",
        f"endpoint: {summary['endpoint']} (API {summary['dialect']})",
        f"items: {summary['items']}",
        f"succeeded: {summary['succeeded']}",
        f"failed: {summary['failed']}",
        f"skipped: {summary['skipped']}",
        f"in progress: {progress}{detail}",
        f"bytes acknowledged: {human_bytes(acked)} of {human_bytes(total)}",
        f"nearest upload deadline: {_deadline(summary, now)}",
        *_failures(summary["failures"]),
    ]


def _deadline(summary: dict[str, Any], now: float) -> str:
    nearest = summary["nearest_upload_deadline"]
    if nearest is None:
        return "none: no upload in progress"
    moment = dt.datetime.fromisoformat(nearest.replace("Z", "+00:00")).astimezone()
    opened = summary["uploads_open"]
    others = f"; {opened} uploads open" if opened > 1 else ""
    shown = moment.strftime("%Y-%m-%d %H:%M:%S %Z")
    return f"{shown} ({time_until(moment.timestamp() - now)}{others})"


def _failures(groups: list[dict[str, Any]]) -> list[str]:
    if not groups:
        return []
    lines = ["failures by reason:"]
    for group in groups[:TOP_REASONS]:
        item, example = group["example"]["id"], group["example"]["message"]
        if item not in example:
            example = f"{item}: {example}"
        if len(example) > EXAMPLE_CHARS:
            example = example[: EXAMPLE_CHARS - 1] + "…"
        lines.append(f"  {group['kind']}: {plural(group['count'], 'item')}, e.g. {example}")
    hidden = groups[TOP_REASONS:]
    if hidden:
        count = sum(group["count"] for group in hidden)
        lines.append(
            f"  … and {len(hidden)} more reasons ({plural(count, 'item')}): see the report"
        )
    return lines


def time_until(seconds: float) -> str:
    """``in 45 s``, ``in 23 min``, ``in 2 h 5 min``, ``in 3 d 4 h`` (rounded down)."""
    return f"in {human_duration(seconds)}"
