"""What a run shows people: where each output goes, one line per finished item,
human units, and what a checkpoint holds, said in words.

Standard output carries the results. On a terminal it gets one short line per
finished item (``path → media id``, or why it failed), like ``aws s3 cp``; the JSON
Lines report goes to ``--report FILE``, or to standard output when that is not a
terminal or with ``--json``. ``NO_COLOR`` turns colour off, ``TERM=dumb`` colour and
the live display.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

from bulkup import redact
from bulkup.core.items import Result
from bulkup.core.records import ItemRecord
from bulkup.core.units import binary_units as human_bytes
from bulkup.core.units import human_duration, plural
from bulkup.run.checkpoint_status import acked_bytes
from bulkup.run.report import without_place


def is_dumb() -> bool:
    return os.environ.get("TERM", "") in ("dumb", "unknown")


def colour_allowed(stream: IO[str]) -> bool:
    """Colour on ``stream``: a terminal, no ``NO_COLOR`` (any value), not ``TERM=dumb``."""
    return _isatty(stream) and not os.environ.get("NO_COLOR") and not is_dumb()


def live_allowed(stream: IO[str]) -> bool:
    """A live display (redrawn in place) on ``stream``: a terminal that can move its cursor."""
    return _isatty(stream) and not is_dumb()


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or a fake stream
        return False


@dataclass(frozen=True, slots=True)
class StdoutMode:
    """What standard output receives: JSON Lines, human lines, or nothing."""

    json: bool
    human: bool

    @classmethod
    def choose(cls, *, json_wanted: bool, report_file: bool, stream: IO[str]) -> StdoutMode:
        terminal = _isatty(stream)
        if json_wanted or (not terminal and not report_file):
            return cls(json=True, human=False)
        return cls(json=False, human=terminal)


def _arrow(stream: IO[str]) -> str:
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    return "→" if encoding == "utf8" else "->"


class ItemLines:
    """Prints one line per finished item on standard output (an observer's
    ``item_finished``), looked up at each line: under a live display, rich routes it
    above the bars."""

    def __init__(self, *, colour: bool) -> None:
        self._colour = colour
        self._arrow = _arrow(sys.stdout)  # the real stream's (a live display replaces it)
        self._here = os.getcwd()
        self._said: set[str] = set()

    def line(self, result: Result, arrow: str = "→") -> str:
        where = self._where(result)
        if result.ok:
            earlier = " (from the checkpoint)" if result.resumed else ""
            return f"{self._tag('uploaded', 32)} {where} {arrow} {result.media_id_string}{earlier}"
        reason = self._once(
            without_place(result.error.message if result.error else "unknown error", where)
        )
        if result.status == "skipped":
            return f"{self._tag('skipped ', 33)} {where}: {reason}"
        return f"{self._tag('failed  ', 31)} {where}: {reason}"

    def _once(self, reason: str) -> str:
        """A long reason in full the first time; after that its first clause (a run
        stopped by a dead server gives every item left the same long message)."""
        if reason not in self._said:
            self._said.add(reason)
            return reason
        head, _, _ = reason.partition(": ")
        return f"{head} (as above)" if len(head) >= 12 and head != reason else reason

    def _where(self, result: Result) -> str:
        """The path as typed, mostly: relative when under the working folder."""
        if result.path is None:
            return result.id
        relative = os.path.relpath(result.path, self._here) if os.path.isabs(result.path) else ""
        if relative and not relative.startswith(".."):
            return relative
        return result.path

    def _tag(self, word: str, colour: int) -> str:
        return f"\x1b[{colour}m{word}\x1b[0m" if self._colour else word

    def item_finished(self, result: Result) -> None:
        stream = sys.stdout
        print(redact.text(self.line(result, self._arrow)), file=stream, flush=True)


@dataclass(frozen=True, slots=True)
class Pending:
    """Uploads a checkpoint holds that a rerun continues."""

    finished: int
    uploads: int
    acked_bytes: int
    nearest_deadline: float | None
    #: Uploads already finalized (being processed, or attaching metadata).
    finalized: int = 0

    @classmethod
    def of(cls, records: Iterable[ItemRecord]) -> Pending:
        finished = uploads = acked = finalized = 0
        deadlines = []
        for record in records:
            if record.result is not None:
                finished += record.result.ok
                continue
            if record.media_id is None:
                continue
            uploads += 1
            finalized += record.finalized
            acked += acked_bytes(record)
            deadline = record.media_expires_at if record.finalized else record.upload_deadline
            if deadline is not None:
                deadlines.append(deadline)
        nearest = min(deadlines) if deadlines else None
        return cls(finished, uploads, acked, nearest, finalized)

    def expiry(self, now: float | None = None) -> str:
        if self.nearest_deadline is None:
            return "no expiry known"
        left = self.nearest_deadline - (time.time() if now is None else now)
        if left <= 0:
            return "the nearest already expired (it starts over)"
        return f"nearest expiry in {human_duration(left)}"

    def uploads_text(self) -> str:
        finalized = f" ({self.finalized} finalized, being processed)" if self.finalized else ""
        return (
            f"{plural(self.uploads, 'upload')} in progress{finalized}, "
            f"{human_bytes(self.acked_bytes)} acknowledged, {self.expiry()}"
        )


def resuming_text(path: os.PathLike[str] | str, pending: Pending) -> str | None:
    """What a resumed run says at its start (None: a new checkpoint)."""
    if not pending.finished and not pending.uploads:
        return None
    parts = []
    if pending.finished:
        done = plural(pending.finished, "item")
        parts.append(f"{done} finished earlier (reported again, not sent again)")
    if pending.uploads:
        parts.append(pending.uploads_text())
    return f"resuming from {path}: " + "; ".join(parts)
