"""The run's report: one JSON line per item as it finishes, and a summary.

Lines stream out as results arrive (each written at once, unbuffered), so a killed
run still leaves a usable partial report and a consumer can follow it with
``tail -f``. Report files are created with mode 0600.

A report file belongs to one run at a time. :class:`ReportWriter` takes an exclusive
``flock`` on it when it opens it, without emptying it: a second run naming the same
report is refused (:class:`ReportLocked`) before it changes a byte, and the report of
a run refused for another reason (a checkpoint in use, foreign or damaged) keeps its
old lines. The file is emptied only by :meth:`ReportWriter.start` (or the first line,
or closing a run that wrote none), which the command line calls once every refusal
is behind it. Every line and the summary go through :mod:`bulkup.redact` first.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Literal

from bulkup import logs, privatefiles, redact
from bulkup.core.items import Result, iso_utc
from bulkup.core.units import binary_units, plural
from bulkup.errors import BulkupError
from bulkup.run import exits


def open_private(path: str | os.PathLike[str], mode: Literal["a", "w"] = "a") -> IO[str]:
    """Open a text file for writing, created 0600 whatever the umask."""
    return privatefiles.open_text(path, mode)


class ReportError(BulkupError, OSError):
    """The report cannot be written (disk full, closed pipe); the lines before it are whole."""


class ReportLocked(ReportError):
    """Another process is writing this report (it holds the report's ``flock``)."""


class ReportWriter:
    """Writes results as JSON Lines to a file (``path``), a stream, or both.

    A file is opened and locked (``flock``, exclusive) at once, and emptied only by
    :meth:`start`, which the first :meth:`write` calls if nobody did; :meth:`discard`
    gives it up untouched instead. Each line goes out with one ``os.write``,
    unbuffered, so a killed run loses no line it reported. When a write fails (disk
    full), the part of the line that was written is cut off again, the file keeps
    whole lines only, and :class:`ReportError` says what happened; every later write
    raises it again. Only regular files are locked and emptied: a pipe or
    ``/dev/null`` is written to as it is.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, stream: IO[str] | None = None):
        self._where = str(path) if path is not None else "standard output"
        self._path = path
        self._created = False
        self._regular = False
        self._fd = self._open(path) if path is not None else -1
        #: Also written to when a file is (``--report FILE --json``: the file and stdout).
        self._stream = stream
        self._started = path is None
        self._size = 0
        #: Lines written so far.
        self.lines = 0
        self._failed: ReportError | None = None

    def _open(self, path: str | os.PathLike[str]) -> int:
        try:
            fd, self._created = _open_report(path)
        except OSError as exc:
            raise ReportError(
                f"cannot create the report {path}: {exc.strerror or exc}; "
                "give a file in an existing, writable folder"
            ) from None
        try:
            self._regular = stat.S_ISREG(os.fstat(fd).st_mode)
            if self._regular:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ReportLocked(
                f"the report {path} is being written by another bulkup run; wait for that "
                "run to end, or give another --report file (it was left untouched)"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        return fd

    def start(self) -> None:
        """Empty the report for this run's lines (once; a no-op for a stream)."""
        if self._started:
            return
        self._started = True
        if self._fd >= 0 and self._regular:
            try:
                os.ftruncate(self._fd, 0)
            except OSError as exc:
                self._failed = ReportError(self._failure(exc))
                raise self._failed from exc

    def write(self, result: Result) -> None:
        self.write_line(result.as_json())

    def write_line(self, data: Mapping[str, Any]) -> None:
        """One JSON object as a line, as :meth:`write` writes a result (a dry run's plan)."""
        if self._failed is not None:
            raise self._failed
        self.start()
        line = json.dumps(redact.value(dict(data)), ensure_ascii=False) + "\n"
        try:
            if self._fd >= 0:
                self._append(line.encode())
            if self._stream is not None:
                self._stream.write(line)
                self._stream.flush()
        except OSError as exc:
            self._failed = ReportError(self._failure(exc))
            raise self._failed from exc
        self.lines += 1

    def _append(self, data: bytes) -> None:
        try:
            privatefiles.write_all(self._fd, data)
        except OSError:
            with contextlib.suppress(OSError):  # no torn line before the next run's reader
                os.ftruncate(self._fd, self._size)
            raise
        self._size += len(data)

    def _failure(self, exc: OSError) -> str:
        if exc.errno == errno.ENOSPC:
            what = f"disk full: cannot write the report {self._where}; free some space"
        else:
            what = f"cannot write the report {self._where}: {exc.strerror or exc}"
        return f"{what} (whole lines written before it, kept intact: {self.lines})"

    def discard(self) -> None:
        """Give the report up as it was before this run (a refused run): unlock and
        close it without emptying it, and remove it if this writer created it."""
        self._stream = None
        if self._fd < 0:
            return
        fd, self._fd = self._fd, -1
        if self._created and not self._started and self._path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._path)  # still locked: nobody else wrote into it
        os.close(fd)

    def close(self) -> None:
        """Make the report durable (fsync) and close it; idempotent. A run that wrote
        no line leaves an empty report."""
        self._stream = None
        if self._fd < 0:
            return
        try:
            if self._failed is None:
                self.start()
            if self._failed is None and self._regular:
                os.fsync(self._fd)  # a pipe or /dev/null has nothing to make durable
        except OSError as exc:
            self._failed = ReportError(self._failure(exc))
            raise self._failed from exc
        finally:
            fd, self._fd = self._fd, -1
            os.close(fd)


def _open_report(path: str | os.PathLike[str]) -> tuple[int, bool]:
    """The report, opened to append without emptying it, created 0600 whatever the
    umask; and whether this call created it."""
    flags = os.O_WRONLY | os.O_APPEND
    try:
        return privatefiles.open_fd(path, flags | os.O_CREAT | os.O_EXCL), True
    except FileExistsError:
        return privatefiles.open_fd(path, flags), False


#: Distinct failure messages the summary shows.
MAX_SUMMARY_FAILURES = 10


@dataclass(slots=True)
class Summary:
    """Counts for the end-of-run summary."""

    counts: Counter[str] = field(default_factory=Counter)
    bytes_uploaded: int = 0
    resumed: int = 0
    #: Failure message → ids of the items that failed with it (in order).
    failures: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: Items a later run can finish (rate caps, a server not reached), and the
    #: latest ``retry_after`` among them.
    left: int = 0
    retry_after: str | None = None
    #: Why items were left for later: message → ids.
    later: dict[str, list[str]] = field(default_factory=dict)
    #: Items whose error means the run was refused (credentials, certificate).
    refused: int = 0
    #: Failed items that a rerun would not finish either.
    hard_failures: int = 0
    #: Files of scanned folders skipped because they are not media.
    not_media: int = 0
    #: Whether the run keeps a checkpoint (what a rerun is told).
    checkpoint: bool = True

    def add(self, result: Result) -> None:
        self.counts[result.status] += 1
        if result.ok and not result.resumed:
            self.bytes_uploaded += result.size or 0
        if result.resumed:
            self.resumed += 1
        self.warnings.extend(result.warnings[: MAX_SUMMARY_FAILURES - len(self.warnings)])
        kind = result.error.kind if result.error else None
        self.not_media += kind == "not_media"
        if result.ok or kind is None:
            pass
        elif kind in exits.REFUSED_KINDS:
            self.refused += 1
        elif kind in exits.LATER_KINDS:
            self.left += 1
            assert result.error is not None
            self.later.setdefault(result.error.message, []).append(result.id)
            after = iso_utc(result.retry_after)
            if after is not None and (self.retry_after is None or after > self.retry_after):
                self.retry_after = after
        elif result.status == "failed":
            self.hard_failures += 1
        if result.status == "failed" and kind not in exits.LATER_KINDS:
            message = result.error.message if result.error else "unknown error"
            self.failures.setdefault(message, []).append(result.id)

    @property
    def total(self) -> int:
        return self.counts.total()

    @property
    def all_succeeded(self) -> bool:
        return self.counts["failed"] == 0

    def exit_code(self) -> int:
        """The run's exit status (see :mod:`bulkup.run.exits`)."""
        return exits.for_run(
            refused=self.refused > 0, failed=self.hard_failures > 0, left=self.left > 0
        )

    def render(self, elapsed: float) -> str:
        """The summary a person reads: counts, this run's bytes and rate, the failures
        by reason, the warnings, and what a rerun finishes."""
        lines = [self._headline(elapsed)]
        for message, ids in list(self.failures.items())[:MAX_SUMMARY_FAILURES]:
            lines.append(f"  failed {_who(ids)}: {without_place(message, ids[0])}")
        lines.extend(f"  warning: {warning}" for warning in self.warnings)
        hidden = len(self.failures) - MAX_SUMMARY_FAILURES
        if hidden > 0:
            lines.append(f"  … and {hidden} more kinds of failure: see the report")
        if self.left:
            when = f" after {self.retry_after}" if self.retry_after else ""
            how = "with the same --checkpoint" if self.checkpoint else "(with --checkpoint FILE"
            how += "" if self.checkpoint else ", a rerun skips what finished)"
            lines.append(
                f"  left for a later run: {plural(self.left, 'item')}; run the same "
                f"command again {how}{when} to finish them"
            )
            for message, ids in list(self.later.items())[:MAX_SUMMARY_FAILURES]:
                lines.append(f"    {_who(ids)}: {message}")
        return "\n".join(lines)

    def _headline(self, elapsed: float) -> str:
        succeeded = f"{self.counts['succeeded']} succeeded"
        if self.resumed:
            succeeded += f" ({self.resumed} from the checkpoint)"
        skipped = f"{self.counts['skipped']} skipped"
        if self.not_media:
            skipped += f" ({self.not_media} not media)"
        rate = self.bytes_uploaded / elapsed if elapsed > 0 else 0.0
        sent = f"{binary_units(self.bytes_uploaded)} sent in {elapsed:.1f} s"
        if self.bytes_uploaded:
            sent += f" ({binary_units(rate)}/s)"
        return (
            f"bulkup: {plural(self.total, 'item')}: {succeeded}, "
            f"{self.counts['failed']} failed, {skipped}; {sent}"
        )

    def fields(self, elapsed: float) -> dict[str, object]:
        """The summary as exact numbers (the ``run_finished`` event)."""
        return {
            "items": self.total,
            "succeeded": self.counts["succeeded"],
            "failed": self.counts["failed"],
            "skipped": self.counts["skipped"],
            "from_checkpoint": self.resumed,
            "not_media": self.not_media,
            "left_for_later": self.left,
            "retry_after": self.retry_after,
            "bytes_sent": self.bytes_uploaded,
            "elapsed_s": round(elapsed, 3),
            "failures": [
                {"message": message, "items": len(ids)} for message, ids in self.failures.items()
            ],
            "exit_status": self.exit_code(),
        }


def without_place(message: str, *places: str) -> str:
    """``message`` without a leading ``PLACE: `` that its line shows already."""
    for place in places:
        if place and message.startswith(f"{place}: "):
            return message[len(place) + 2 :]
    return message


def _who(ids: list[str]) -> str:
    return ids[0] if len(ids) == 1 else f"{ids[0]} and {len(ids) - 1} more"


def print_summary(summary: Summary, elapsed: float, stream: IO[str] | None = None) -> None:
    """Print to ``stream``, by default ``sys.stderr`` as it is now (not as it was at
    import); when standard error carries JSON (``--log-format json``), one
    ``run_finished`` event with the counts instead."""
    if stream is None and logs.json_mode():
        logs.say("info", "run_finished", summary.render(elapsed), **summary.fields(elapsed))
        return
    print(redact.text(summary.render(elapsed)), file=stream or sys.stderr, flush=True)
