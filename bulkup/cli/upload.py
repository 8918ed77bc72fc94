"""``bulkup upload`` and ``bulkup demo``: thin layers over the library."""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import os
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bulkup import logs, redact
from bulkup.auth.credentials import Auth, secrets_of
from bulkup.auth.oauth2 import OAuth2Auth
from bulkup.auth.tokenstore import FileTokenStore
from bulkup.cli.config import add_account_option
from bulkup.cli.guards import check_plain_http
from bulkup.cli.options import add_settings_options, settings_from_args
from bulkup.cli.outputs import check_paths, checked, is_manifest, outputs_of
from bulkup.cli.running import Shown, run_interruptible, say_resuming, upload_all
from bulkup.cli.settings import (
    OutputSettings,
    Settings,
)
from bulkup.cli.terminal import (
    StdoutMode,
    live_allowed,
)
from bulkup.client.progress import RichProgress
from bulkup.core.items import (
    Item,
    SourceProblem,
)
from bulkup.errors import BulkupError, ConfigError
from bulkup.fleet.accounts import Accounts, for_one_account
from bulkup.run import exits
from bulkup.run.checkpoint import Checkpoint, RunIdentity
from bulkup.run.exits import EXIT_USAGE
from bulkup.run.posts import PostPlan, plan_posts
from bulkup.run.report import ReportError, ReportWriter
from bulkup.sources import SourceOptions
from bulkup.sources.shard import ShardTally


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
    add_account_option(p)
    p.set_defaults(handler=run_upload)


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
    settings = settings_from_args(args)
    config, out = settings.upload, settings.output
    if not config.verify_tls:
        print("bulkup: WARNING: --insecure: TLS certificates are NOT verified", file=sys.stderr)
    auth = _credentials(args, settings)
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
    if settings.metrics_port is not None and not args.dry_run:
        _check_metrics()
    first = _entries(args, settings, warn=False)  # warned once, by the run
    entries = checked(written, first)
    # A first reading plans the post groups, so no item of a bad post is uploaded (only
    # manifests name posts), and finds any output file that is also a file to upload.
    if not args.dry_run and any(is_manifest(source) for source in args.sources):
        return _Plan(settings, auth, plan_posts(entries, default_category=config.category))
    if any(output.inode is not None for output in written):
        collections.deque(entries, maxlen=0)
    return _Plan(settings, auth, PostPlan())


def _credentials(args: argparse.Namespace, settings: Settings) -> Auth | None:
    """The run's credentials: ``--account NAME``'s, else its own; none for a dry run
    (which still refuses an account the config file does not name)."""
    accounts = Accounts(settings.auth, settings.accounts, config_file=settings.config_file)
    if args.dry_run:
        if args.account is not None and args.account not in accounts.names:
            accounts.auth_for(args.account)  # raises UnknownAccount, naming the fix
        return None
    return accounts.auth_for(args.account)


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
    settings = plan.settings
    tally = ShardTally()
    entries = _entries(args, settings, tally=tally)
    try:
        try:
            report.start()
            if args.dry_run:
                return _said_shard(settings, tally, _dry_run(entries, settings, report, args.json))
            counting = dataclasses.replace(settings.sources, sniff=False)  # entries, not bytes
            again = lambda: _entries(args, settings, counting, warn=False)  # noqa: E731
            # JSON on the terminal the bars would be drawn on: no bars, the lines stay whole
            view = None if mode.json and sys.stdout.isatty() else _display(settings.output)
            shown = Shown(view, mode, again)
            if checkpoint is not None:
                say_resuming(checkpoint)
            work = lambda: upload_all(  # noqa: E731
                settings.upload, plan.auth, entries, checkpoint, report, plan.posts, shown
            )
            code = run_interruptible(_with_metrics(settings.metrics_port, shown, work))
            if settings.posts is not None:
                plan.posts.write(settings.posts)
            return _said_shard(settings, tally, code)
        finally:
            report.close()
    except (ReportError, OSError) as exc:  # disk full: the report, or the --posts file
        return _refused(exc)


def _with_metrics(port: int | None, shown: Shown, work: Callable[[], Awaitable[int]]) -> Any:
    """``work``, with the run's metrics served on ``port`` meanwhile (if given)."""
    if port is None:
        return work
    from bulkup.client.progress import Observers
    from bulkup.fleet.metrics import WorkerMetrics, serve_metrics

    metrics = WorkerMetrics()
    shown.observer = Observers(shown.observer, metrics)

    async def served() -> int:
        async with contextlib.AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(serve_metrics(metrics.registry, port))
            except OSError as exc:  # the port is taken: nothing was sent
                return _refused(exc)
            return await work()

    return served


def _entries(
    args: argparse.Namespace,
    settings: Settings,
    options: SourceOptions | None = None,
    *,
    warn: bool = True,
    tally: ShardTally | None = None,
) -> Iterator[Item | SourceProblem]:
    """The entries of the sources, only those of ``--shard``'s part when it is given."""
    from bulkup.sources import iter_sources

    entries = for_one_account(
        iter_sources(args.sources, options or settings.sources, warn=warn), args.account
    )
    return entries if settings.shard is None else settings.shard.take(entries, tally)


def _said_shard(settings: Settings, tally: ShardTally, code: int) -> int:
    """After the summary: which shard this was, and how many of the items it took."""
    if settings.shard is not None and tally.complete:
        text = settings.shard.summary(tally)
        fields = {"shard": str(settings.shard), "items": tally.kept, "of": tally.seen}
        logs.say("info", "shard_done", f"bulkup: {text}", **fields)
    return code


def _refused(exc: BaseException) -> int:
    message = f"bulkup upload: {redact.text(str(exc))}"
    if logs.json_mode():
        logs.say("error", "run_refused", message)
    else:  # logging may not be configured yet: a plain line whatever happens
        print(message, file=sys.stderr)
    return EXIT_USAGE


def _check_metrics() -> None:
    """ConfigError unless ``--metrics-port`` can be served: prometheus-client is there."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        raise ConfigError(
            "--metrics-port needs prometheus-client: pip install 'bulkup[fleet]'"
        ) from None


def _check_writable(path: Path) -> None:
    """Raise ConfigError unless ``path`` can be created or replaced."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write {path}: give a file in an existing, writable folder")


def _dry_run(
    entries: Iterable[Item | SourceProblem], settings: Settings, report: ReportWriter, as_json: bool
) -> int:
    from bulkup.cli.dryrun import run_dry

    return run_dry(entries, settings, report, as_json=as_json)
