"""``bulkup upload --dry-run``: the plan of a run, checked as the run checks it; nothing sent.

Each item goes through what the real run does before its first request, with the
same functions: the post groups (:func:`bulkup.run.posts.plan_posts`), then
:func:`bulkup.client.prepare.prepare` (the file's identity, preflight, the checks of
the request fields for the ``--api`` dialect, and the plan: strategy, chunk size),
for the item and for each of its subtitle files. An item that would fail is shown
failed with the message the run would report; the others with their category,
strategy, size, requests by endpoint and billed requests (:mod:`bulkup.run.plan`),
and the totals with the time the published rate limits imply.

Nothing goes on the network, no credentials are read, no checkpoint is opened.
On a terminal: a table and a few lines of totals on standard output. Otherwise, or
with ``--json``: one JSON object per item and a last ``{"total": {...}}`` on standard
output, the totals as text on standard error. ``--report FILE`` receives the JSON
Lines too. Exit status: 0 every item would upload, 1 some would fail.

Memory: the table keeps one row per item until it is printed (about 300 bytes each);
JSON Lines are written as each item is judged.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import IO, Any

import anyio

from bulkup import redact
from bulkup.cli.settings import Settings
from bulkup.client.admission import problem_result
from bulkup.client.config import UploadConfig
from bulkup.client.prepare import prepare
from bulkup.core.items import ErrorInfo, Item, SourceProblem
from bulkup.core.steps import Plan
from bulkup.core.units import binary_units, plural
from bulkup.errors import UploadError
from bulkup.media.preflight import preflight
from bulkup.run.exits import EXIT_FAILED, EXIT_OK
from bulkup.run.plan import (
    BILLED_ENDPOINTS,
    METADATA_PRICE_USD,
    STATUS_ASSUMPTION,
    PlannedItem,
    PlanStatus,
    Totals,
    item_requests,
    ordered,
)
from bulkup.run.plan_split import Budget, label, windows_text
from bulkup.run.posts import plan_posts
from bulkup.run.report import MAX_SUMMARY_FAILURES, ReportWriter

__all__ = ["judge", "plan_entries", "run_dry"]

_STYLES = {"planned": "green", "failed": "red", "skipped": "yellow"}
_HEADERS = ("FILE", "PLAN", "CATEGORY", "STRATEGY", "SIZE", "REQUESTS")


# --- judging -------------------------------------------------------------------------
async def plan_entries(
    entries: Iterable[Item | SourceProblem], config: UploadConfig
) -> AsyncIterator[PlannedItem]:
    """Each entry as the run would take it, in the run's order."""
    listed = list(entries)
    blocked: Mapping[str, str] = {}
    if any(isinstance(entry, Item) and entry.post is not None for entry in listed):
        blocked = plan_posts(listed, default_category=config.category).blocked
    seen: set[str] = set()
    for entry in listed:
        if isinstance(entry, SourceProblem):
            yield _problem(entry)
        elif entry.id not in seen:  # the run uploads an id once
            seen.add(entry.id)
            if entry.id in blocked:
                error = ErrorInfo(kind="post_group", message=blocked[entry.id])
                yield await _failed(entry, error, config)
            else:
                yield await judge(entry, config)


async def judge(item: Item, config: UploadConfig) -> PlannedItem:
    """``item`` planned by the functions the run prepares it with, or failed as it would."""
    asked: list[bool] = []  # --strategy auto asked the budgets: one-shot or chunked

    def one_shot() -> bool:
        asked.append(True)
        return True

    try:
        prepared = await prepare(item, config, config.api, one_shot=one_shot)
    except UploadError as exc:
        return await _failed(item, exc.info(), config)
    if asked and config.api == "v2" and prepared.plan.strategy == "simple":
        return _either_way(item, prepared.plan, prepared.warnings)
    plan, subtitles = prepared.plan, []
    for sub in item.subtitles:
        part = Item(id=f"{item.id}#subtitles-{sub.language_code}", path=sub.path)
        try:
            subtitles.append((await prepare(_as_subtitles(part), config, config.api)).plan)
        except UploadError as exc:  # the media and what came before are sent first
            message = f"subtitles {sub.path.name}: {exc.info().message}"
            requests = item_requests(plan, metadata=bool(item.metadata), subtitles=subtitles)
            error = ErrorInfo(kind="subtitles_failed", message=message)
            return _planned(item, plan, requests, prepared.warnings, status="failed", error=error)
    requests = item_requests(plan, metadata=bool(item.metadata), subtitles=subtitles)
    return _planned(item, plan, requests, prepared.warnings)


def _either_way(item: Item, plan: Plan, warnings: tuple[str, ...]) -> PlannedItem:
    """A still image ``--strategy auto`` sends one-shot or chunked, as the budgets left
    decide at run time (v2: its limits are published): both paths, the split in the
    totals."""
    metadata = bool(item.metadata)
    chunked = dataclasses.replace(plan, strategy="chunked")
    planned = _planned(item, plan, item_requests(plan, metadata=metadata), warnings)
    return dataclasses.replace(
        planned,
        strategy="auto",
        segments=plan.segments,
        requests_if_chunked=item_requests(chunked, metadata=metadata),
    )


def _as_subtitles(part: Item) -> Item:
    return Item(id=part.id, path=part.path, media_category="subtitles")


def _planned(
    item: Item,
    plan: Plan,
    requests: Mapping[str, int],
    warnings: tuple[str, ...],
    *,
    status: str = "planned",
    error: ErrorInfo | None = None,
) -> PlannedItem:
    return PlannedItem(
        id=item.id,
        path=str(item.path),
        status="failed" if status == "failed" else "planned",
        error=error,
        media_type=plan.media_type,
        media_category=plan.media_category,
        strategy=plan.strategy,
        size=plan.size,
        segments=plan.segments if plan.strategy == "chunked" else None,
        requests=dict(requests),
        warnings=warnings,
        account=item.account,
    )


async def _failed(item: Item, error: ErrorInfo, config: UploadConfig) -> PlannedItem:
    """A failure before any request: nothing is sent. The type and category are what
    preflight found, when it found them (for the table; the message is the run's)."""
    media_type, category = item.media_type, item.media_category
    if config.preflight and error.kind in ("preflight", "post_group"):
        with_category = item.media_category or config.category
        pre = await anyio.to_thread.run_sync(
            lambda: preflight(item, default_category=with_category)
        )
        media_type, category = pre.media_type or media_type, pre.category
    try:
        size: int | None = os.stat(item.path).st_size
    except OSError:
        size = None
    return PlannedItem(
        id=item.id,
        path=str(item.path),
        status="failed",
        error=error,
        media_type=media_type,
        media_category=category,
        size=size,
        account=item.account,
    )


def _problem(problem: SourceProblem) -> PlannedItem:
    """An entry that is no item: failed (a bad manifest line) or skipped (not media)."""
    result = problem_result(problem)
    status: PlanStatus = "skipped" if result.status == "skipped" else "failed"
    return PlannedItem(
        id=result.id, path=result.path, status=status, error=result.error, account=result.account
    )


# --- the command ---------------------------------------------------------------------
def run_dry(
    entries: Iterable[Item | SourceProblem],
    settings: Settings,
    report: ReportWriter,
    *,
    as_json: bool = False,
) -> int:
    """The dry run of ``bulkup upload``; its exit status."""
    terminal = not as_json and sys.stdout.isatty()
    totals = Totals(settings.upload.api, settings.upload.budget_fraction)
    rows: list[PlannedItem] = []
    sinks: list[Callable[[Mapping[str, Any]], None]] = []
    if settings.report is not None:
        sinks.append(report.write_line)
    if not terminal:
        sinks.append(_stdout_line)

    async def main() -> None:
        async for planned in plan_entries(entries, settings.upload):
            totals.add(planned)
            for sink in sinks:
                sink(planned.as_json())
            if terminal:
                rows.append(planned)

    anyio.run(main)
    for sink in sinks:
        sink(totals.as_json())
    if terminal:
        print_table(rows, totals, sys.stdout)
        _print_lines(totals_lines(totals), sys.stdout)
    else:
        _print_lines(totals_lines(totals) + failure_lines(totals), sys.stderr)
    return EXIT_FAILED if totals.counts["failed"] else EXIT_OK


def _stdout_line(data: Mapping[str, Any]) -> None:
    print(json.dumps(redact.value(dict(data)), ensure_ascii=False), flush=True)


def _print_lines(lines: list[str], stream: IO[str]) -> None:
    for line in lines:
        print(redact.text(line), file=stream)
    stream.flush()


# --- what people read ------------------------------------------------------------------
def totals_lines(totals: Totals) -> list[str]:
    """The totals in a few lines of text."""
    counts = totals.counts
    lines = [
        f"bulkup: dry run of {plural(totals.items, 'item')}: {counts['planned']} would upload "
        f"({size_text(totals.size)}), {counts['failed']} would fail, {counts['skipped']} skipped"
    ]
    limits, requests = totals.schedule()
    if requests:
        every = sum(requests.values())
        listed = requests_text(requests, mark_billed=False)
        lines.append(f"  requests: {every:,} in all: {listed}")
        if requests.get("status"):
            lines.append(f"    (assumed: {STATUS_ASSUMPTION})")
        lines += limits_lines(limits, totals.dialect)
    billed = totals.billed
    usd = billed * METADATA_PRICE_USD
    money = f"${usd:.3f}" if usd < 1 else f"${usd:,.2f}"
    cost = f", about {money} on pay-per-use plans" if billed else ""
    lines.append(f"  billed: {plural(billed, 'metadata request')}{cost}")
    lines.append("  nothing was sent: no upload session opened, no credentials read")
    return lines


def limits_lines(limits: Budget, dialect: str) -> list[str]:
    """``--strategy auto``'s split, the windows the limits imply and the budgets that
    bind, and what sending every such image one-shot would take."""
    lines = []
    if limits.split is not None:
        one_shot, chunked = limits.split
        beside = f", {chunked:,} chunked beside them" if chunked else ""
        images = f"{one_shot:,} image{'' if one_shot == 1 else 's'}"
        lines.append(
            f"  strategy auto: {images} one-shot{beside} (the split is decided at run time, "
            "from the budgets left)"
        )
    where = dialect
    if dialect == "v2":
        share = f", this run's share: {limits.fraction:.0%} of each" if limits.fraction < 1 else ""
        where = f"{dialect}, per user per 15 minutes{share}"
    lines.append(f"  rate limits ({where}): {limits.describe(dialect)}")
    alone = limits.one_shot_only
    if alone is not None and alone != limits.windows:
        lines.append(
            f"    every still image one-shot (as other clients send them): {windows_text(alone)}"
        )
    return lines


def failure_lines(totals: Totals) -> list[str]:
    """The first failures, one line each (the table shows them on a terminal)."""
    shown = totals.failures[:MAX_SUMMARY_FAILURES]
    lines = [f"  failed {item_id}: {message}" for item_id, message in shown]
    hidden = len(totals.failures) - len(shown)
    if hidden > 0:
        lines.append(f"  ... and {hidden} more failed: see the JSON lines")
    return lines


def requests_text(requests: Mapping[str, int], *, mark_billed: bool = True) -> str:
    """``init 1, append 3, finalize 1, status 1+, metadata 1 billed``: status counts are
    assumed (at least), billed requests say so."""
    parts = []
    for key, count in ordered(requests).items():
        billed = mark_billed and key in BILLED_ENDPOINTS
        more = "+" if key == "status" else " billed" if billed else ""
        parts.append(f"{label(key)} {count:,}{more}")
    return ", ".join(parts) or "-"


def row_requests_text(row: PlannedItem) -> str:
    """An item's requests; for one ``--strategy auto`` sends either way, both paths:
    ``one-shot 1 or init 1, append 1, finalize 1; metadata 1 billed``."""
    if row.requests_if_chunked is None:
        return requests_text(row.requests)
    paths = ("upload", "initialize", "append", "finalize")
    one_shot = {k: n for k, n in row.requests.items() if k in paths}
    chunked = {k: n for k, n in row.requests_if_chunked.items() if k in paths}
    rest = {k: n for k, n in row.requests.items() if k not in paths}
    either = f"{requests_text(one_shot)} or {requests_text(chunked)}"
    return f"{either}; {requests_text(rest)}" if rest else either


def size_text(n: int | None) -> str:
    return "-" if n is None else binary_units(n)


def print_table(rows: list[PlannedItem], totals: Totals, stream: IO[str]) -> None:
    """One row per item (billed requests marked in REQUESTS) and a total row, drawn by
    rich (colour unless ``NO_COLOR``, ASCII when ``TERM=dumb``), then the reason of each
    item that would fail or is skipped."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=stream, highlight=False)
    plain = console.is_dumb_terminal  # ASCII: "-" under the header, no box drawing
    rule = box.Box("    \n    \n -- \n    \n    \n -- \n    \n    \n", ascii=True)
    table = Table(
        box=rule if plain else box.SIMPLE_HEAD,
        header_style="bold",
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    # REQUESTS, the last column, wraps first; FILE keeps up to 20 characters if it can
    longest = max((len(row.id) for row in rows), default=4)
    room = {"FILE": max(8, min(longest, 20, console.width - 65))}
    for header in _HEADERS:
        right = header in ("SIZE", "BILLED")
        short = header not in ("FILE", "REQUESTS")  # never wrapped: the rest gets the room
        table.add_column(
            header,
            justify="right" if right else "left",
            overflow="fold",
            no_wrap=short,
            min_width=room.get(header),
        )
    for index, row in enumerate(rows):
        table.add_row(
            Text(row.id if row.account is None else f"{row.id} ({row.account})"),
            Text(row.status, style=_STYLES[row.status]),
            row.media_category or "-",
            row.strategy or "-",
            size_text(row.size),
            row_requests_text(row),
            end_section=index == len(rows) - 1,
        )
    every = sum(totals.requests.values())
    table.add_row(
        Text("total", style="bold"),
        f"{totals.counts['planned']} of {totals.items}",
        "",
        "",
        size_text(totals.size),
        f"{every} in all, {totals.billed} billed",
    )
    console.print(table)
    reasons = Table.grid(padding=(0, 1), pad_edge=True)  # wrapped under the reason
    reasons.add_column(no_wrap=True)
    reasons.add_column(overflow="fold")
    for row in rows:
        if row.error is not None:
            style = _STYLES[row.status]
            who = Text(f"{row.status} {row.id}:", style=style)
            reasons.add_row(who, Text(redact.text(row.error.message), style=style))
    if reasons.row_count:
        console.print(reasons)
    console.print()
