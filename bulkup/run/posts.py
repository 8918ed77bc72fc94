"""Post groups: the items of one post, checked before any of them is uploaded.

A manifest entry's ``post`` field names the post it belongs to. A post takes at most
4 images, or 1 animated GIF, or 1 video (spec section 6). :func:`plan_posts` reads the
groups and the kind of each member (by preflight: bytes, not extensions) and marks
every member of a group that breaks the rule, so nothing of it is uploaded.
:class:`PostPlan` then collects the results and lists each post with its media ids in
order, ready for a post creation call; a post with a failed item is incomplete.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bulkup import privatefiles, redact
from bulkup.core import spec
from bulkup.core.items import Item, Result, SourceProblem
from bulkup.media.preflight import preflight

MAX_IMAGES = 4


def kind_of(category: str | None) -> str:
    if category in spec.GIF_CATEGORIES:
        return "animated GIF"
    if category in spec.VIDEO_CATEGORIES:
        return "video"
    if category == "subtitles":
        return "subtitles"
    return "image"


def group_problem(name: str, kinds: list[str]) -> str | None:
    """Why a post with members of these kinds cannot be made, or None."""
    if "subtitles" in kinds:
        return f"post {name!r} lists a subtitles file: attach subtitles to their video instead"
    single = [k for k in kinds if k in ("animated GIF", "video")]
    if single and len(kinds) > 1:
        return (
            f"post {name!r} has {len(kinds)} items including {single[0]}s: a post takes at most "
            "4 images, or 1 animated GIF, or 1 video"
        )
    if len(kinds) > MAX_IMAGES:
        return f"post {name!r} has {len(kinds)} images: a post takes at most {MAX_IMAGES}"
    return None


@dataclass(slots=True)
class PostGroup:
    name: str
    item_ids: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    problem: str | None = None
    #: The highest ``priority`` of its items: the group is scheduled at it.
    priority: int | None = None


@dataclass(slots=True)
class PostPlan:
    """The posts of a run, what blocks them, and the results of their items."""

    groups: dict[str, PostGroup] = field(default_factory=dict)
    results: dict[str, Result] = field(default_factory=dict)

    @property
    def blocked(self) -> Mapping[str, str]:
        """Item id → why its post cannot be made (so it is not uploaded)."""
        return {
            item_id: group.problem
            for group in self.groups.values()
            if group.problem
            for item_id in group.item_ids
        }

    @property
    def priorities(self) -> Mapping[str, int]:
        """Post name → the highest priority of its items (the group goes at it)."""
        return {
            name: group.priority
            for name, group in self.groups.items()
            if group.priority is not None
        }

    def record(self, result: Result) -> None:
        if any(result.id in g.item_ids for g in self.groups.values()):
            self.results[result.id] = result

    def rows(self) -> list[dict[str, Any]]:
        """One object per post: its media ids in order and whether it is complete."""
        rows = []
        for group in self.groups.values():
            results = [self.results.get(i) for i in group.item_ids]
            complete = group.problem is None and all(r is not None and r.ok for r in results)
            rows.append(
                {
                    "post": group.name,
                    "complete": complete,
                    "media_ids": [r.media_id_string if r else None for r in results],
                    "items": group.item_ids,
                    "error": group.problem
                    or (None if complete else "not every item of the post succeeded"),
                }
            )
        return rows

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the rows to ``path``: a file is replaced whole and atomically (a reader,
        or a second run writing the same file, never sees a mix); a pipe is written to."""
        rows = (json.dumps(redact.value(row), ensure_ascii=False) + "\n" for row in self.rows())
        data = "".join(rows).encode()
        try:
            regular = stat.S_ISREG(os.stat(path).st_mode)
        except FileNotFoundError:
            regular = True
        if regular:
            privatefiles.replace(path, data)
            return
        fd = privatefiles.open_fd(path, os.O_WRONLY)
        try:
            privatefiles.write_all(fd, data)
        finally:
            os.close(fd)


def plan_posts(
    entries: Iterable[Item | SourceProblem], *, default_category: str | None = None
) -> PostPlan:
    """Read the post groups of ``entries`` and check each (probing only their members)."""
    plan = PostPlan()
    for entry in entries:
        if isinstance(entry, SourceProblem) or entry.post is None:
            continue
        group = plan.groups.setdefault(entry.post, PostGroup(entry.post))
        group.item_ids.append(entry.id)
        known = group.priority
        group.priority = entry.priority if known is None else max(known, entry.priority)
        category = (
            entry.media_category or preflight(entry, default_category=default_category).category
        )
        group.kinds.append(kind_of(category))
    for group in plan.groups.values():
        group.problem = group_problem(group.name, group.kinds)
    return plan
