"""A run of ``bulkup upload`` as people watch it: the live display, one line per
item, this run's bytes, what a resumed run resumes, what an interrupt leaves and how
a rerun goes on, and the signals that interrupt it (Ctrl-C 130, SIGTERM 143; a second
one exits at once)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import anyio

from bulkup import logs, redact
from bulkup.auth.credentials import Auth
from bulkup.cli import signals
from bulkup.cli.terminal import (
    ItemLines,
    Pending,
    StdoutMode,
    colour_allowed,
    resuming_text,
)
from bulkup.client.binding import WaitTally
from bulkup.client.config import UploadConfig
from bulkup.client.progress import ByteTally, Observers, RichProgress, restore_terminal
from bulkup.core.items import (
    ErrorInfo,
    Item,
    SourceProblem,
    iso_utc,
    utc_from_timestamp,
)
from bulkup.core.units import plural
from bulkup.errors import BulkupError, TLSError, UploadError
from bulkup.run.checkpoint import Checkpoint
from bulkup.run.exits import EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_USAGE
from bulkup.run.posts import PostPlan
from bulkup.run.report import ReportError, ReportWriter, Summary, print_summary

if TYPE_CHECKING:
    from bulkup.client.uploader import Uploader


class Shown:
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
        if lines is not None and sys.stderr.isatty():
            logs.shown_elsewhere("item_failed")  # its line on the terminal says it
        #: How long the run waited for rate limits to reset, for the summary.
        self.waits = WaitTally()
        self.observer = Observers(view, self.tally, lines, self.waits)
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

    def budgets(self, uploader: Uploader) -> contextlib.AbstractContextManager[None]:
        """While in it, the live display names the budget that binds and when it resets."""
        if self.view is None:
            return contextlib.nullcontext()
        return self.view.show_budgets(uploader.runtime.transport.pacer)

    def settle(self) -> None:
        """At the end of a run the count is there (it was, but for the smallest runs)."""
        if self._counting is not None:
            self._counting.join()


def say_resuming(checkpoint: Checkpoint) -> None:
    text = resuming_text(checkpoint.path, Pending.of(checkpoint))
    if text is not None:
        logs.say("info", "run_resuming", f"bulkup: {text}", checkpoint=str(checkpoint.path))


async def upload_all(
    config: UploadConfig,
    auth: Auth | None,
    entries: Iterable[Item | SourceProblem],
    checkpoint: Checkpoint | None,
    report: ReportWriter,
    posts: PostPlan | None = None,
    shown: Shown | None = None,
) -> int:
    from bulkup.client.uploader import Uploader

    shown = shown or Shown(None, StdoutMode(json=False, human=False))
    summary = Summary(checkpoint=checkpoint is not None)
    started = time.monotonic()
    try:
        with shown.view or contextlib.nullcontext():
            shown.count()
            async with Uploader(config, auth=auth, observer=shown.observer) as up:
                with shown.budgets(up):
                    async for result in up.upload_many(
                        entries, checkpoint=checkpoint, posts=posts, unique_ids=True
                    ):
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
    _say_waits(shown.waits)
    _say_refused(refused)
    return summary.exit_code()


def _say_waits(waits: WaitTally) -> None:
    """How long the run waited for rate limits to reset, and for which budget most."""
    waits.settle()
    text = waits.summary()
    if text is not None:
        logs.say(
            "info",
            "rate_limit_waits",
            f"bulkup: {text}",
            waited_s=round(waits.waited, 1),
            by_endpoint={e: round(s, 1) for e, s in waits.by_endpoint.items()},
        )


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


def run_interruptible(main: Callable[[], Any]) -> int:
    """Run ``main`` under anyio; Ctrl-C (exit 130) or SIGTERM (143) cancel it, and a
    second signal exits at once. Before the loop takes the signals and after it gives
    them up, they raise as everywhere else in the command (:mod:`bulkup.cli.signals`)."""
    interrupted = 0  # the exit status of the first signal

    async def runner() -> int:
        try:
            return await tasks()
        except BaseExceptionGroup as group:
            # A second signal in the moment between the receiver's end and the handler
            # of its finally (the loop had put the default back) raised in a task: the
            # loop stopped at once; this runs as it shuts down, and says nothing more
            # (left in the task, the group was printed as "never retrieved").
            first = _interrupt_of(group)
            if first is None:
                raise
            return interrupted or signals.exit_code(first)

    async def tasks() -> int:
        nonlocal interrupted
        async with anyio.create_task_group() as tg:
            result: list[int] = []

            async def watch() -> None:
                nonlocal interrupted
                try:
                    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
                        async for signum in received:
                            if interrupted:
                                restore_terminal()
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


def _interrupt_of(group: BaseExceptionGroup[BaseException]) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt of a group made of nothing else, or None."""
    match, rest = group.split(KeyboardInterrupt)
    if match is None or rest is not None:
        return None
    leaf: BaseException = match
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    return leaf if isinstance(leaf, KeyboardInterrupt) else None
