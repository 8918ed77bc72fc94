"""``bulkup upload`` and ``bulkup demo``: thin layers over the library."""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import math
import os
import signal
import sys
import tempfile
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
from bulkup.client.config import UploadConfig
from bulkup.client.progress import RichProgress
from bulkup.core import spec
from bulkup.core.items import ErrorInfo, Item, Result, SourceProblem
from bulkup.errors import BulkupError, ConfigError, TLSError, UploadError
from bulkup.run import exits
from bulkup.run.checkpoint import Checkpoint, RunIdentity
from bulkup.run.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED, EXIT_USAGE
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
        "--dry-run", action="store_true", help="list what would be uploaded; send nothing"
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
    p.add_argument("--report", type=Path, metavar="FILE", help="JSON Lines report (default stdout)")
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
    for flag, verb in (("--include", "only"), ("--exclude", "skip")):
        p.add_argument(
            flag,
            action="append",
            metavar="GLOB",
            help=f"{verb} matching files of directories (repeatable, e.g. '**/*.jpg')",
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


def add_demo(commands: Any) -> None:
    p = commands.add_parser(
        "demo",
        help="upload sample media to the built-in emulator",
        description=(
            "Start the emulator in this process, generate sample images, an animated GIF and "
            "short videos in a temporary folder, upload them, verify every byte on the server "
            "side, and print the report."
        ),
    )
    p.add_argument("--api", choices=spec.DIALECTS, default="v2", help="API dialect to use (v2)")
    p.add_argument("--files", type=int, default=12, metavar="N", help="number of sample files (12)")
    p.set_defaults(handler=run_demo)


def _display(output: OutputSettings) -> RichProgress | None:
    """A live progress display on stderr, when wanted and stderr is a terminal."""
    wanted = output.progress if output.progress is not None else sys.stderr.isatty()
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
    try:
        report = ReportWriter(plan.settings.report, stream=sys.stdout)
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
        return _run(args, plan, report, checkpoint)
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
    args: argparse.Namespace, plan: _Plan, report: ReportWriter, checkpoint: Checkpoint | None
) -> int:
    from bulkup.sources import iter_sources

    settings = plan.settings
    entries = iter_sources(args.sources, settings.sources)
    try:
        try:
            report.start()
            if args.dry_run:
                return _dry_run(entries, report)
            view = _display(settings.output)
            code = _run_interruptible(
                lambda: _upload(
                    settings.upload, plan.auth, entries, checkpoint, report, plan.posts, view
                )
            )
            if settings.posts is not None:
                plan.posts.write(settings.posts)
            return code
        finally:
            report.close()
    except (ReportError, OSError) as exc:  # disk full: the report, or the --posts file
        return _refused(exc)


def _refused(exc: BaseException) -> int:
    print(f"bulkup upload: {redact.text(str(exc))}", file=sys.stderr)
    return EXIT_USAGE


async def _upload(
    config: UploadConfig,
    auth: Auth | None,
    entries: Iterable[Item | SourceProblem],
    checkpoint: Checkpoint | None,
    report: ReportWriter,
    posts: PostPlan | None = None,
    view: RichProgress | None = None,
) -> int:
    from bulkup.client.uploader import Uploader

    summary = Summary()
    started = time.monotonic()
    refused: UploadError | None = None
    try:
        with view or contextlib.nullcontext():
            async with Uploader(config, auth=auth, observer=view) as up:
                async for result in up.upload_many(entries, checkpoint=checkpoint, posts=posts):
                    report.write(result)
                    summary.add(result)
                refused = up.refused  # what stopped it sending, if anything
    except BulkupError as exc:
        hint = ""
        if isinstance(exc, ReportError) and checkpoint is not None:
            hint = (
                f"; the checkpoint keeps every finished item: run again with --checkpoint "
                f"{checkpoint.path} to report them without uploading them again"
            )
        print(f"bulkup upload: {redact.text(str(exc))}{hint}", file=sys.stderr)
        return EXIT_USAGE
    print_summary(summary, time.monotonic() - started)
    if isinstance(refused, TLSError):
        print(
            "bulkup upload: stopped: the server's TLS certificate is not trusted; give its "
            "CA with --ca-bundle (or, for a test server only, --insecure)",
            file=sys.stderr,
        )
    elif refused is not None:
        fix = "Fix the credentials and run again."
        if _clock_problem(refused.info()):
            fix = "Set this machine's clock right (NTP) and run again."
        print(
            f"bulkup upload: stopped: the API refused the credentials "
            f"(HTTP {refused.http_status}); the files not yet sent are reported "
            f"skipped. {fix}",
            file=sys.stderr,
        )
    return summary.exit_code()


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


def _dry_run(entries: Iterable[Item | SourceProblem], report: ReportWriter) -> int:
    from bulkup.client.uploader import problem_result

    summary = Summary()
    for entry in entries:
        if isinstance(entry, SourceProblem):
            result = problem_result(entry)
        else:
            result = Result(
                id=entry.id,
                path=str(entry.path),
                status="skipped",
                media_type=entry.media_type,
                media_category=entry.media_category,
                size=entry.path.stat().st_size,
            )
        report.write(result)
        summary.add(result)
    print_summary(summary, 0.0)
    return EXIT_OK if summary.all_succeeded else EXIT_FAILED


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
                            print(
                                "bulkup: interrupted; saving the checkpoint (again to quit now)",
                                file=sys.stderr,
                                flush=True,
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


def run_demo(args: argparse.Namespace) -> int:
    return anyio.run(_demo, args.api, args.files)


async def _demo(api: str, count: int) -> int:
    from bulkup.auth.credentials import OAuth1Auth
    from bulkup.auth.oauth1 import Credentials
    from bulkup.client.uploader import Uploader
    from bulkup.emulator import Emulator, EmulatorConfig, Lifetimes
    from bulkup.media import samples

    started = time.monotonic()
    config = EmulatorConfig(lifetimes=Lifetimes(processing_secs=0.5, check_after_secs=0))
    with tempfile.TemporaryDirectory(prefix="bulkup-demo-") as tmp:
        files = _demo_files(samples, Path(tmp), count)
        async with Emulator(config, environ={}) as emu:
            user = emu.user
            auth = OAuth1Auth(
                Credentials(
                    consumer_key=user.consumer_key,
                    consumer_secret=user.consumer_secret,
                    token=user.access_token,
                    token_secret=user.access_token_secret,
                )
            )
            print(
                f"bulkup demo: emulator at {emu.url}; uploading {len(files)} files "
                f"({sum(f.stat().st_size for f in files) / (1 << 20):.1f} MiB) with {api}",
                file=sys.stderr,
            )
            items = [Item(id=f.name, path=f) for f in files]
            summary = Summary()
            report = ReportWriter(stream=sys.stdout)
            upload_config = UploadConfig(
                api=api,  # type: ignore[arg-type]
                endpoint=emu.url,
                chunk_size=32 * 1024,  # small chunks: every video goes in several segments
            )
            async with Uploader(upload_config, auth=auth) as up:
                async for result in up.upload_many(items):
                    report.write(result)
                    summary.add(result)
                    _verify(emu, result, Path(tmp) / result.id)
            print_summary(summary, time.monotonic() - started)
            verified = sum(1 for m in emu.all_media() if m["state"] == "succeeded")
            print(
                f"bulkup demo: {verified} media verified byte-exact by SHA-256 on the server",
                file=sys.stderr,
            )
    return EXIT_OK if summary.all_succeeded else EXIT_FAILED


def _verify(emu: Any, result: Result, path: Path) -> None:
    if not result.ok or result.media_id_string is None:
        return
    info = emu.media(result.media_id_string)
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    if info is None or info["sha256"] != expected:
        raise SystemExit(f"bulkup demo: {result.id}: server bytes differ from the file")


def _demo_files(samples: Any, folder: Path, count: int) -> list[Path]:
    makers = [
        lambda i: samples.write_image(
            folder / f"photo-{i:02d}.jpg", fmt="jpeg", width=640, height=480, seed=i
        ),
        lambda i: samples.write_image(
            folder / f"image-{i:02d}.png", fmt="png", width=320, height=240, seed=i
        ),
        lambda i: samples.write_gif(
            folder / f"anim-{i:02d}.gif", width=160, height=120, frames=8, seed=i
        ),
        lambda i: samples.write_video(
            folder / f"clip-{i:02d}.mp4", width=320, height=240, seconds=2, seed=i
        ),
        lambda i: samples.write_video(
            folder / f"long-{i:02d}.mp4", width=640, height=480, seconds=6, seed=i
        ),
    ]
    return [makers[i % len(makers)](i) for i in range(count)]
