"""The run's report: one JSON line per item as it finishes, and a summary.

Lines stream out as results arrive (and are flushed at once), so a killed run
still leaves a usable partial report and a consumer can follow it with
``tail -f``. Report files are created with mode 0600.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import IO

from bulkup.items import Result


def open_private(path: str | os.PathLike[str], mode: str = "a") -> IO[str]:
    """Open a text file for writing, created 0600 whatever the umask."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        return os.fdopen(fd, mode, encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


class ReportWriter:
    """Writes results as JSON Lines to a file (``path``) or a stream."""

    def __init__(self, path: str | os.PathLike[str] | None = None, stream: IO[str] | None = None):
        self._own = path is not None
        self._out: IO[str] | None = open_private(path, "w") if path is not None else stream

    def write(self, result: Result) -> None:
        if self._out is None:
            return
        self._out.write(json.dumps(result.as_json(), ensure_ascii=False) + "\n")
        self._out.flush()

    def close(self) -> None:
        if self._out is not None and self._own:
            os.fsync(self._out.fileno())
            self._out.close()
        self._out = None


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

    def add(self, result: Result) -> None:
        self.counts[result.status] += 1
        if result.ok and not result.resumed:
            self.bytes_uploaded += result.size or 0
        if result.resumed:
            self.resumed += 1
        self.warnings.extend(result.warnings[: MAX_SUMMARY_FAILURES - len(self.warnings)])
        if result.status == "failed":
            message = result.error.message if result.error else "unknown error"
            self.failures.setdefault(message, []).append(result.id)

    @property
    def total(self) -> int:
        return self.counts.total()

    @property
    def all_succeeded(self) -> bool:
        return self.counts["failed"] == 0

    def render(self, elapsed: float) -> str:
        mib = self.bytes_uploaded / (1 << 20)
        rate = mib / elapsed if elapsed > 0 else 0.0
        lines = [
            f"bulkup: {self.total} items: {self.counts['succeeded']} succeeded "
            f"({self.resumed} from the checkpoint), {self.counts['failed']} failed, "
            f"{self.counts['skipped']} skipped; {mib:.1f} MiB in {elapsed:.1f} s ({rate:.1f} MiB/s)"
        ]
        for message, ids in list(self.failures.items())[:MAX_SUMMARY_FAILURES]:
            who = ids[0] if len(ids) == 1 else f"{ids[0]} and {len(ids) - 1} more"
            lines.append(f"  failed {who}: {message}")
        lines.extend(f"  warning: {warning}" for warning in self.warnings)
        hidden = len(self.failures) - MAX_SUMMARY_FAILURES
        if hidden > 0:
            lines.append(f"  … and {hidden} more kinds of failure: see the report")
        return "\n".join(lines)


def print_summary(summary: Summary, elapsed: float, stream: IO[str] = sys.stderr) -> None:
    print(summary.render(elapsed), file=stream, flush=True)
