"""``bulkup upload`` and ``bulkup demo``: thin layers over the library."""

from __future__ import annotations

import argparse
import collections
import contextlib
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from bulkup import logs, redact
from bulkup.auth.config import build_auth
from bulkup.auth.credentials import Auth, secrets_of
from bulkup.auth.oauth2 import OAuth2Auth
from bulkup.auth.tokenstore import FileTokenStore
from bulkup.cli import signals
from bulkup.cli.guards import check_plain_http
from bulkup.cli.outputs import check_paths, checked, is_manifest, outputs_of
from bulkup.cli.settings import (
    CONFIG_VAR,
    LOG_FORMATS,
    LOG_LEVELS,
    OPTIONS,
    OutputSettings,
    Settings,
    resolve,
)
from bulkup.cli.terminal import (
    ItemLines,
    Pending,
    StdoutMode,
    colour_allowed,
    live_allowed,
    resuming_text,
)
from bulkup.client.config import UploadConfig
from bulkup.client.progress import ByteTally, Observers, RichProgress
from bulkup.core import spec
from bulkup.core.items import (
    ErrorInfo,
    Item,
    SourceProblem,
    iso_utc,
    utc_from_timestamp,
)
from bulkup.core.units import plural
from bulkup.errors import BulkupError, ConfigError, TLSError, UploadError
from bulkup.run import exits
from bulkup.run.checkpoint import Checkpoint, RunIdentity
from bulkup.run.exits import EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_USAGE
from bulkup.run.posts import PostPlan, plan_posts
from bulkup.run.report import ReportError, ReportWriter, Summary, print_summary


def add_upload(commands: Any) -> None:
    p = commands.add_parser(
        "upload",
        help="upload files, directories or manifests",
        description=(
            "Upload every file named by SOURCES (files, directories scanned recursively, or "
            "manifests: .jsonl, .json array, .csv) concurrently with chunked uploads. Results "
            "stream as JSON Lines to --report (default: standard output); a summary goes to "
            "standard error. With --checkpoint, an interrupted run resumes where it stopped. "
            "Credentials: X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET "
            "(OAuth 1.0a) or X_BEARER_TOKEN (OAuth 2.0; renewed when X_REFRESH_TOKEN, or "
            "X_TOKEN_FILE from `bulkup auth login`, is set with X_CLIENT_ID; X_TOKEN_URL only "
            "for a server other than X's), "
            "else the config file's [auth] table. "
            "Every option can also be set in the config file (--config or $BULKUP_CONFIG) or "
            "as BULKUP_<OPTION> in the environment; the command line wins, then the "
            "environment, then the file."
        ),
        epilog=exits.TABLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="file, directory or manifest")
    add_settings_options(p)
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="plan the run without sending anything or reading credentials: each item "
        "checked as the run checks it (preflight, request fields), with its category, "
        "strategy, size, requests by endpoint and billed requests, and the time the "
        "published rate limits imply; items that would fail are shown with the reason "
        "(exit 1)",
    )
    p.add_argument(
        "--json", action="store_true", help="JSON Lines on standard output, also on a terminal"
    )
    p.set_defaults(handler=run_upload)


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
    p.add_argument("--concurrency", type=int, metavar="N", help="requests in flight (8)")
    p.add_argument(
        "--files-in-flight", type=int, metavar="N", help="files between INIT and FINALIZE (4)"
    )
    p.add_argument(
        "--segments-per-file", type=int, metavar="N", help="APPENDs in flight per file (4)"
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
        "--stall-timeout",
        metavar="DURATION",
        help="stop the run when requests are outstanding and none is answered for this "
        "long, e.g. 600, 10m, 1h (10m); waiting for a rate limit or processing does not "
        "count; the items still running fail as 'stalled' (exit 75); 0: never",
    )
    p.add_argument(
        "--processing-timeout",
        type=_seconds,
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


def _display(output: OutputSettings) -> RichProgress | None:
    """A live progress display on stderr, when wanted and stderr is a terminal."""
    wanted = output.progress if output.progress is not None else live_allowed(sys.stderr)
    if output.quiet or not wanted:
        return None
    return RichProgress(sys.stderr)


def run_upload(args: argparse.Namespace) -> int:
    """``bulkup upload``. Every refusal comes before any output changes: the settings
    and credentials, plain http, the output paths (against each other and the sources),
    the post groups (a first reading of the sources), the report's lock, then the
    checkpoint (its lock, endpoint and account). Only then is the report emptied."""
    try:
        plan = _prepare(args)
    except (ConfigError, OSError, ValueError) as exc:
        return _refused(exc)
    mode = StdoutMode.choose(
        json_wanted=args.json, report_file=plan.settings.report is not None, stream=sys.stdout
    )
    try:
        tee = mode.json and not args.dry_run  # a dry run writes its own lines
        report = ReportWriter(plan.settings.report, stream=sys.stdout if tee else None)
    except ReportError as exc:
        return _refused(exc)
    try:
        checkpoint = _open_checkpoint(plan)
    except BaseException as exc:
        report.discard()  # its old lines stay as they were
        if isinstance(exc, BulkupError | OSError):
            return _refused(exc)
        raise
    try:
        return _run(args, plan, report, checkpoint, mode)
    finally:
        if checkpoint is not None:
            checkpoint.close()  # a no-op when the run closed it


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a run was checked to be allowed to do, before any output was opened."""

    settings: Settings
    auth: Auth | None
    posts: PostPlan


def _prepare(args: argparse.Namespace) -> _Plan:
    from bulkup.sources import iter_sources

    settings = settings_from_args(args)
    config, out = settings.upload, settings.output
    if not config.verify_tls:
        print("bulkup: WARNING: --insecure: TLS certificates are NOT verified", file=sys.stderr)
    auth = None if args.dry_run else build_auth(settings.auth)
    logs.configure(level=out.log_level, fmt=out.log_format, secrets=secrets_of(auth))
    if auth is not None and not settings.allow_plain_http:
        check_plain_http(config.base_url, auth)
    written = outputs_of(
        report=settings.report,
        posts=settings.posts,
        checkpoint=None if args.dry_run else settings.checkpoint,
    )
    check_paths(written, args.sources, settings.sources, inputs=_inputs(settings, auth))
    if settings.posts is not None:
        _check_writable(settings.posts)  # before uploading, not after
    first = iter_sources(args.sources, settings.sources, warn=False)  # warned once, by the run
    entries = checked(written, first)
    # A first reading plans the post groups, so no item of a bad post is uploaded (only
    # manifests name posts), and finds any output file that is also a file to upload.
    if not args.dry_run and any(is_manifest(source) for source in args.sources):
        return _Plan(settings, auth, plan_posts(entries, default_category=config.category))
    if any(output.inode is not None for output in written):
        collections.deque(entries, maxlen=0)
    return _Plan(settings, auth, PostPlan())


def _inputs(settings: Settings, auth: Auth | None) -> list[tuple[str, Path]]:
    """Files a run reads besides its sources: the config file, the token file."""
    found = []
    if settings.config_file is not None:
        found.append(("config file", settings.config_file))
    store = auth.store if isinstance(auth, OAuth2Auth) else None
    if isinstance(store, FileTokenStore):
        found.append(("token file", store.path))
    return found


def _open_checkpoint(plan: _Plan) -> Checkpoint | None:
    """The run's checkpoint, locked and checked for this endpoint, dialect and account."""
    path, auth, config = plan.settings.checkpoint, plan.auth, plan.settings.upload
    if path is None or auth is None:  # a dry run reads no checkpoint
        return None
    identity = RunIdentity(endpoint=config.base_url, dialect=config.api, account=auth.account)
    return Checkpoint.open(path, identity)


def _run(
    args: argparse.Namespace,
    plan: _Plan,
    report: ReportWriter,
    checkpoint: Checkpoint | None,
    mode: StdoutMode,
) -> int:
    from bulkup.sources import iter_sources

    settings = plan.settings
    entries = iter_sources(args.sources, settings.sources)
    try:
        try:
            report.start()
            if args.dry_run:
                return _dry_run(entries, settings, report, args.json)
            again = lambda: iter_sources(args.sources, settings.sources, warn=False)  # noqa: E731
            # JSON on the terminal the bars would be drawn on: no bars, the lines stay whole
            view = None if mode.json and sys.stdout.isatty() else _display(settings.output)
            shown = _Shown(view, mode, again)
            if checkpoint is not None:
                _say_resuming(checkpoint)
            code = _run_interruptible(
                lambda: _upload(
                    settings.upload, plan.auth, entries, checkpoint, report, plan.posts, shown
                )
            )
            if settings.posts is not None:
                plan.posts.write(settings.posts)
            return code
        finally:
            report.close()
    except (ReportError, OSError) as exc:  # disk full: the report, or the --posts file
        return _refused(exc)


class _Shown:
    """What the run shows people: the live display, the item lines, this run's bytes."""

    def __init__(
        self,
        view: RichProgress | None,
        mode: StdoutMode,
        recount: Callable[[], Iterable[object]] | None = None,
    ) -> None:
        self.view = view
        self.tally = ByteTally()
        lines = ItemLines(colour=colour_allowed(sys.stdout)) if mode.human else None
        self.observer = Observers(view, self.tally, lines)
        self._recount = recount
        self._counting: threading.Thread | None = None

    def count(self) -> None:
        """Count the sources' items again in a thread, for the display's "done N/TOTAL"
        (a daemon: an interrupted run does not wait for it)."""
        view, recount = self.view, self._recount
        if view is None or recount is None:
            return

        def count() -> None:
            view.set_total(sum(1 for _ in recount()))

        self._counting = threading.Thread(target=count, name="bulkup-count", daemon=True)
        self._counting.start()

    def settle(self) -> None:
        """At the end of a run the count is there (it was, but for the smallest runs)."""
        if self._counting is not None:
            self._counting.join()


def _say_resuming(checkpoint: Checkpoint) -> None:
    text = resuming_text(checkpoint.path, Pending.of(checkpoint))
    if text is not None:
        logs.say("info", "run_resuming", f"bulkup: {text}", checkpoint=str(checkpoint.path))


def _refused(exc: BaseException) -> int:
    message = f"bulkup upload: {redact.text(str(exc))}"
    if logs.json_mode():
        logs.say("error", "run_refused", message)
    else:  # logging may not be configured yet: a plain line whatever happens
        print(message, file=sys.stderr)
    return EXIT_USAGE


async def _upload(
    config: UploadConfig,
    auth: Auth | None,
    entries: Iterable[Item | SourceProblem],
    checkpoint: Checkpoint | None,
    report: ReportWriter,
    posts: PostPlan | None = None,
    shown: _Shown | None = None,
) -> int:
    from bulkup.client.uploader import Uploader

    shown = shown or _Shown(None, StdoutMode(json=False, human=False))
    summary = Summary(checkpoint=checkpoint is not None)
    started = time.monotonic()
    try:
        with shown.view or contextlib.nullcontext():
            shown.count()
            async with Uploader(config, auth=auth, observer=shown.observer) as up:
                async for result in up.upload_many(entries, checkpoint=checkpoint, posts=posts):
                    report.write(result)
                    summary.add(result)
                refused = up.refused  # what stopped it sending, if anything
            shown.settle()
    except anyio.get_cancelled_exc_class():
        summary.bytes_uploaded = shown.tally.sent
        _say_interrupted(summary, time.monotonic() - started, checkpoint, shown.tally)
        raise
    except BulkupError as exc:
        return _failed_run(exc, checkpoint)
    summary.bytes_uploaded = shown.tally.sent
    print_summary(summary, time.monotonic() - started)
    _say_refused(refused)
    return summary.exit_code()


def _say_interrupted(
    summary: Summary, elapsed: float, checkpoint: Checkpoint | None, tally: ByteTally
) -> None:
    """The summary of what finished, and how a rerun goes on."""
    print_summary(summary, elapsed)
    if checkpoint is not None:
        pending = Pending.of(checkpoint)
        logs.say(
            "warning",
            "run_interrupted",
            f"bulkup: interrupted. Rerun the same command to resume (checkpoint "
            f"{checkpoint.path}):\n  {pending.uploads_text()}",
            checkpoint=str(checkpoint.path),
            uploads_in_progress=pending.uploads,
            bytes_acknowledged=pending.acked_bytes,
            nearest_expiry=iso_utc(utc_from_timestamp(pending.nearest_deadline))
            if pending.nearest_deadline is not None
            else None,
        )
        return
    unfinished = plural(tally.in_flight, "upload")
    logs.say(
        "warning",
        "run_interrupted",
        f"bulkup: interrupted; {unfinished} in progress were abandoned: with --checkpoint "
        "FILE a rerun resumes where a run stopped, instead of starting over",
        uploads_in_progress=tally.in_flight,
    )


def _failed_run(exc: BulkupError, checkpoint: Checkpoint | None) -> int:
    hint = ""
    if isinstance(exc, ReportError) and checkpoint is not None:
        hint = (
            f"; the checkpoint keeps every finished item: run again with --checkpoint "
            f"{checkpoint.path} to report them without uploading them again"
        )
    logs.say("error", "run_failed", f"bulkup upload: {redact.text(str(exc))}{hint}")
    return EXIT_USAGE


def _say_refused(refused: UploadError | None) -> None:
    """The credentials refused: what to fix (a certificate or a server not reached is
    named by the summary, with its fix, in the items' own message)."""
    if refused is None or isinstance(refused, TLSError):
        return
    fix = "Fix the credentials and run again."
    if _clock_problem(refused.info()):
        fix = "Set this machine's clock right (NTP) and run again."
    logs.say(
        "error",
        "run_stopped",
        f"bulkup upload: stopped: the API refused the credentials "
        f"(HTTP {refused.http_status}); the files not yet sent are reported "
        f"skipped. {fix}",
        http_status=refused.http_status,
    )


def _clock_problem(error: ErrorInfo) -> bool:
    """The refusal was for the request's timestamp (code 135), not for the credentials."""
    return error.api_code == 135 or "timestamp" in error.message.lower()


def _check_writable(path: Path) -> None:
    """Raise ConfigError unless ``path`` can be created or replaced."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write {path}: give a file in an existing, writable folder")


def _seconds(text: str) -> float:
    """An argparse type: a finite number of seconds, at least 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"not a number of seconds >= 0: {text!r}")
    return value


def _dry_run(
    entries: Iterable[Item | SourceProblem], settings: Settings, report: ReportWriter, as_json: bool
) -> int:
    from bulkup.cli.dryrun import run_dry

    return run_dry(entries, settings, report, as_json=as_json)


def _run_interruptible(main: Callable[[], Any]) -> int:
    """Run ``main`` under anyio; Ctrl-C (exit 130) or SIGTERM (143) cancel it, and a
    second signal exits at once. Before the loop takes the signals and after it gives
    them up, they raise as everywhere else in the command (:mod:`bulkup.cli.signals`)."""
    interrupted = 0  # the exit status of the first signal

    async def runner() -> int:
        nonlocal interrupted
        async with anyio.create_task_group() as tg:
            result: list[int] = []

            async def watch() -> None:
                nonlocal interrupted
                try:
                    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
                        async for signum in received:
                            if interrupted:
                                os._exit(interrupted)
                            interrupted = (
                                EXIT_TERMINATED if signum == signal.SIGTERM else EXIT_INTERRUPTED
                            )
                            logs.say(
                                "warning",
                                "run_interrupting",
                                "bulkup: interrupted: stopping and saving the checkpoint "
                                "(press Ctrl-C again to quit at once)",
                                signal=signal.Signals(signum).name,
                            )
                            tg.cancel_scope.cancel()
                finally:
                    if interrupted:  # the receiver is gone but the cleanup goes on
                        signal.signal(signal.SIGINT, signals.exit_at_once)
                        signal.signal(signal.SIGTERM, signals.exit_at_once)
                    else:  # the loop gave SIGTERM back to the default (a silent kill)
                        signals.install()

            async def work() -> None:
                result.append(await main())
                tg.cancel_scope.cancel()

            tg.start_soon(watch)
            tg.start_soon(work)
        return result[0] if result else interrupted or EXIT_INTERRUPTED

    try:
        code = anyio.run(runner)
    except KeyboardInterrupt as exc:  # before the receiver was installed, or after
        return interrupted or signals.exit_code(exc)
    return interrupted or code
