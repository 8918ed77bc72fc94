"""The order in which items are admitted: the planner's choice of what goes next.

Budgets, not bandwidth, bound a bulk run on X (spec §4), and the order of the items
changes how much of the run's time the budgets can fill. :class:`Queue` holds the
entries read ahead (at most ``lookahead`` of them) and gives the best one each time a
file slot frees:

1. uploads an earlier run left unfinished, nearest deadline first (they must finish
   before their upload sessions expire);
2. then higher ``priority`` first (a manifest field, 0 when absent);
3. then media the server processes (videos and GIFs) before still images, so the
   server processes them while the images upload;
4. then the items of one post group together, at the place of the group's first item
   (and at the group's highest priority, when it is known from a first reading);
5. then the order of the sources.

Sans-IO: no awaiting, no files read. What an item is comes from what its entry says
(category, media type, the file's suffix), never from its bytes: the order is decided
before any file is opened.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from bulkup.core import spec
from bulkup.core.items import Item

#: How many entries are read ahead to choose from, by default.
DEFAULT_LOOKAHEAD: Final = 10_000
#: File suffixes of media the server processes, when nothing else says what it is.
PROCESSED_SUFFIXES: Final = frozenset({".gif", ".mp4", ".m4v", ".mov", ".webm", ".avi", ".mkv"})


def processed(item: Item) -> bool:
    """Whether the server processes ``item`` after FINALIZE (a video or a GIF), from
    its category, else its declared media type, else its file's suffix."""
    if item.media_category is not None:
        return item.media_category in spec.ASYNC_CATEGORIES
    if item.media_type is not None:
        kind = item.media_type.lower()
        return kind.startswith("video/") or kind == "image/gif"
    return item.path.suffix.lower() in PROCESSED_SUFFIXES


#: A rank: smaller goes first.
Rank = tuple[int, float, int, int, int]


@dataclass(slots=True)
class Queue:
    """Items read ahead, given back best first (see the module's rules).

    ``group_priority`` maps a post group's name to the highest priority of its items,
    when a first reading of the sources found it (the command line's does); without
    it a group goes at its first item's priority.
    """

    lookahead: int = DEFAULT_LOOKAHEAD
    group_priority: Mapping[str, int] = field(default_factory=dict)
    _heap: list[tuple[Rank, Item]] = field(default_factory=list)
    _groups: dict[str, Rank] = field(default_factory=dict)
    _count: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        if self.lookahead < 1:
            raise ValueError(f"lookahead must be at least 1, got {self.lookahead}")

    def __len__(self) -> int:
        return len(self._heap)

    @property
    def full(self) -> bool:
        return len(self._heap) >= self.lookahead

    def push(self, item: Item, *, deadline: float | None = None) -> None:
        """Hold ``item``; ``deadline``: an unfinished upload that must end by then."""
        index = next(self._count)
        heapq.heappush(self._heap, (self._rank(item, index, deadline), item))

    def pop(self) -> Item:
        """The best item held (IndexError when none is)."""
        return heapq.heappop(self._heap)[1]

    def _rank(self, item: Item, index: int, deadline: float | None) -> Rank:
        if deadline is not None:
            return (0, deadline, 0, 0, index)
        if item.post is None:
            return (1, -item.priority, 0 if processed(item) else 1, index, index)
        group = self._groups.get(item.post)
        if group is None:
            priority = self.group_priority.get(item.post, item.priority)
            group = (1, -priority, 0 if processed(item) else 1, index, index)
            self._groups[item.post] = group
        return (*group[:4], index)


__all__ = ["DEFAULT_LOOKAHEAD", "PROCESSED_SUFFIXES", "Queue", "Rank", "processed"]
