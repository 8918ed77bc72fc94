"""``bulkup status`` agrees with the run: every item the run reported is counted, failed
ones included (also those that failed before any upload started), in human units on a
terminal and exact numbers with ``--json``; and a clean or interrupted run leaves only
the checkpoint file in its folder."""

from __future__ import annotations

import datetime as dt
import json
import re
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest

from bulkup.core.items import UploadParams
from bulkup.emulator import Emulator
from bulkup.media import samples
from bulkup.run.checkpoint import Checkpoint, ItemRecord, RunIdentity
from bulkup.run.checkpoint_status import SUMMARY_KEYS
from tests.cli.test_cli_upload import (
    PROCESS_LIMIT_S,
    Run,
    bulkup,
    env_for,
    identity,
    requests,
    started,
    upload_args,
)
from tests.conftest import HANG, KiB, said

pytestmark = pytest.mark.anyio
MiB = 1024 * KiB
ISO_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def mixed_sources(tmp_path: Path) -> list[str]:
    """Sources of 8 items: 4 succeed; 4 fail, each in its own way: processing on the
    server (the emulator's fault), a PNG over 5 MiB (preflight), a text file named
    explicitly (not media), a manifest entry naming a file that is not there."""
    ok = tmp_path / "ok"
    ok.mkdir()
    samples.write_image(ok / "a.png", fmt="png", seed=1)
    samples.write_image(ok / "b.jpg", fmt="jpeg", seed=2)
    samples.write_video(ok / "clip.mp4", width=64, height=64, seconds=1, seed=3)
    samples.write_image(tmp_path / "big.png", fmt="png", target_bytes=6 * MiB, seed=4)
    (tmp_path / "notes.txt").write_text("not media\n")
    samples.write_image(tmp_path / "c.png", fmt="png", seed=5)
    samples.write_image(tmp_path / "d.png", fmt="png", seed=6)
    lines = [{"path": "c.png"}, {"path": "gone.jpg"}, {"path": "d.png"}]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (tmp_path / "state").mkdir()
    return ["ok", "big.png", "notes.txt", "m.jsonl"]


async def upload(emu: Emulator, tmp_path: Path, sources: list[str]) -> Run:
    args = [*upload_args(emu, *sources), "--checkpoint", "state/run.ckpt"]
    return await bulkup(*args, "--chunk-size", "64KiB", env=env_for(emu), cwd=tmp_path)


async def status(tmp_path: Path, *args: str) -> Run:
    run = await bulkup("status", "state/run.ckpt", *args, env=env_for(None), cwd=tmp_path)
    assert run.code == 0, run.err
    return run


def counted(lines: list[dict[str, Any]]) -> Counter[str]:
    return Counter(line["status"] for line in lines)


async def test_status_counts_every_item_the_run_reported_failed_ones_included(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Before: after "8 items … 4 failed", status said items: 5, failed: 1."""
    sources = mixed_sources(tmp_path)
    emulator.faults.schedule("processing_failure")  # the one video fails on the server

    run = await upload(emulator, tmp_path, sources)
    summary = json.loads((await status(tmp_path, "--json")).out)
    text = (await status(tmp_path)).out.splitlines()

    assert run.code == 1, run.err
    lines = run.lines()
    assert counted(lines) == {"succeeded": 4, "failed": 4}
    assert "8 items: 4 succeeded, 4 failed, 0 skipped" in said(run.err)
    assert summary["items"] == len(lines) == 8
    assert {k: summary[k] for k in ("succeeded", "failed", "skipped")} == {
        "succeeded": 4,
        "failed": 4,
        "skipped": 0,
    }
    assert summary["in_progress"] == 0 and summary["nearest_upload_deadline"] is None
    kinds = Counter(line["error"]["kind"] for line in lines if line["status"] == "failed")
    assert {g["kind"]: g["count"] for g in summary["failures"]} == kinds
    assert text[2:7] == ["items: 8", "succeeded: 4", "failed: 4", "skipped: 0", "in progress: 0"]
    assert "nearest upload deadline: none: no upload in progress" in text
    assert re.fullmatch(r"bytes acknowledged: \d+\.\d KiB of \d+\.\d KiB", text[7]), text
    reasons = text[text.index("failures by reason:") + 1 :]
    assert sorted(line.split(":")[0].strip() for line in reasons) == sorted(kinds)
    assert any("gone.jpg" in line for line in reasons), reasons


async def test_a_rerun_uploads_again_every_item_that_failed_and_reuses_the_rest(
    emulator: Emulator, tmp_path: Path
) -> None:
    sources = mixed_sources(tmp_path)
    emulator.faults.schedule("processing_failure")
    first = await upload(emulator, tmp_path, sources)
    assert counted(first.lines()) == {"succeeded": 4, "failed": 4}, first.err
    samples.write_image(tmp_path / "big.png", fmt="png", seed=4)  # now under 5 MiB
    samples.write_image(tmp_path / "gone.jpg", fmt="jpeg", seed=7)  # now there

    second = await upload(emulator, tmp_path, sources)

    assert second.code == 1, second.err  # notes.txt still is not media
    again = {line["id"]: line for line in second.lines()}
    succeeded_first = {line["id"] for line in first.lines() if line["status"] == "succeeded"}
    for item_id, line in again.items():
        if item_id in succeeded_first:
            assert line["status"] == "succeeded" and line["resumed"], line
        elif item_id.endswith("notes.txt"):
            assert line["status"] == "failed", line
        else:  # failed the first time: uploaded again, not reused
            assert line["status"] == "succeeded" and not line["resumed"], line
    summary = json.loads((await status(tmp_path, "--json")).out)
    assert (summary["items"], summary["succeeded"], summary["failed"]) == (8, 7, 1)


async def test_status_shows_an_upload_in_progress_with_its_deadline_and_human_bytes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state" / "run.ckpt"
    path.parent.mkdir()
    ident = RunIdentity(endpoint="https://upload.example.test", dialect="v2", account="oauth1:0")
    params = UploadParams(
        media_type="video/mp4", media_category="tweet_video", chunk_size=MiB, strategy="chunked"
    )
    deadline = time.time() + 23 * 60 + 30
    with Checkpoint.open(path, ident) as cp:
        cp.put(
            ItemRecord(
                id="big.mp4",
                path="/v/big.mp4",
                size=3 * MiB + 512 * KiB,
                mtime_ns=1,
                params=params,
                media_id="123",
                upload_deadline=deadline,
            )
        )
        cp.ack("big.mp4", 0)
        cp.ack("big.mp4", 1)

    text = (await status(tmp_path)).out.splitlines()
    summary = json.loads((await status(tmp_path, "--json")).out)

    assert "in progress: 1 (1 uploading, 0 processing, 0 not started)" in text
    assert "bytes acknowledged: 2.0 MiB of 3.5 MiB" in text
    moment = dt.datetime.fromtimestamp(round(deadline), dt.UTC)
    shown = moment.strftime("%Y-%m-%d %H:%M:%S UTC")  # the subprocess has no TZ: UTC
    assert f"nearest upload deadline: {shown} (in 23 min)" in text, text
    assert summary["nearest_upload_deadline"] == moment.isoformat().replace("+00:00", "Z")
    assert (summary["bytes_acknowledged"], summary["bytes_total"]) == (2 * MiB, 3.5 * MiB)
    assert (summary["in_progress"], summary["uploading"], summary["uploads_open"]) == (1, 1, 1)


async def test_status_json_has_the_documented_keys_with_exact_numbers(
    emulator: Emulator, tmp_path: Path
) -> None:
    sources = mixed_sources(tmp_path)
    await upload(emulator, tmp_path, sources)

    summary = json.loads((await status(tmp_path, "--json")).out)
    helped = await bulkup("status", "--help", env=env_for(None))

    assert list(summary) == list(SUMMARY_KEYS)
    for key in ("items", "succeeded", "failed", "bytes_acknowledged", "bytes_total"):
        assert isinstance(summary[key], int) and not isinstance(summary[key], bool), key
    for group in summary["failures"]:
        assert set(group) == {"kind", "count", "example"} and isinstance(group["count"], int)
        assert set(group["example"]) == {"id", "message"}
    assert helped.code == 0
    for key in SUMMARY_KEYS:
        assert key in helped.out, key


# --- what a run leaves in the checkpoint's folder --------------------------------------
async def test_a_clean_run_leaves_only_the_checkpoint_file_in_its_folder(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Before: run.ckpt.lock and an empty run.ckpt.journal stayed beside it."""
    sources = mixed_sources(tmp_path)
    await upload(emulator, tmp_path, sources)
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["run.ckpt"]
    await upload(emulator, tmp_path, sources)  # a rerun that resumes: the same
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["run.ckpt"]


async def test_an_interrupted_run_leaves_only_the_checkpoint_file_and_resumes(
    tmp_path: Path,
) -> None:
    video = samples.write_video(tmp_path / "clip.mp4", width=64, height=64, seconds=2)
    (tmp_path / "state").mkdir()
    async with Emulator(HANG, environ={}) as emu:
        args = [*upload_args(emu, video.name), "--checkpoint", "state/run.ckpt"]
        args += ["--chunk-size", "1KiB", "--segments-per-file", "1"]
        emu.faults.schedule("latency_spike", endpoint="append", after=3)
        async with started(*args, env=env_for(emu), cwd=tmp_path) as process:
            with anyio.fail_after(PROCESS_LIMIT_S):
                await emu.wait_for_fault("latency_spike")  # APPEND #4 hangs on the server
                process.send_signal(signal.SIGINT)
                code = await process.wait()
        assert code == 130, (tmp_path / "stderr.txt").read_text()
        assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["run.ckpt"]
        summary = json.loads((await status(tmp_path, "--json")).out)
        assert (summary["items"], summary["in_progress"], summary["uploads_open"]) == (1, 1, 1)
        assert summary["bytes_acknowledged"] == 3 * KiB
        with Checkpoint.open(tmp_path / "state/run.ckpt", identity(emu)) as checkpoint:
            assert len(checkpoint) == 1

        rerun = await bulkup(*args, env=env_for(emu), cwd=tmp_path)

        assert rerun.code == 0, rerun.err
        assert requests(emu)["append"]  # the rest was sent
        assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["run.ckpt"]
