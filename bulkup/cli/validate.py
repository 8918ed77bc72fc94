"""``bulkup validate``: preflight alone, offline, with a table and the usual report.

Every file named by the sources is judged by :func:`bulkup.media.preflight.preflight` (sniff,
probe, the media rules, alt text); nothing goes on the network and no credentials are read.
The table goes to standard output (drawn with rich on a terminal, plain aligned text
otherwise); ``--report`` writes one JSON Lines result per file in the format of
``bulkup upload`` (``succeeded`` for a valid file, ``failed`` with ``error.kind``
``"preflight"`` and the violation lines for an invalid one). A scanned folder's files that
are not media are ``skipped`` (``not_media``), as ``bulkup upload`` skips them, and leave
the exit status alone. Exit status: 0 all valid (or skipped), 1 some invalid or unusable
entries, 2 usage error.

Memory: the rows of the table are kept until it is printed, about ``200 bytes × files``;
report lines are written as each file is judged.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bulkup.cli.options import add_config_option, add_directory_options
from bulkup.cli.outputs import check_paths, checked, outputs_of
from bulkup.core.items import ErrorInfo, Item, Result, SourceProblem
from bulkup.core.units import binary_units, plural
from bulkup.run.report import ReportWriter

__all__ = ["Row", "add_validate", "print_table", "run_validate"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_HEADERS = ("FILE", "TYPE", "CATEGORY", "SIZE", "RESULT")


def add_validate(commands: Any) -> None:
    p = commands.add_parser(
        "validate",
        help="check files against the media rules, without uploading",
        description=(
            "Check every file named by SOURCES (files, directories scanned recursively, or "
            "manifests) as the upload endpoint would: type from the bytes, size, dimensions, "
            "frames, duration, codecs, pixel format, GOP structure, audio, alt text. No "
            "network. Prints a table; --report writes JSON Lines results like upload's. "
            "Exit status: 0 all valid, 1 some invalid, 2 usage error."
        ),
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="file, directory or manifest")
    p.add_argument("--report", type=Path, metavar="FILE", help="write JSON Lines results here")
    p.add_argument(
        "--category",
        metavar="NAME",
        help="media_category for items that name none (default: by type)",
    )
    add_directory_options(p)
    add_config_option(p)
    p.set_defaults(handler=run_validate)


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table; ``lines`` is the result: ``ok``/``failed: ...``/``warning: ...``
    (``skipped: ...`` for an entry left out on purpose, which is ``ok``: not invalid)."""

    file: str
    type: str
    category: str
    size: str
    ok: bool
    lines: tuple[str, ...]
    skipped: bool = False


def run_validate(args: argparse.Namespace) -> int:
    from bulkup.cli.settings import resolve
    from bulkup.sources import iter_sources

    try:
        keys = ("category", "include", "exclude", "hidden", "follow_symlinks")
        given = {key: getattr(args, key) for key in keys}
        settings = resolve(given, config_file=args.config)
        options = settings.sources
        if args.report:  # never the manifest, a file to judge, or the config file
            written = outputs_of(report=args.report)
            config = [("config file", settings.config_file)] if settings.config_file else []
            check_paths(written, args.sources, options, inputs=config)
            if any(output.inode is not None for output in written):
                collections.deque(checked(written, iter_sources(args.sources, options)), 0)
        report = ReportWriter(args.report) if args.report else ReportWriter()
    except (ValueError, OSError) as exc:
        print(f"bulkup validate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    rows: list[Row] = []
    try:
        for entry in iter_sources(args.sources, options):
            result, row = _judge(entry)
            report.write(result)
            rows.append(row)
    finally:
        report.close()
    print_table(rows, sys.stdout, fancy=sys.stdout.isatty())
    print(_verdict(rows))
    return EXIT_OK if all(row.ok for row in rows) else EXIT_FAILED


def _verdict(rows: list[Row]) -> str:
    """``bulkup validate: 5 files: 2 valid, 0 invalid, 3 skipped`` (skipped when any)."""
    failed = sum(not row.ok for row in rows)
    skipped = sum(row.skipped for row in rows)
    files = plural(len(rows), "file")
    counts = f"{len(rows) - failed - skipped} valid, {failed} invalid"
    return f"bulkup validate: {files}: {counts}" + (f", {skipped} skipped" if skipped else "")


def _judge(entry: Item | SourceProblem) -> tuple[Result, Row]:
    from bulkup.media.preflight import preflight, preflight_result

    if isinstance(entry, SourceProblem):
        error = ErrorInfo(kind=entry.kind, message=entry.message)
        result = Result(id=entry.id, path=entry.path, status=entry.status, error=error)
        skipped = entry.status == "skipped"  # left out on purpose: not an invalid file
        line = f"{entry.status}: {entry.message}"
        return result, Row(entry.id, "-", "-", "-", skipped, (line,), skipped=skipped)
    started = time.perf_counter()
    pre = preflight(entry)
    result = preflight_result(entry, pre, elapsed_s=time.perf_counter() - started)
    verdict = ("ok",) if pre.ok else tuple(f"failed: {line}" for line in pre.lines)
    row = Row(
        file=entry.id,
        type=pre.media_type or "unknown",
        category=pre.category or "-",
        size=binary_units(pre.facts.size),
        ok=pre.ok,
        lines=verdict + tuple(f"warning: {warning}" for warning in pre.warnings),
    )
    return result, row


def print_table(rows: list[Row], stream: IO[str], *, fancy: bool = False) -> None:
    """The table of ``rows``: drawn by rich when ``fancy``, else plain aligned text."""
    if fancy:
        _print_rich(rows, stream)
        return
    cells = [_HEADERS, *((r.file, r.type, r.category, r.size) for r in rows)]
    widths = [max(len(cell[i]) for cell in cells) for i in range(4)]

    def line(first: tuple[str, ...], result: str) -> str:
        padded = "  ".join(cell.ljust(width) for cell, width in zip(first, widths, strict=True))
        return f"{padded}  {result}".rstrip()

    print(line(_HEADERS[:4], _HEADERS[4]), file=stream)
    for row in rows:
        print(line((row.file, row.type, row.category, row.size), row.lines[0]), file=stream)
        for more in row.lines[1:]:
            print(line(("",) * 4, more), file=stream)
    stream.flush()


def _print_rich(rows: list[Row], stream: IO[str]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(*_HEADERS, header_style="bold")
    for row in rows:
        result = Text()
        for index, line in enumerate(row.lines):
            style = "yellow" if line.startswith("warning:") else "green" if row.ok else "red"
            result.append(("\n" if index else "") + line, style=style)
        table.add_row(Text(row.file), row.type, row.category, Text(row.size), result)
    Console(file=stream).print(table)
