"""``bulkup upload --dry-run`` is a plan: checked as the run checks, nothing sent.

Each test runs the command line as a subprocess, without credentials, against an
emulator that must receive nothing; where it matters, the real run of the same
sources follows and the plan is held to what it did.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path
from typing import Any

import anyio
import pytest

from bulkup.emulator import Emulator
from bulkup.media import samples
from tests.cli.test_cli_upload import Run, bulkup, env_for, requests
from tests.conftest import KiB

pytestmark = pytest.mark.anyio

#: Every field of a plan line and the JSON types it may have.
PLAN_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "path": (str, type(None)),
    "status": (str,),
    "error": (dict, type(None)),
    "media_type": (str, type(None)),
    "media_category": (str, type(None)),
    "strategy": (str, type(None)),
    "size": (int, type(None)),
    "segments": (int, type(None)),
    "requests": (dict,),
    "requests_if_chunked": (dict, type(None)),
    "billed_requests": (int,),
}
SIX_MB = 6 * 1024 * 1024


def check_plan_line(line: dict[str, Any]) -> None:
    """Every documented field of a plan line is there with its JSON type."""
    for name, types in PLAN_FIELDS.items():
        assert name in line, f"plan line lacks {name}: {line}"
        assert isinstance(line[name], types) and not isinstance(line[name], bool), (name, line)
    assert line["status"] in ("planned", "failed", "skipped")
    assert (line["error"] is None) == (line["status"] == "planned"), line


def plan_of(run: Run) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The plan's lines by id, and its totals (the last line)."""
    *items, last = run.lines()
    for line in items:
        check_plan_line(line)
    return {line["id"]: line for line in items}, last["total"]


def a_folder_with_bad_files(root: Path) -> Path:
    """``media/`` with a good JPEG, a video and a 6 MB PNG; ``notes.txt`` beside it."""
    media = root / "media"
    media.mkdir()
    samples.write_image(media / "photo.jpg", fmt="jpeg", width=64, height=48, seed=1)
    samples.write_video(media / "clip.mp4", width=64, height=64, seconds=1, seed=2)
    samples.write_image(media / "big.png", fmt="png", target_bytes=SIX_MB, seed=3)
    (root / "notes.txt").write_text("milk, eggs, a faster uploader\n")
    return media


def dry_args(emu: Emulator, *extra: str, api: str = "v2") -> list[str]:
    return ["upload", "--api", api, "--endpoint", emu.url, "--chunk-size", "4KiB", *extra]


async def test_a_dry_run_plans_what_the_run_sends_and_fails_what_the_run_fails(
    emulator: Emulator, tmp_path: Path
) -> None:
    media = a_folder_with_bad_files(tmp_path)
    args = dry_args(emulator, "media", "notes.txt")

    dry = await bulkup(*args, "--dry-run", env=env_for(None), cwd=tmp_path)

    assert dry.code == 1, dry.err
    assert requests(emulator) == {} and emulator.all_media() == []  # nothing reached it
    plan, total = plan_of(dry)
    photo, clip = plan["media/photo.jpg"], plan["media/clip.mp4"]
    assert (photo["status"], photo["strategy"], photo["requests"]) == (
        "planned",
        "auto",  # one-shot while its budget has room, else chunked: the run decides
        {"upload": 1},
    )
    assert photo["requests_if_chunked"] == {"initialize": 1, "append": 1, "finalize": 1}
    segments = math.ceil((media / "clip.mp4").stat().st_size / (4 * KiB))
    assert (clip["status"], clip["strategy"], clip["segments"]) == ("planned", "chunked", segments)
    assert clip["media_category"] == "tweet_video"
    assert clip["requests"] == {"initialize": 1, "append": segments, "finalize": 1, "status": 1}
    big, notes = plan["media/big.png"], plan["notes.txt"]
    assert big["status"] == "failed" and big["size"] == SIX_MB
    assert "exceeds 5 MiB for tweet_image" in big["error"]["message"]
    assert notes["status"] == "failed" and notes["requests"] == {}
    assert (total["planned"], total["failed"], total["windows"]) == (2, 2, 1)
    assert total["split"]["one_shot_images"] == 1 and total["split"]["chunked_images"] == 0

    real = await bulkup(*args, env=env_for(emulator), cwd=tmp_path)

    assert real.code == 1, real.err
    done = {line["id"]: line for line in real.lines()}
    for item_id, line in plan.items():
        wanted = "succeeded" if line["status"] == "planned" else "failed"
        assert done[item_id]["status"] == wanted, done[item_id]
        assert done[item_id]["error"] == line["error"]  # the same kind and message
    sent = {endpoint: sum(counts.values()) for endpoint, counts in requests(emulator).items()}
    assert sent == total["requests"]  # the emulator answers at the first STATUS poll


async def test_json_lines_add_up_and_go_to_the_report_too(
    emulator: Emulator, tmp_path: Path
) -> None:
    a_folder_with_bad_files(tmp_path)
    args = dry_args(emulator, "media", "--dry-run", "--json", "--report", "plan.jsonl")

    run = await bulkup(*args, env=env_for(None), cwd=tmp_path)

    assert run.code == 1, run.err
    assert (tmp_path / "plan.jsonl").read_text() == run.out  # the same lines
    plan, total = plan_of(run)
    assert total["items"] == len(plan) == 3
    summed: dict[str, int] = {}
    for line in plan.values():
        for endpoint, count in line["requests"].items():
            summed[endpoint] = summed.get(endpoint, 0) + count
    assert total["requests"] == summed
    planned = [line for line in plan.values() if line["status"] == "planned"]
    assert total["size"] == sum(line["size"] for line in planned)
    assert (total["windows"], total["seconds"], total["billed_requests"]) == (1, 0, 0)
    assert "within one window" in run.err and "2 would upload" in run.err
    assert "failed media/big.png: size 6.0 MiB exceeds 5 MiB" in run.err
    assert requests(emulator) == {}


async def test_alt_text_and_subtitles_in_a_manifest_are_planned_and_billed(
    tmp_path: Path,
) -> None:
    samples.write_image(tmp_path / "cat.png", fmt="png", width=32, height=32, seed=4)
    samples.write_video(tmp_path / "talk.mp4", width=64, height=64, seconds=1, seed=5)
    samples.write_srt(tmp_path / "en.srt")
    entries = [
        {"path": "cat.png", "alt_text": "A cat made of noise"},
        {"path": "talk.mp4", "subtitles": [{"path": "en.srt", "language_code": "en"}]},
    ]
    (tmp_path / "posts.jsonl").write_text("\n".join(json.dumps(e) for e in entries) + "\n")

    run = await bulkup("upload", "posts.jsonl", "--dry-run", env=env_for(None), cwd=tmp_path)

    assert run.code == 0, run.err
    plan, total = plan_of(run)
    assert plan["cat.png"]["requests"] == {"upload": 1, "metadata": 1}
    assert plan["cat.png"]["billed_requests"] == 1
    talk = plan["talk.mp4"]["requests"]  # the subtitle file is an upload of its own
    assert (talk["initialize"], talk["finalize"], talk["subtitles_create"]) == (2, 2, 1)
    assert plan["talk.mp4"]["billed_requests"] == 0
    assert (total["billed_requests"], total["billed_usd"]) == (1, 0.005)
    assert "billed: 1 metadata request, about $0.005" in run.err


async def test_a_plan_past_one_window_says_how_long_the_limits_make_it(
    tmp_path: Path,
) -> None:
    photo = samples.write_image(tmp_path / "p.png", fmt="png", width=16, height=16, seed=6)
    rows = ["path,id,alt_text", *(f"{photo.name},p{n},Photo {n}" for n in range(1001))]
    (tmp_path / "many.csv").write_text("\n".join(rows) + "\n")

    v2 = await bulkup("upload", "many.csv", "--dry-run", env=env_for(None), cwd=tmp_path)
    v1 = await bulkup(
        "upload", "many.csv", "--dry-run", "--api", "v1.1", env=env_for(None), cwd=tmp_path
    )

    _, total = plan_of(v2)
    # 500 one-shot and the rest chunked beside them in the first window; the alt text
    # (500 a window) takes three
    chunked = {"initialize": 501, "append": 501, "finalize": 501}
    assert total["requests"] == {"upload": 500, **chunked, "metadata": 1001}
    assert (total["windows"], total["seconds"], total["binding"]) == (3, 1800, ["metadata"])
    assert "3 windows, at least 30 min; binding: metadata" in v2.err
    _, total = plan_of(v1)
    assert total["requests"] == {"upload": 1001, "metadata": 1001}  # one-shot, as today
    assert (total["windows"], total["seconds"], total["split"]) == (None, None, None)
    assert "v1.1 publishes no rate limits" in v1.err


def many_photos(tmp_path: Path, count: int) -> str:
    """A manifest of ``count`` small still images (one file, listed under many ids)."""
    photo = samples.write_image(tmp_path / "p.png", fmt="png", width=16, height=16, seed=6)
    rows = ["path,id", *(f"{photo.name},p{n}" for n in range(count))]
    (tmp_path / "many.csv").write_text("\n".join(rows) + "\n")
    return "many.csv"


async def test_auto_plans_images_one_shot_and_chunked_beside_them_within_the_budget_share(
    tmp_path: Path,
) -> None:
    """950 images on a tenth of each limit (50 one-shot, 187 chunked a window): the
    split the run makes, the windows it needs and the budgets that bind, against 19
    windows one-shot alone."""
    manifest = many_photos(tmp_path, 950)

    run = await bulkup(
        "upload", manifest, "--dry-run", "--budget-fraction", "0.1",
        env=env_for(None), cwd=tmp_path,
    )  # fmt: skip

    assert run.code == 0, run.err
    plan, total = plan_of(run)
    assert {line["strategy"] for line in plan.values()} == {"auto"}
    assert total["split"]["one_shot_images"] == 250  # 5 windows of 50
    assert total["split"]["chunked_images"] == 700
    assert total["requests"] == {"initialize": 700, "append": 700, "finalize": 700, "upload": 250}
    assert (total["windows"], total["seconds"], total["budget_fraction"]) == (5, 3600, 0.1)
    assert total["binding"] == ["upload", "initialize", "append", "finalize"]
    assert total["limits"]["upload"] == 50 and total["limits"]["append"] == 187
    assert total["one_shot_only"] == {"windows": 19, "seconds": 18 * 900}
    assert "strategy auto: 250 images one-shot, 700 chunked beside them" in run.err
    assert "decided at run time, from the budgets left" in run.err
    assert "this run's share: 10% of each): 5 windows, at least 1 h; binding: one-shot" in run.err
    assert "every still image one-shot (as other clients send them): 19 windows" in run.err


async def test_an_explicit_strategy_is_planned_as_given(tmp_path: Path) -> None:
    manifest = many_photos(tmp_path, 600)

    run = await bulkup(
        "upload", manifest, "--dry-run", "--strategy", "chunked", env=env_for(None), cwd=tmp_path
    )

    plan, total = plan_of(run)
    assert {line["strategy"] for line in plan.values()} == {"chunked"}
    assert all(line["requests_if_chunked"] is None for line in plan.values())
    assert total["requests"] == {"initialize": 600, "append": 600, "finalize": 600}
    assert (total["split"], total["one_shot_only"], total["windows"]) == (None, None, 1)
    assert "strategy auto" not in run.err


async def test_an_entry_left_out_by_the_scan_is_shown_skipped(tmp_path: Path) -> None:
    (tmp_path / "media").mkdir()
    (tmp_path / "elsewhere").mkdir()
    samples.write_image(tmp_path / "media" / "a.png", fmt="png", width=16, height=16)
    (tmp_path / "media" / "link").symlink_to(tmp_path / "elsewhere")

    run = await bulkup("upload", "media", "--dry-run", env=env_for(None), cwd=tmp_path)

    assert run.code == 0, run.err
    plan, total = plan_of(run)
    assert plan["media/link"]["status"] == "skipped"
    assert plan["media/link"]["error"]["kind"] == "symlink_not_followed"
    assert (total["planned"], total["skipped"]) == (1, 1)


# --- on a terminal ---------------------------------------------------------------------
def on_terminal(cwd: Path, args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``bulkup ARGS`` with standard output on a 100-column terminal; what it shows."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "bulkup", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=subprocess.STDOUT,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    code = proc.wait(timeout=60)
    os.close(leader)
    return code, b"".join(chunks).decode()


async def test_on_a_terminal_the_plan_is_a_table_with_each_failure_s_reason(
    tmp_path: Path,
) -> None:
    a_folder_with_bad_files(tmp_path)
    args = ["upload", "media", "notes.txt", "--dry-run"]

    def show(**env: str) -> tuple[int, str]:
        return on_terminal(tmp_path, args, env_for(None) | env)

    code, coloured = await anyio.to_thread.run_sync(lambda: show(TERM="xterm-256color"))
    shown = re.sub(r"\x1b\[[0-9;]*m", "", coloured)  # the text without its colours

    assert code == 1
    assert "{" not in shown  # a table, not JSON
    for words in ("FILE", "PLAN", "CATEGORY", "STRATEGY", "SIZE", "REQUESTS", "─"):
        assert words in shown, (words, shown)
    rows = {line.split()[0]: line for line in shown.splitlines() if line.startswith(("m", "n"))}
    assert "planned" in rows["media/photo.jpg"] and "one-shot 1" in rows["media/photo.jpg"]
    assert "init 1, append" in rows["media/clip.mp4"] and "failed" in rows["media/big.png"]
    assert re.search(r"failed media/big.png: +size 6.0 MiB exceeds 5 MiB for tweet_image", shown)
    assert re.search(r"failed notes.txt: +type unrecognized", shown)
    assert "2 would upload" in shown and "2 would fail" in shown
    assert "within one window" in shown and "nothing was sent" in shown
    assert "\x1b[31m" in coloured  # failures in red

    _, plain = await anyio.to_thread.run_sync(lambda: show(TERM="xterm", NO_COLOR="1"))
    assert "\x1b[31m" not in plain and "\x1b[32m" not in plain and "─" in plain

    _, dumb = await anyio.to_thread.run_sync(lambda: show(TERM="dumb"))
    assert "\x1b[" not in dumb and "─" not in dumb and "FILE" in dumb
    assert re.search(r"failed media/big.png: +size 6.0 MiB", dumb)
