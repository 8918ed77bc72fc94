"""``bulkup demo``: sample media uploaded to the built-in emulator, every byte verified.

On a terminal it shows the live progress and ends with a table (file, category, media
id, verified); otherwise (or with ``--json``) the JSON Lines report goes to standard
output. The time shown is the upload's only, not the samples' making.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from bulkup.cli.terminal import StdoutMode, colour_allowed, live_allowed
from bulkup.client.config import UploadConfig
from bulkup.client.progress import ByteTally, Observers, RichProgress
from bulkup.core import spec
from bulkup.core.items import Item, Result
from bulkup.core.units import binary_units
from bulkup.run.exits import EXIT_FAILED, EXIT_OK
from bulkup.run.report import ReportWriter, Summary, print_summary


def add_demo(commands: Any) -> None:
    p = commands.add_parser(
        "demo",
        help="upload sample media to the built-in emulator",
        description=(
            "Start the emulator in this process, generate sample images, an animated GIF and "
            "short videos in a temporary folder, upload them, verify every byte on the server "
            "side, and show a table of the results (the JSON Lines report when standard "
            "output is not a terminal, or with --json)."
        ),
    )
    p.add_argument("--api", choices=spec.DIALECTS, default="v2", help="API dialect to use (v2)")
    p.add_argument("--files", type=int, default=12, metavar="N", help="number of sample files (12)")
    p.add_argument("--json", action="store_true", help="JSON Lines on standard output")
    p.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    mode = StdoutMode.choose(json_wanted=args.json, report_file=False, stream=sys.stdout)
    return anyio.run(_demo, args.api, args.files, mode)


async def _demo(api: str, count: int, mode: StdoutMode) -> int:
    from bulkup.emulator import Emulator, EmulatorConfig, Lifetimes

    config = EmulatorConfig(lifetimes=Lifetimes(processing_secs=0.5, check_after_secs=0))
    with tempfile.TemporaryDirectory(prefix="bulkup-demo-") as tmp:
        files = _demo_files(Path(tmp), count)
        async with Emulator(config, environ={}) as emu:
            size = binary_units(sum(f.stat().st_size for f in files))
            print(
                f"bulkup demo: emulator at {emu.url}; uploading {len(files)} sample files "
                f"({size}) with {api}",
                file=sys.stderr,
            )
            rows, summary = await _upload(emu, api, files, mode)
    if not mode.json:
        _table(rows)
    verified = sum(1 for row in rows if row[3])
    print(
        f"bulkup demo: {verified} of {len(rows)} media verified byte-exact by SHA-256 on "
        "the server",
        file=sys.stderr,
    )
    return EXIT_OK if summary.all_succeeded and verified == len(rows) else EXIT_FAILED


Row = tuple[Result, str, str, bool]  # result, file name, category, verified


async def _upload(
    emu: Any, api: str, files: list[Path], mode: StdoutMode
) -> tuple[list[Row], Summary]:
    from bulkup.client.uploader import Uploader

    report = ReportWriter(stream=sys.stdout if mode.json else None)
    view = RichProgress(sys.stderr, total_files=len(files)) if live_allowed(sys.stderr) else None
    tally = ByteTally()
    summary, rows = Summary(), []
    upload_config = UploadConfig(
        api=api,  # type: ignore[arg-type]
        endpoint=emu.url,
        chunk_size=32 * 1024,  # small chunks: every video goes in several segments
    )
    started = time.monotonic()
    with view or contextlib.nullcontext():
        async with Uploader(upload_config, auth=_auth(emu), observer=Observers(view, tally)) as up:
            items = [Item(id=f.name, path=f) for f in files]
            async for result in up.upload_many(items):
                report.write(result)
                summary.add(result)
                rows.append(_row(emu, result, Path(result.path or result.id)))
    summary.bytes_uploaded = tally.sent
    print_summary(summary, time.monotonic() - started)
    return sorted(rows, key=lambda row: row[1]), summary


def _auth(emu: Any) -> Any:
    from bulkup.auth.credentials import OAuth1Auth
    from bulkup.auth.oauth1 import Credentials

    user = emu.user
    return OAuth1Auth(
        Credentials(
            consumer_key=user.consumer_key,
            consumer_secret=user.consumer_secret,
            token=user.access_token,
            token_secret=user.access_token_secret,
        )
    )


def _row(emu: Any, result: Result, path: Path) -> Row:
    """The result and whether the server holds exactly the file's bytes."""
    verified = False
    if result.ok and result.media_id_string is not None:
        info = emu.media(result.media_id_string)
        expected = hashlib.sha256(path.read_bytes()).hexdigest()
        verified = info is not None and info["sha256"] == expected
    return result, path.name, result.media_category or "", verified


def _table(rows: list[Row]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    colour = colour_allowed(sys.stdout)
    utf8 = (sys.stdout.encoding or "").lower().replace("-", "") == "utf8"
    table = Table(box=box.SIMPLE if utf8 else box.ASCII, header_style="bold")
    for name in ("file", "category", "media id", "verified"):
        table.add_column(name)
    for result, name, category, verified in rows:
        mark = ("✓ sha256" if utf8 else "yes, sha256") if verified else "no"
        media = result.media_id_string or f"failed: {result.error.message if result.error else ''}"
        table.add_row(name, category, media, mark)
    Console(file=sys.stdout, no_color=not colour, highlight=False).print(table)


def _demo_files(folder: Path, count: int) -> list[Path]:
    from bulkup.media import samples

    makers = [
        lambda i: samples.write_image(
            folder / f"photo-{i:02d}.jpg", fmt="jpeg", width=640, height=480, seed=i
        ),
        lambda i: samples.write_image(
            folder / f"image-{i:02d}.png", fmt="png", width=320, height=240, seed=i
        ),
        lambda i: samples.write_gif(
            folder / f"anim-{i:02d}.gif", width=160, height=120, frames=8, seed=i
        ),
        lambda i: samples.write_video(
            folder / f"clip-{i:02d}.mp4", width=320, height=240, seconds=2, seed=i
        ),
        lambda i: samples.write_video(
            folder / f"long-{i:02d}.mp4", width=640, height=480, seconds=6, seed=i
        ),
    ]
    return [makers[i % len(makers)](i) for i in range(count)]
