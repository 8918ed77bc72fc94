"""Every setting of ``bulkup upload`` as an option, and how the options, the
environment (``BULKUP_*``) and the config file resolve into one :class:`Settings`."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from bulkup.cli.settings import (
    CONFIG_VAR,
    LOG_FORMATS,
    LOG_LEVELS,
    OPTIONS,
    Settings,
    resolve,
)
from bulkup.client.config import (
    DEFAULT_CONCURRENCY,
    DEFAULT_FILES_IN_FLIGHT,
    DEFAULT_SEGMENTS_PER_FILE,
)
from bulkup.core import spec


def add_config_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"TOML settings file (default: ${CONFIG_VAR}); see configs/example.toml",
    )


def add_settings_options(p: argparse.ArgumentParser) -> None:
    """Every setting of a run as an option; an option not given leaves the value to the
    environment (``BULKUP_*``), the config file, then the default."""
    add_config_option(p)
    p.add_argument("--api", choices=spec.DIALECTS, help="API dialect (v2)")
    p.add_argument("--endpoint", metavar="URL", help="base URL (default: the real API host)")
    p.add_argument("--checkpoint", type=Path, metavar="FILE", help="JSON checkpoint to resume from")
    p.add_argument(
        "--report",
        type=Path,
        metavar="FILE",
        help="JSON Lines report (default: standard output when it is not a terminal; "
        "a terminal gets one line per item)",
    )
    p.add_argument(
        "--concurrency", type=int, metavar="N", help=f"requests in flight ({DEFAULT_CONCURRENCY})"
    )
    p.add_argument(
        "--files-in-flight",
        type=int,
        metavar="N",
        help=f"files between INIT and FINALIZE ({DEFAULT_FILES_IN_FLIGHT})",
    )
    p.add_argument(
        "--segments-per-file",
        type=int,
        metavar="N",
        help=f"APPENDs in flight per file ({DEFAULT_SEGMENTS_PER_FILE})",
    )
    p.add_argument("--chunk-size", metavar="SIZE", help="chunk size, at most 5MiB (4MiB)")
    p.add_argument("--category", metavar="NAME", help="media_category for items that name none")
    p.add_argument(
        "--strategy",
        choices=("auto", "chunked", "simple"),
        help="auto (default): simple upload for small images, chunked otherwise",
    )
    add_directory_options(p)
    p.add_argument("--max-attempts", type=int, metavar="N", help="tries per request (8)")
    p.add_argument(
        "--max-wait",
        metavar="DURATION",
        help="longest wait for a rate limit to reset, e.g. 900, 15m, 1h (15m); a later "
        "reset is a cap: the rest is left for a rerun (exit 75)",
    )
    p.add_argument(
        "--budget-fraction",
        metavar="F",
        help="share of each rate limit to spend, above 0 and at most 1 (1.0); 0.5 leaves "
        "half of every window to other clients of the same account",
    )
    p.add_argument(
        "--budget",
        metavar="URL",
        help="share the rate-limit budgets with every process that names the same Redis or "
        "Valkey server: redis://HOST:PORT/DB, rediss:// for TLS; a password in the URL or in "
        "$BULKUP_BUDGET_PASSWORD (default: this process keeps its own)",
    )
    p.add_argument(
        "--stall-timeout",
        metavar="DURATION",
        help="stop the run when requests are outstanding and none is answered for this "
        "long, e.g. 600, 10m, 1h (10m); waiting for a rate limit or processing does not "
        "count; the items still running fail as 'stalled' (exit 75); 0: never",
    )
    p.add_argument(
        "--processing-timeout",
        type=seconds,
        metavar="S",
        help="give up waiting for server-side processing after S seconds (900)",
    )
    p.add_argument("--ca-bundle", metavar="FILE", help="trust this CA certificate file")
    p.add_argument(
        "--insecure", action="store_true", default=None, help="do not verify TLS (warns)"
    )
    p.add_argument(
        "--allow-plain-http",
        action="store_true",
        default=None,
        help="send credentials over plain http:// to a host other than this machine "
        "(refused otherwise: anyone on the way could read them)",
    )
    p.add_argument(
        "--no-preflight",
        dest="preflight",
        action="store_false",
        default=None,
        help="skip checking files against their category's rules before sending",
    )
    p.add_argument(
        "--posts",
        type=Path,
        metavar="FILE",
        help="write one JSON line per post group (manifest field 'post') with its media ids",
    )
    p.add_argument(
        "--shard",
        metavar="I/N",
        help="upload only the I-th of N parts of the items (I from 1 to N), e.g. 2/4, for "
        "array jobs: N runs of the same sources with 1/N … N/N upload every item once; an "
        "item's part comes from a hash of its id (a post group's, of its post name). Items "
        "of other shards are neither uploaded nor reported: each report holds its own shard",
    )
    p.add_argument(
        "--metrics-port",
        metavar="PORT",
        help="serve the run's Prometheus metrics on http://0.0.0.0:PORT/metrics: bytes "
        "acknowledged, requests by endpoint and status, retries and 429s per endpoint, items "
        "by status (needs prometheus-client: pip install 'bulkup[fleet]')",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="live progress on standard error (default: when it is a terminal)",
    )
    p.add_argument("--quiet", action="store_true", default=None, help="no progress display")
    p.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        help="events to log on standard error (warning)",
    )
    p.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        help="console lines on a terminal, JSON lines otherwise (auto)",
    )


def add_directory_options(p: argparse.ArgumentParser) -> None:
    """--include, --exclude, --hidden and --follow-symlinks: what scanned directories give."""
    p.add_argument(
        "--include",
        action="append",
        metavar="GLOB",
        help=(
            "take only the files of directories that match (repeatable), e.g. '*.jpg' (a "
            "name, at any depth; case-sensitive) or '2024/**/*.mp4' (a path inside the "
            "directory; '**' crosses folders)"
        ),
    )
    p.add_argument(
        "--exclude",
        action="append",
        metavar="GLOB",
        help=(
            "leave out the files and folders of directories that match (repeatable; wins "
            "over --include), e.g. '**/drafts/**' (every folder named drafts, not even "
            "entered) or '*.tmp'"
        ),
    )
    p.add_argument(
        "--hidden", action="store_true", default=None, help="include dot-files in directories"
    )
    p.add_argument(
        "--follow-symlinks",
        action="store_true",
        default=None,
        help="scan the folders that symlinks in directories lead to (never /proc, /sys, /dev)",
    )


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The run's settings: these options > ``BULKUP_*`` > the config file > defaults."""
    given = {option.key: getattr(args, option.key, None) for option in OPTIONS}
    return resolve(given, config_file=args.config)


def seconds(text: str) -> float:
    """An argparse type: a finite number of seconds, at least 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"not a number of seconds >= 0: {text!r}")
    return value
