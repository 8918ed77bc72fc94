"""``--shard I/N``: the I-th of N deterministic parts of a run's entries, for array jobs.

N processes (a batch scheduler's array job, N machines) each run ``bulkup upload
--shard I/N`` on the same sources, I from 1 to N; together they upload every item
exactly once, with no coordinator. Each process reads every source whole (so ids,
duplicates and bad lines are found as in one run) and keeps only the entries whose
key falls in its part:

* an item's key is its id, except an item of a post group (manifest field ``post``),
  whose key is the post's name, so that a post's items all land in one shard and are
  checked and listed together;
* a :class:`~bulkup.core.items.SourceProblem`'s key is its id, which is the entry's own
  id when the line had a readable one, else its place (``photos.jsonl:12``). A bad
  line is reported by exactly one shard, like any item: the shard its id hashes to.
  A problem line names no post, so it does not follow one (it never blocks a post:
  only the items of a post are checked together).

The part of a key is ``SHA-256(key as UTF-8)``, its first 8 bytes read as a big-endian
integer, modulo N, plus 1: stable across runs, machines and Python versions (not
``hash()``, which is salted per process), and even across parts for large N. In
Python::

    int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % n + 1

Entries of another shard are not uploaded and not reported: each shard's report holds
its own items only, and the reports of all N shards together hold every item once.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bulkup.core.items import Item, SourceProblem
from bulkup.core.units import plural

__all__ = ["Shard", "ShardTally", "shard_key", "shard_of"]

_FORM = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")
_HOW = "must be I/N, the I-th of N parts (I from 1 to N), such as 2/4"


def shard_key(entry: Item | SourceProblem) -> str:
    """What decides the entry's part: its post's name if it has one, else its id."""
    if isinstance(entry, Item) and entry.post is not None:
        return entry.post
    return entry.id


def shard_of(key: str, count: int) -> int:
    """The part, from 1 to ``count``, that ``key`` belongs to."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


@dataclass(slots=True)
class ShardTally:
    """How many entries a shard kept of how many it read."""

    kept: int = 0
    seen: int = 0
    #: Every entry of the sources was read (the counts are the whole run's).
    complete: bool = False


@dataclass(frozen=True, slots=True)
class Shard:
    """The ``index``-th (from 1) of ``count`` parts."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 1 <= self.index <= self.count:
            raise ValueError(f"{_HOW}; got {self}")

    @classmethod
    def parse(cls, text: object) -> Shard:
        """``"2/4"`` → ``Shard(2, 4)``; anything else a ValueError saying what is wanted."""
        found = _FORM.fullmatch(text) if isinstance(text, str) else None
        if found is None:
            raise ValueError(f"{_HOW}; got {text!r}")
        index, count = int(found[1]), int(found[2])
        if count < 1:
            raise ValueError(f"{_HOW}; got {text!r}: N must be at least 1")
        if not 1 <= index <= count:
            raise ValueError(f"{_HOW}; got {text!r}: I must be from 1 to {count}")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, entry: Item | SourceProblem) -> bool:
        return shard_of(shard_key(entry), self.count) == self.index

    def take(
        self, entries: Iterable[Item | SourceProblem], tally: ShardTally | None = None
    ) -> Iterator[Item | SourceProblem]:
        """The entries of this shard, lazily, in their order; ``tally`` counts them."""
        tally = tally if tally is not None else ShardTally()
        for entry in entries:
            tally.seen += 1
            if self.holds(entry):
                tally.kept += 1
                yield entry
        tally.complete = True

    def summary(self, tally: ShardTally) -> str:
        """``shard 2/4: 3 of 10 items (...)``, for the end of a run."""
        text = f"shard {self}: {tally.kept} of {plural(tally.seen, 'item')}"
        others = tally.seen - tally.kept
        if others:
            text += f"; the other {others} are the other shards' and not in this report"
        return text
