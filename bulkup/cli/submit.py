"""``bulkup submit SOURCES --queue URL --job NAME``: validate the sources as ``bulkup
upload`` reads them and enqueue their items in a job, for ``bulkup worker`` to upload."""

from __future__ import annotations

import argparse
import json
from typing import Any

import anyio

from bulkup.cli.fleetcommon import add_queue_option, refused, with_queue
from bulkup.cli.options import add_config_option, add_directory_options, settings_from_args
from bulkup.client.config import parse_duration
from bulkup.errors import BulkupError, ConfigError
from bulkup.run.exits import EXIT_OK


def add_submit(commands: Any) -> None:
    p = commands.add_parser(
        "submit",
        help="enqueue files, directories or manifests in a job on Redis, for workers",
        description=(
            "Read SOURCES as `bulkup upload` does (manifests, directories; the same checks) "
            "and enqueue every item in the job NAME on the queue's Redis server, with its "
            "path made absolute and its file's identity and host. Resubmitting the same id "
            "for the same file changes nothing; the same id for another file replaces the "
            "item while it is pending and is a conflict once it started or finished. Bad "
            "entries are recorded as failed (or skipped) results, so the job's report covers "
            "every entry. `bulkup worker` uploads the items; `bulkup status --queue` and "
            "`bulkup report --queue` read the job."
        ),
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="file, directory or manifest")
    add_queue_option(p, job=True)
    p.add_argument(
        "--keep",
        metavar="DURATION",
        default="7d",
        help="how long a finished job is kept before it expires, e.g. 3600, 12h, 7d (7d)",
    )
    add_config_option(p)
    p.add_argument("--category", metavar="NAME", help="media_category for items that name none")
    add_directory_options(p)
    p.add_argument("--json", action="store_true", help="print what was done as one JSON object")
    p.set_defaults(handler=run_submit)


def run_submit(args: argparse.Namespace) -> int:
    from bulkup.fleet.submit import submit
    from bulkup.sources import iter_sources

    try:
        keep = _keep(args.keep)
        settings = settings_from_args(args)
        entries = iter_sources(args.sources, settings.sources)
        done = anyio.run(with_queue, args.queue, lambda q: submit(q, args.job, entries, keep=keep))
    except (BulkupError, OSError, ValueError) as exc:
        return refused("submit", exc)
    print(json.dumps(done.as_json()) if args.json else done.text())
    return EXIT_OK


def _keep(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ConfigError as exc:
        raise ConfigError(f"--keep {text!r}: {exc}") from None
    if seconds <= 0:
        raise ConfigError(f"--keep {text!r}: give a duration above 0, e.g. 7d")
    return seconds
