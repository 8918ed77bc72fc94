"""What ``bulkup`` shows on a terminal: an upload, the demo, an interrupt and its resume.

Each test runs the command on a pseudo-terminal (stdin, stdout and stderr: what a user
at a terminal has), 160 columns wide, and replays everything it wrote through a VT100
screen (pyte), so the assertions read the frames a person sees: the live progress,
one line per finished item, the summary; never JSON, never wrapped escape codes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import re
import signal
import struct
import subprocess
import termios
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import anyio
import pyte
import pytest
from anyio.abc import Process

from bulkup.emulator import Emulator, EmulatorConfig, RateLimits
from bulkup.media import samples
from tests.cli.test_cli_upload import PROCESS_LIMIT_S, command, env_for, upload_args
from tests.conftest import FAST_LIFETIMES, HANG, KiB

pytestmark = pytest.mark.anyio

COLUMNS, ROWS = 160, 200
MEDIA_ID = r"\d{15,20}"


@dataclass
class Screen:
    """Everything a command wrote to its terminal, and the screen it leaves."""

    raw: bytes
    code: int

    def lines(self) -> list[str]:
        """The screen, top to bottom, as a person reads it (trailing blanks dropped)."""
        screen = pyte.Screen(COLUMNS, ROWS)
        stream = pyte.ByteStream(screen)
        stream.feed(self.raw)
        shown = [line.rstrip() for line in screen.display]
        while shown and not shown[-1]:
            shown.pop()
        return shown

    @property
    def text(self) -> str:
        return "\n".join(self.lines())

    def line_with(self, pattern: str) -> str:
        found = [line for line in self.lines() if re.search(pattern, line)]
        assert found, f"no line matches {pattern!r} on the screen:\n{self.text}"
        return found[-1]


class Terminal:
    """A command running on a pseudo-terminal; its output read by a thread."""

    def __init__(self, process: Process, leader: int) -> None:
        self.process = process
        self._leader = leader
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._leader, 65536)
            except OSError:  # every writer closed the terminal
                return
            if not data:
                return
            self._chunks.append(data)

    def shown(self) -> bytes:
        return b"".join(self._chunks)

    async def finish(self) -> Screen:
        with anyio.fail_after(PROCESS_LIMIT_S):
            code = await self.process.wait()
            await anyio.to_thread.run_sync(self._reader.join)
        os.close(self._leader)
        return Screen(self.shown(), code)


def terminal_env(env: Mapping[str, str], **more: str) -> dict[str, str]:
    return {**env, "TERM": "xterm-256color", "LANG": "C.UTF-8", **more}


@contextlib.asynccontextmanager
async def on_terminal(*args: object, env: Mapping[str, str], cwd: Path) -> AsyncIterator[Terminal]:
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, COLUMNS, 0, 0))
    process = await anyio.open_process(
        command(*args), env=env, cwd=cwd, stdin=follower, stdout=follower, stderr=follower
    )
    os.close(follower)
    try:
        yield Terminal(process, leader)
    finally:
        if process.returncode is None:
            process.kill()


async def run_on_terminal(*args: object, env: Mapping[str, str], cwd: Path) -> Screen:
    async with on_terminal(*args, env=env, cwd=cwd) as term:
        return await term.finish()


def photos(folder: Path, count: int) -> list[Path]:
    folder.mkdir(exist_ok=True)
    return [
        samples.write_image(folder / f"p{i}.jpg", fmt="jpeg", width=64, height=48, seed=i)
        for i in range(count)
    ]


# --- an upload ------------------------------------------------------------------------
async def test_an_upload_on_a_terminal_shows_a_line_per_item_progress_and_summary_never_json(
    emulator: Emulator, tmp_path: Path
) -> None:
    photos(tmp_path / "photos", 2)
    args = [*upload_args(emulator, "photos", "missing.jpg"), "--report", "report.jsonl"]

    screen = await run_on_terminal(*args, env=terminal_env(env_for(emulator)), cwd=tmp_path)

    assert screen.code == 1, screen.text
    for name in ("p0.jpg", "p1.jpg"):
        assert re.fullmatch(rf"uploaded photos/{name} → {MEDIA_ID}", screen.line_with(name))
    assert screen.line_with("^failed +missing.jpg: no such file or directory: ")
    assert re.search(r"done 2/3 · failed 1 +━+ +4\.8/4\.8 KiB", screen.text)
    assert screen.line_with("^bulkup: 3 items: 2 succeeded, 1 failed, 0 skipped; 4.8 KiB sent")
    assert "{" not in screen.text  # no JSON on the terminal: it is in the report file
    assert "item_failed" not in screen.text  # its own line says it: no log event besides
    report = [json.loads(line) for line in (tmp_path / "report.jsonl").read_text().splitlines()]
    assert {line["status"] for line in report} == {"succeeded", "failed"} and len(report) == 3


async def test_a_rerun_reports_every_item_the_earlier_ones_from_the_checkpoint(
    emulator: Emulator, tmp_path: Path
) -> None:
    photos(tmp_path / "photos", 3)
    args = [*upload_args(emulator, "photos"), "--checkpoint", "run.ckpt"]
    env = terminal_env(env_for(emulator))
    await run_on_terminal(*args, "--report", "first.jsonl", env=env, cwd=tmp_path)
    samples.write_image(tmp_path / "photos" / "p3.jpg", fmt="jpeg", width=64, height=48, seed=3)

    screen = await run_on_terminal(*args, "--report", "second.jsonl", env=env, cwd=tmp_path)

    assert screen.code == 0, screen.text
    assert screen.line_with("^bulkup: resuming from run.ckpt: 3 items finished earlier")
    assert screen.line_with("p3.jpg").startswith("uploaded photos/p3.jpg → ")
    assert screen.line_with("p0.jpg").endswith("(from the checkpoint)")
    second = [json.loads(line) for line in (tmp_path / "second.jsonl").read_text().splitlines()]
    earlier = {line["id"]: line["from_checkpoint"] for line in second}
    assert earlier == {f"photos/p{i}.jpg": i < 3 for i in range(4)}
    assert "4 items: 4 succeeded (3 from the checkpoint)" in screen.text


async def test_json_flag_no_color_and_dumb_terminals(emulator: Emulator, tmp_path: Path) -> None:
    photos(tmp_path / "photos", 1)
    args = upload_args(emulator, "photos")
    env = terminal_env(env_for(emulator))

    as_json = await run_on_terminal(*args, "--json", env=env, cwd=tmp_path)
    plain = await run_on_terminal(*args, env=env | {"NO_COLOR": "1"}, cwd=tmp_path)
    dumb = await run_on_terminal(*args, env=env | {"TERM": "dumb"}, cwd=tmp_path)

    printed = as_json.raw.decode().splitlines()  # the lines as written, not as wrapped
    (line,) = [json.loads(x) for x in printed if x.startswith("{")]
    assert line["status"] == "succeeded" and line["from_checkpoint"] is False
    assert b"\x1b[32muploaded" not in plain.raw and plain.line_with("^uploaded photos/p0.jpg")
    assert dumb.line_with("^uploaded photos/p0.jpg")
    assert b"\x1b[?25l" not in dumb.raw  # no live display: it needs a cursor that moves
    assert "done 1/1" not in dumb.text


# --- rate limits ----------------------------------------------------------------------
WINDOW_SECS = 3.0
#: Four requests a window for each upload path: 12 photos need two windows.
TIGHT = EmulatorConfig(
    lifetimes=FAST_LIFETIMES,
    limits=RateLimits(
        per_window=dict.fromkeys(("upload", "initialize", "append", "finalize"), 4),
        time_scale=900 / WINDOW_SECS,
    ),
)


@pytest.mark.timeout(120)
async def test_the_progress_line_names_the_budget_that_binds_while_the_run_waits_for_it(
    tmp_path: Path,
) -> None:
    photos(tmp_path / "photos", 12)
    async with Emulator(TIGHT, environ={}) as emu:
        env = terminal_env(env_for(emu))
        screen = await run_on_terminal(*upload_args(emu, "photos"), env=env, cwd=tmp_path)

    assert screen.code == 0, screen.text
    frames = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.raw.decode())  # every frame drawn
    waiting = re.search(
        # (a first burst, sent before any answer announced the tight limits, may
        # have drawn 429s: "retried N · last: …" then comes first)
        r"done \d+/12 ·(?: [^·]+ ·)*? (one-shot|init|append|finalize)(, [a-z-]+)* budgets? spent: "
        r"waiting until \d\d:\d\d:\d\d \(\d s\)",
        frames,
    )
    assert waiting, frames[-3000:]
    assert screen.line_with(r"^bulkup: 12 items: 12 succeeded")
    assert screen.line_with(
        r"^bulkup: waited \d s for rate limits to reset; the [a-z, -]+ budgets? bound the run"
    )
    assert "spent" not in screen.line_with("^done 12/12")  # the run is over


# --- the demo -------------------------------------------------------------------------
@pytest.mark.timeout(120)
async def test_the_demo_shows_progress_then_a_table_of_verified_media(tmp_path: Path) -> None:
    screen = await run_on_terminal(
        "demo", "--files", "5", env=terminal_env(env_for(None)), cwd=tmp_path
    )

    assert screen.code == 0, screen.text
    assert screen.line_with("done 5/5")
    header = screen.line_with("file +category +media id +verified")
    rows = screen.lines()[screen.lines().index(header) + 2 :][:5]
    for row in rows:
        assert re.fullmatch(rf" +\S+\.(jpg|png|gif|mp4) +tweet_\w+ +{MEDIA_ID} +✓ sha256", row), row
    assert screen.line_with("5 of 5 media verified byte-exact")
    assert "{" not in screen.text


# --- an interrupt and its resume ------------------------------------------------------
async def test_an_interrupt_says_how_to_resume_and_the_rerun_says_what_it_resumes(
    tmp_path: Path,
) -> None:
    video = samples.write_video(tmp_path / "clip.mp4", width=64, height=64, seconds=2)
    size, answered = video.stat().st_size, 5
    async with Emulator(HANG, environ={}) as emu:
        args = [*upload_args(emu, video.name), "--checkpoint", "run.ckpt", "--chunk-size", "1KiB"]
        args += ["--segments-per-file", "1"]
        env = terminal_env(env_for(emu))
        emu.faults.schedule("latency_spike", endpoint="append", after=answered)
        async with on_terminal(*args, env=env, cwd=tmp_path) as term:
            with anyio.fail_after(PROCESS_LIMIT_S):
                await emu.wait_for_fault("latency_spike")
            term.process.send_signal(signal.SIGINT)
            stopped = await term.finish()

        resumed = await run_on_terminal(*args, env=env, cwd=tmp_path)

    assert stopped.code == 130, stopped.text
    assert stopped.line_with("^bulkup: interrupted: stopping and saving the checkpoint")
    assert stopped.line_with("^bulkup: 0 items")
    assert stopped.line_with("^bulkup: interrupted. Rerun the same command to resume")
    hint = r"^  1 upload in progress, 5\.0 KiB acknowledged, nearest expiry in \d+ (d|h)"
    assert stopped.line_with(hint)
    assert resumed.code == 0, resumed.text
    start = resumed.line_with("^bulkup: resuming from run.ckpt")
    assert "1 upload in progress, 5.0 KiB acknowledged" in start
    assert re.fullmatch(rf"uploaded clip.mp4 → {MEDIA_ID}", resumed.line_with("clip.mp4 →"))
    rest = (size - answered * KiB) / KiB
    assert f"; {rest:.1f} KiB sent in " in resumed.line_with("^bulkup: 1 item:")  # this run's only


def test_the_pty_helper_sees_what_a_pipe_does_not(tmp_path: Path) -> None:
    """A guard on the harness: the same command piped prints JSON, not the terminal lines."""
    done = subprocess.run(command("demo", "--files", "1"), capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.decode().splitlines()
    assert json.loads(line)["status"] == "succeeded"
