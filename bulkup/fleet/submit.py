"""``bulkup submit``: the sources' entries into a job, each with one atomic script.

An unknown id is created and queued; the same id for the same file (host, path, size,
mtime, inode) changes nothing; the same id for another file replaces the item while it
is pending, and is a conflict once a worker holds it or it finished. A source problem
(a bad manifest line, a missing file) is recorded as the item's result at once, so the
job's report covers every entry.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bulkup.client.admission import problem_result
from bulkup.core.items import Item, Result, SourceProblem
from bulkup.core.units import plural
from bulkup.fleet.queue import JobQueue, Submission
from bulkup.fleet.specs import file_key, spec_of

__all__ = ["DEFAULT_KEEP", "Submitted", "submit"]

#: Entries sent in one round trip.
BATCH = 500
#: Seconds a finished job is kept (7 days).
DEFAULT_KEEP = 7 * 24 * 3600.0

_WHY = {
    "running": "a worker is uploading it",
    "succeeded": "it already succeeded",
    "failed": "it already failed",
    "skipped": "it was already skipped",
}


@dataclass(slots=True)
class Submitted:
    """What one ``submit`` did."""

    job: str
    new: int = 0
    unchanged: int = 0
    replaced: int = 0
    #: Source problems recorded as failed or skipped results.
    problems: int = 0
    #: ``(id, state)`` of the entries refused: their id names another file.
    conflicts: list[tuple[str, str]] = field(default_factory=list)

    @property
    def submitted(self) -> int:
        return self.new + self.unchanged + self.replaced

    def add(self, answer: str, item_id: str, *, problem: bool = False) -> None:
        if answer.startswith("conflict:"):
            self.conflicts.append((item_id, answer.split(":", 1)[1]))
        elif problem and answer == "new":
            self.problems += 1
        elif answer in ("new", "unchanged", "replaced"):
            setattr(self, answer, getattr(self, answer) + 1)

    def text(self) -> str:
        line = (
            f"job {self.job}: {self.submitted} submitted: {self.new} new, "
            f"{self.unchanged} unchanged, {self.replaced} replaced"
        )
        if self.problems:
            line += f"; {plural(self.problems, 'source problem')} recorded in the report"
        if self.conflicts:
            shown = ", ".join(
                f"{i} ({_WHY.get(s, s)}; submit it under another id)" for i, s in self.conflicts[:5]
            )
            more = f" and {len(self.conflicts) - 5} more" if len(self.conflicts) > 5 else ""
            line += f"; {plural(len(self.conflicts), 'conflict')}: {shown}{more}"
        return line

    def as_json(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "submitted": self.submitted,
            "new": self.new,
            "unchanged": self.unchanged,
            "replaced": self.replaced,
            "problems": self.problems,
            "conflicts": [{"id": i, "state": s} for i, s in self.conflicts],
        }


async def submit(
    queue: JobQueue,
    job: str,
    entries: Iterable[Item | SourceProblem],
    *,
    keep: float = DEFAULT_KEEP,
    host: str | None = None,
) -> Submitted:
    """Enqueue every entry (paths made absolute, the file's identity and host recorded)."""
    host = host or socket.gethostname()
    done = Submitted(job)
    batch: list[Submission] = []
    for entry in entries:
        if isinstance(entry, SourceProblem):
            batch.append(problem_result(entry))
        else:
            spec = spec_of(entry, host)
            batch.append((spec, file_key(spec)))
        if len(batch) >= BATCH:
            await _send(queue, job, batch, keep, done)
    await _send(queue, job, batch, keep, done)
    return done


async def _send(
    queue: JobQueue, job: str, batch: list[Submission], keep: float, done: Submitted
) -> None:
    """Submit ``batch`` (one round trip) and empty it."""
    if not batch:
        return
    answers = await queue.submit(job, batch, keep)
    for entry, answer in zip(batch, answers, strict=True):
        if isinstance(entry, Result):
            done.add(answer, entry.id, problem=True)
        else:
            done.add(answer, entry[0]["id"])
    batch.clear()
