"""Issue #13, finding 1: no run destroys a file, its own outputs or anything it reads.

Every refusal comes before any output is opened for writing, so a refused run changes
no byte of anything; output paths are checked against each other and against the
sources (manifests, files of scanned folders, files a manifest names: by resolved path
and by inode), the config file included; a report belongs to one run at a time (an
exclusive ``flock``), so a second run naming it is refused before it empties it.

Each case runs ``python -m bulkup`` against the emulator on a real port and compares
the bytes of every file before and after.
"""

from __future__ import annotations

import json
import os
import signal
import stat
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from bulkup.emulator import Emulator
from bulkup.media import samples
from tests.cli.test_cli_upload import (
    PROCESS_LIMIT_S,
    Run,
    bulkup,
    env_for,
    requests,
    started,
    upload_args,
)
from tests.conftest import HANG

pytestmark = pytest.mark.anyio


def no_traceback(run: Run) -> None:
    assert "Traceback" not in run.err, run.err


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder``, by relative path (what a refused run must not change).

    A checkpoint's ``.lock`` holds only the pid of its last holder (a refused open that
    leaves its pid there is another finding of the issue), so it is left out.
    """
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in ("stdout.txt", "stderr.txt") and p.suffix != ".lock"
    }


def report_lines(path: Path) -> list[dict[str, object]]:
    data = path.read_bytes()
    assert b"\0" not in data, f"NUL bytes in the report: {data[:80]!r}"
    return [json.loads(line) for line in data.decode().splitlines()]


async def until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` (bounded: a stuck command fails the test, never hangs it)."""
    with anyio.fail_after(PROCESS_LIMIT_S):
        while True:
            if condition():
                return
            await anyio.sleep(0.005)


def has_lines(path: Path, count: int) -> bool:
    return path.exists() and path.read_bytes().count(b"\n") >= count


def three_files(folder: Path) -> None:
    samples.write_image(folder / "a.png", fmt="png", seed=1)
    samples.write_image(folder / "b.png", fmt="png", seed=2)
    samples.write_video(folder / "clip.mp4", width=64, height=64, seconds=2)


# --- a second run ------------------------------------------------------------------------
@pytest.mark.parametrize("checkpoint", ["same", "other"])
async def test_a_second_run_naming_the_same_report_leaves_the_first_runs_report_whole(
    tmp_path: Path, checkpoint: str
) -> None:
    """Before: the second run emptied the report at start (and the first run's later
    lines landed after a hole of NUL bytes); now the report's own lock refuses the
    second run before it changes a byte, whichever checkpoint it names."""
    three_files(tmp_path)
    async with Emulator(HANG, environ={}) as emu:
        args = [*upload_args(emu, "a.png", "b.png", "clip.mp4"), "--report", "report.jsonl"]
        args += ["--chunk-size", "1KiB", "--segments-per-file", "1"]
        emu.faults.schedule("latency_spike", endpoint="append", after=2)  # the video hangs
        async with started(
            *args, "--checkpoint", "one.ckpt", env=env_for(emu), cwd=tmp_path
        ) as first:
            with anyio.fail_after(PROCESS_LIMIT_S):
                await emu.wait_for_fault("latency_spike")
            await until(lambda: has_lines(tmp_path / "report.jsonl", 2))  # both images
            before = (tmp_path / "report.jsonl").read_bytes()
            sent = requests(emu)

            ckpt = "one.ckpt" if checkpoint == "same" else "two.ckpt"
            second = await bulkup(*args, "--checkpoint", ckpt, env=env_for(emu), cwd=tmp_path)

            assert second.code == 2, second.err
            no_traceback(second)
            assert "the report report.jsonl is being written by another bulkup run" in second.err
            assert "wait for that run to end, or give another --report file" in second.err
            assert not (tmp_path / "two.ckpt").exists()  # refused before any checkpoint
            assert (tmp_path / "report.jsonl").read_bytes() == before
            assert requests(emu) == sent  # the second run sent nothing
            first.send_signal(signal.SIGINT)
            with anyio.fail_after(PROCESS_LIMIT_S):
                assert await first.wait() == 130
    lines = report_lines(tmp_path / "report.jsonl")
    assert {line["id"] for line in lines} >= {"a.png", "b.png"}
    assert all(line["status"] == "succeeded" for line in lines if line["id"] != "clip.mp4")


@pytest.mark.parametrize("refusal", ["damaged", "foreign"])
async def test_a_run_refused_for_its_checkpoint_keeps_the_old_report(
    emulator: Emulator, tmp_path: Path, refusal: str
) -> None:
    samples.write_image(tmp_path / "a.png", fmt="png")
    args = [*upload_args(emulator, "a.png"), "--checkpoint", "run.ckpt", "--report", "r.jsonl"]
    assert (await bulkup(*args, env=env_for(emulator), cwd=tmp_path)).code == 0
    if refusal == "damaged":
        (tmp_path / "run.ckpt").write_bytes(b"\x00\x01 not a checkpoint {")
    else:  # the same checkpoint, used by a v1.1 run
        args[args.index("v2")] = "v1.1"
    before = snapshot(tmp_path)

    run = await bulkup(*args, env=env_for(emulator), cwd=tmp_path)

    assert run.code == 2, run.err
    no_traceback(run)
    assert "damaged" in run.err if refusal == "damaged" else "was written for" in run.err
    assert snapshot(tmp_path) == before  # the report keeps its line, the checkpoint its bytes
    assert len(report_lines(tmp_path / "r.jsonl")) == 1


# --- outputs that are inputs, or each other ------------------------------------------------
async def test_a_report_naming_the_manifest_is_refused_and_the_manifest_kept(
    emulator: Emulator, tmp_path: Path
) -> None:
    samples.write_image(tmp_path / "a.png", fmt="png")
    (tmp_path / "photos.jsonl").write_text('{"path": "a.png"}\n')
    before = snapshot(tmp_path)

    run = await bulkup(
        *upload_args(emulator, "photos.jsonl"),
        "--report",
        "photos.jsonl",
        env=env_for(emulator),
        cwd=tmp_path,
    )

    assert run.code == 2
    no_traceback(run)
    assert "--report photos.jsonl is the source photos.jsonl" in run.err
    assert "writing it would destroy it" in run.err
    assert snapshot(tmp_path) == before
    assert requests(emulator) == {}


@pytest.mark.parametrize("report", ["run.ckpt", "run.ckpt.journal", "run.ckpt.lock"])
async def test_a_report_on_the_checkpoint_or_its_journal_is_refused_and_the_checkpoint_kept(
    emulator: Emulator, tmp_path: Path, report: str
) -> None:
    """Before: ``--report run.ckpt --checkpoint run.ckpt`` emptied the checkpoint."""
    samples.write_image(tmp_path / "a.png", fmt="png")
    args = [*upload_args(emulator, "a.png"), "--checkpoint", "run.ckpt"]
    assert (
        await bulkup(*args, "--report", "r.jsonl", env=env_for(emulator), cwd=tmp_path)
    ).code == 0
    before, sent = snapshot(tmp_path), requests(emulator)

    run = await bulkup(*args, "--report", report, env=env_for(emulator), cwd=tmp_path)

    assert run.code == 2
    no_traceback(run)
    assert f"--report {report} and " in run.err and "are the same file" in run.err
    assert "--checkpoint run.ckpt" in run.err
    assert snapshot(tmp_path) == before
    assert requests(emulator) == sent


async def test_posts_and_report_on_one_file_are_refused(emulator: Emulator, tmp_path: Path) -> None:
    """Before: the posts file replaced the report at the end: 0 lines, exit 0."""
    samples.write_image(tmp_path / "a.png", fmt="png")
    (tmp_path / "m.jsonl").write_text('{"path": "a.png", "post": "p"}\n')

    run = await bulkup(
        *upload_args(emulator, "m.jsonl"),
        "--posts",
        "out.jsonl",
        "--report",
        "out.jsonl",
        env=env_for(emulator),
        cwd=tmp_path,
    )

    assert run.code == 2
    no_traceback(run)
    assert "--report out.jsonl and --posts out.jsonl are the same file" in run.err
    assert not (tmp_path / "out.jsonl").exists()
    assert requests(emulator) == {}


async def test_an_output_inside_a_scanned_folder_is_refused_unless_the_scan_skips_it(
    emulator: Emulator, tmp_path: Path
) -> None:
    """The scan would read the report (or the checkpoint) as a file to upload; a path
    it skips (excluded, or hidden) is fine."""
    photos = tmp_path / "photos"
    photos.mkdir()
    samples.write_image(photos / "a.png", fmt="png")

    refused = await bulkup(
        *upload_args(emulator, "photos"),
        "--report",
        "photos/report.jsonl",
        env=env_for(emulator),
        cwd=tmp_path,
    )
    assert refused.code == 2
    no_traceback(refused)
    assert "--report photos/report.jsonl is inside photos, a folder scanned" in refused.err
    assert "--exclude 'report.jsonl'" in refused.err
    assert not (photos / "report.jsonl").exists()
    assert requests(emulator) == {}

    excluded = await bulkup(
        *upload_args(emulator, "photos"),
        "--report",
        "photos/report.jsonl",
        "--checkpoint",
        "photos/.run.ckpt",  # hidden: never scanned
        "--exclude",
        "report.jsonl",
        env=env_for(emulator),
        cwd=tmp_path,
    )
    assert excluded.code == 0, excluded.err
    assert [line["id"] for line in report_lines(photos / "report.jsonl")] == ["photos/a.png"]


@pytest.mark.parametrize("how", ["folder file", "hard link", "manifest entry", "subtitles"])
async def test_an_output_that_is_a_file_to_upload_is_refused_and_kept(
    emulator: Emulator, tmp_path: Path, how: str
) -> None:
    """A file the run would upload is no output, however it is named: by its own path
    in a folder, by a hard link elsewhere, or through a manifest's entry."""
    media = tmp_path / "media"
    media.mkdir()
    png = samples.write_image(media / "a.png", fmt="png")
    sources, target = ["media"], "media/a.png"
    if how == "hard link":
        os.link(png, tmp_path / "linked.png")
        target = "linked.png"
    elif how == "manifest entry":
        (tmp_path / "list.jsonl").write_text('{"path": "media/a.png"}\n')
        sources = ["list.jsonl"]
    elif how == "subtitles":
        video = samples.write_video(media / "v.mp4", width=64, height=64, seconds=1)
        (media / "en.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nHello\n")
        entry = {"path": str(video), "subtitles": [{"path": "media/en.srt", "language_code": "en"}]}
        (tmp_path / "list.jsonl").write_text(json.dumps(entry) + "\n")
        sources, target = ["list.jsonl"], "media/en.srt"
    before = snapshot(tmp_path)

    run = await bulkup(
        *upload_args(emulator, *sources), "--report", target, env=env_for(emulator), cwd=tmp_path
    )

    assert run.code == 2
    no_traceback(run)
    assert f"--report {target} " in run.err
    assert "writing it would destroy it" in run.err or "a folder scanned" in run.err
    assert snapshot(tmp_path) == before
    assert requests(emulator) == {}


async def test_a_report_naming_the_config_file_is_refused(
    emulator: Emulator, tmp_path: Path
) -> None:
    samples.write_image(tmp_path / "a.png", fmt="png")
    (tmp_path / "run.toml").write_text("[upload]\nconcurrency = 2\n")
    before = snapshot(tmp_path)

    run = await bulkup(
        *upload_args(emulator, "a.png"),
        "--config",
        "run.toml",
        "--report",
        "run.toml",
        env=env_for(emulator),
        cwd=tmp_path,
    )

    assert run.code == 2
    assert "--report run.toml is the config file run.toml" in run.err
    assert snapshot(tmp_path) == before


async def test_validate_refuses_a_report_naming_its_manifest(tmp_path: Path) -> None:
    samples.write_image(tmp_path / "a.png", fmt="png")
    (tmp_path / "photos.jsonl").write_text('{"path": "a.png"}\n')
    before = snapshot(tmp_path)

    run = await bulkup(
        "validate", "photos.jsonl", "--report", "photos.jsonl", env=env_for(None), cwd=tmp_path
    )

    assert run.code == 2
    no_traceback(run)
    assert "--report photos.jsonl is the source photos.jsonl" in run.err
    assert snapshot(tmp_path) == before


async def test_two_outputs_on_a_null_device_are_fine_and_it_stays_open_to_all(
    emulator: Emulator, tmp_path: Path
) -> None:
    """A device destroys nothing: it may take the report and the posts, and it is not
    made private (``chmod 600 /dev/null`` would break every other user)."""
    null = tmp_path / "null"
    try:
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # what /dev/null is
    except PermissionError:
        pytest.skip("creating a device needs CAP_MKNOD")
    null.chmod(0o666)
    samples.write_image(tmp_path / "a.png", fmt="png")
    (tmp_path / "m.jsonl").write_text('{"path": "a.png", "post": "p"}\n')

    run = await bulkup(
        *upload_args(emulator, "m.jsonl"),
        "--report",
        null,
        "--posts",
        null,
        env=env_for(emulator),
        cwd=tmp_path,
    )

    assert run.code == 0, run.err
    assert stat.S_IMODE(null.stat().st_mode) == 0o666
