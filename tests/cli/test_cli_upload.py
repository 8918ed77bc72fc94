"""``bulkup upload``, ``status`` and ``demo`` as a user runs them.

Each test starts the emulator in this process on a real port and runs the command
line as a subprocess (``python -m bulkup``) with the emulator's credentials in its
environment; the emulator keeps serving while the test awaits the process.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process

from bulkup.auth.credentials import OAuth1Auth
from bulkup.core import spec
from bulkup.emulator import Emulator
from bulkup.media import samples
from bulkup.run.checkpoint import Checkpoint, RunIdentity, summarize
from tests.apiclient import credentials
from tests.conftest import HANG, KiB
from tests.conftest import file_sha256 as sha256

pytestmark = pytest.mark.anyio

#: A subprocess that takes longer than this is stuck; the test fails instead of hanging.
PROCESS_LIMIT_S = 60
ISO_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
CREDENTIAL_VARS = (
    "X_API_KEY",
    "X_API_SECRET",
    "X_ACCESS_TOKEN",
    "X_ACCESS_TOKEN_SECRET",
    "X_BEARER_TOKEN",
)
#: Every field of a report line and the JSON types it may have.
REPORT_FIELDS: Mapping[str, tuple[type, ...]] = {
    "id": (str,),
    "path": (str, type(None)),
    "status": (str,),
    "media_id_string": (str, type(None)),
    "media_key": (str, type(None)),
    "media_type": (str, type(None)),
    "media_category": (str, type(None)),
    "size": (int, type(None)),
    "expires_at": (str, type(None)),
    "attempts": (int,),
    "elapsed_s": (int, float),
    "error": (dict, type(None)),
}
ERROR_FIELDS: Mapping[str, tuple[type, ...]] = {
    "kind": (str,),
    "message": (str,),
    "http_status": (int, type(None)),
    "api_code": (int, type(None)),
}


# --- helpers --------------------------------------------------------------------------
@dataclass
class Run:
    code: int
    out: str
    err: str

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


def command(*args: object) -> list[str]:
    return [sys.executable, "-m", "bulkup", *(str(a) for a in args)]


def env_for(emu: Emulator | None) -> dict[str, str]:
    """A clean environment: PATH and, for ``emu``, its user's OAuth 1.0a credentials."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    if emu is None:
        return env
    user = emu.user
    return env | {
        "X_API_KEY": user.consumer_key,
        "X_API_SECRET": user.consumer_secret,
        "X_ACCESS_TOKEN": user.access_token,
        "X_ACCESS_TOKEN_SECRET": user.access_token_secret,
    }


async def bulkup(*args: object, env: Mapping[str, str], cwd: Path | None = None) -> Run:
    """Run ``bulkup ARGS`` to the end while this process keeps serving the emulator."""
    with anyio.fail_after(PROCESS_LIMIT_S):
        done = await anyio.run_process(command(*args), env=env, cwd=cwd, check=False)
    return Run(done.returncode, done.stdout.decode(), done.stderr.decode())


def upload_args(emu: Emulator, *sources: object, api: str = "v2") -> list[object]:
    return ["upload", *sources, "--api", api, "--endpoint", emu.url]


def requests(emu: Emulator) -> dict[str, dict[str, int]]:
    return dict(emu.stats()["requests"])


def check_line(line: dict[str, Any]) -> None:
    """Every documented field is there with its JSON type."""
    missing = set(REPORT_FIELDS) - set(line)
    assert not missing, f"report line lacks {missing}: {line}"
    for name, types in REPORT_FIELDS.items():
        value = line[name]
        assert isinstance(value, types) and not isinstance(value, bool), (name, value)
    assert line["status"] in ("succeeded", "failed", "skipped")
    if line["error"] is not None:
        assert set(ERROR_FIELDS) <= set(line["error"]), line["error"]
        for name, types in ERROR_FIELDS.items():
            assert isinstance(line["error"][name], types), (name, line["error"])


def check_succeeded(line: dict[str, Any], emu: Emulator, path: Path) -> None:
    """A succeeded line describes what the emulator holds, byte for byte."""
    check_line(line)
    assert line["status"] == "succeeded" and line["error"] is None, line
    assert line["path"] == str(path)
    assert line["size"] == path.stat().st_size
    assert line["media_id_string"].isdigit()
    key = line["media_key"]  # optional in X's answers: reported when given
    assert key is None or re.fullmatch(r"\d+_" + line["media_id_string"], key), line
    assert line["media_category"] in spec.CATEGORIES
    assert line["attempts"] >= 1 and line["elapsed_s"] >= 0
    assert ISO_UTC.fullmatch(line["expires_at"]), line["expires_at"]
    expires = dt.datetime.strptime(line["expires_at"], "%Y-%m-%dT%H:%M:%S%z")
    left = expires - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=23) < left <= dt.timedelta(hours=24, minutes=1)  # media live 1 day
    info = emu.media(line["media_id_string"])
    assert info is not None, line
    assert info["sha256"] == sha256(path), line["id"]
    assert key is None or info["media_key"] == key


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@dataclass
class MediaSet:
    """Manifests of every format, with relative paths, and a folder to scan."""

    root: Path
    files: dict[str, Path]  # report id -> file
    alt_texts: dict[str, str]
    categories: dict[str, str]
    sources: list[str]  # relative to root, as a user in root types them


def media_set(root: Path) -> MediaSet:
    lists, media, folder = root / "lists", root / "lists" / "media", root / "folder"
    (folder / "sub").mkdir(parents=True)
    media.mkdir(parents=True)
    png = samples.write_image(media / "a.png", fmt="png", width=48, height=32, seed=1)
    gif = samples.write_gif(media / "g.gif", width=32, height=32, frames=3, seed=2)
    mp4 = samples.write_video(media / "v.mp4", width=64, height=64, seconds=1, seed=3)
    jpg = samples.write_image(media / "b.jpg", fmt="jpeg", width=40, height=40, seed=4)
    webp = samples.write_image(media / "c.webp", fmt="webp", width=40, height=40, seed=5)
    gif2 = samples.write_gif(media / "h.gif", width=24, height=24, frames=2, seed=6)
    d1 = samples.write_image(folder / "d1.png", fmt="png", width=24, height=24, seed=7)
    d2 = samples.write_video(folder / "sub" / "d2.mp4", width=64, height=64, seconds=1, seed=8)
    jsonl = [
        {"path": "media/a.png", "alt_text": "A noisy rectangle"},
        {"path": "media/g.gif", "media_category": "TweetGif"},
        {"path": "media/v.mp4", "id": "video-1", "media_category": "TWEET_VIDEO"},
    ]
    (lists / "one.jsonl").write_text("\n".join(json.dumps(e) for e in jsonl) + "\n")
    array = [
        {"path": "media/b.jpg", "alt_text": "Noise, in JPEG"},
        {"path": "media/h.gif", "media_category": "tweet-gif"},
    ]
    (lists / "two.json").write_text(json.dumps(array, indent=2))
    (lists / "three.csv").write_text(
        'Path,Alt_Text,Media_Category\nmedia/c.webp,"A square, in WebP",TWEETIMAGE\n'
    )
    return MediaSet(
        root=root,
        files={
            "media/a.png": png,
            "media/g.gif": gif,
            "video-1": mp4,
            "media/b.jpg": jpg,
            "media/h.gif": gif2,
            "media/c.webp": webp,
            "folder/d1.png": d1,
            "folder/sub/d2.mp4": d2,
        },
        alt_texts={
            "media/a.png": "A noisy rectangle",
            "media/b.jpg": "Noise, in JPEG",
            "media/c.webp": "A square, in WebP",
        },
        categories={
            "media/g.gif": "tweet_gif",
            "video-1": "tweet_video",
            "media/h.gif": "tweet_gif",
            "media/c.webp": "tweet_image",
            "folder/sub/d2.mp4": "tweet_video",
        },
        sources=["lists/one.jsonl", "lists/two.json", "lists/three.csv", "folder"],
    )


def identity(emu: Emulator, api: str = "v2") -> RunIdentity:
    return RunIdentity(
        endpoint=emu.url, dialect=api, account=OAuth1Auth(credentials(emu.user)).account
    )


@contextlib.asynccontextmanager
async def started(
    *args: object, env: Mapping[str, str], cwd: Path, pipe_stderr: bool = False
) -> AsyncIterator[Process]:
    """A running ``bulkup ARGS`` with output in ``cwd``; killed if the test leaves it running."""
    with (cwd / "stdout.txt").open("wb") as out, (cwd / "stderr.txt").open("wb") as err:
        process = await anyio.open_process(
            command(*args),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.PIPE if pipe_stderr else err,
        )
    async with process:
        try:
            yield process
        finally:
            if process.returncode is None:
                process.kill()


# --- sources, dialects, the report ----------------------------------------------------
@pytest.mark.parametrize("api", ["v1.1", "v2"])
async def test_every_source_kind_uploads_byte_exact_with_a_complete_report(
    emulator: Emulator, tmp_path: Path, api: str
) -> None:
    media = media_set(tmp_path)
    report = tmp_path / "report.jsonl"
    report.write_text("stale line from an earlier run\n")
    report.chmod(0o644)

    run = await bulkup(
        *upload_args(emulator, *media.sources, api=api),
        "--report",
        report,
        "--chunk-size",
        "4KiB",
        env=env_for(emulator),
        cwd=tmp_path,  # manifest paths are relative to the manifest's folder, not to this
    )

    assert run.code == 0, run.err
    assert run.out == ""  # the report went to the file
    assert "8 items: 8 succeeded" in run.err
    assert mode(report) == 0o600
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert sorted(line["id"] for line in lines) == sorted(media.files)  # one line per item
    for line in lines:
        check_succeeded(line, emulator, media.files[line["id"]])
        info = emulator.media(line["media_id_string"])
        assert info is not None and info["dialect"] == api
        assert info["alt_text"] == media.alt_texts.get(line["id"]), line["id"]
        if line["id"] in media.categories:
            assert line["media_category"] == media.categories[line["id"]], line["id"]
    assert sum(requests(emulator)["append"].values()) > 4  # chunked uploads took several APPENDs


async def test_a_malformed_manifest_line_fails_alone_naming_file_and_line(
    emulator: Emulator, tmp_path: Path
) -> None:
    samples.write_image(tmp_path / "a.png", fmt="png", seed=1)
    samples.write_image(tmp_path / "c.png", fmt="png", seed=2)
    manifest = tmp_path / "photos.jsonl"
    manifest.write_text('{"path": "a.png"}\n{"path": "b.png",\n{"path": "c.png"}\n')

    run = await bulkup(*upload_args(emulator, "photos.jsonl"), env=env_for(emulator), cwd=tmp_path)

    assert run.code == 1, run.err
    lines = {line["id"]: line for line in run.lines()}  # the report streams to stdout
    assert set(lines) == {"a.png", "photos.jsonl:2", "c.png"}
    bad = lines["photos.jsonl:2"]
    check_line(bad)
    assert bad["status"] == "failed" and bad["error"]["kind"] == "invalid_entry"
    assert bad["error"]["message"].startswith("invalid JSON")  # the id names the place, once
    for name in ("a.png", "c.png"):
        check_succeeded(lines[name], emulator, tmp_path / name)
    assert "1 failed" in run.err and "photos.jsonl:2" in run.err


# --- configuration errors -------------------------------------------------------------
@pytest.mark.parametrize(
    "present",
    [(), ("X_API_KEY", "X_ACCESS_TOKEN")],
    ids=["none", "incomplete-oauth1"],
)
async def test_missing_credentials_exit_2_naming_the_variables(
    emulator: Emulator, tmp_path: Path, present: tuple[str, ...]
) -> None:
    samples.write_image(tmp_path / "a.png", fmt="png")
    env = env_for(None) | {name: "set" for name in present}

    run = await bulkup(*upload_args(emulator, "a.png"), env=env, cwd=tmp_path)

    assert run.code == 2
    assert "Traceback" not in run.err
    for name in CREDENTIAL_VARS:
        assert name in run.err, run.err
    assert run.out == ""
    assert requests(emulator) == {}


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--chunk-size", "6MiB", "5 MiB"),
        ("--chunk-size", "lots", "not a size"),
        ("--concurrency", "0", "concurrency must be a whole number >= 1"),
        ("--files-in-flight", "-1", "files_in_flight must be a whole number >= 1"),
        ("--category", "bogus", "unknown media_category 'bogus'"),
        ("--api", "v3", "invalid choice"),
    ],
)
async def test_an_invalid_option_value_exits_2_with_a_clear_message(
    emulator: Emulator, tmp_path: Path, option: str, value: str, expected: str
) -> None:
    samples.write_image(tmp_path / "a.png", fmt="png")

    run = await bulkup(
        "upload",
        "a.png",
        "--endpoint",
        emulator.url,
        option,
        value,
        env=env_for(emulator),
        cwd=tmp_path,
    )

    assert run.code == 2
    assert expected in run.err, run.err
    assert "Traceback" not in run.err
    assert requests(emulator) == {}


# --- dry run --------------------------------------------------------------------------
async def test_dry_run_sends_nothing_and_plans_every_item(
    emulator: Emulator, tmp_path: Path
) -> None:
    media = media_set(tmp_path)
    before = emulator.stats()

    run = await bulkup(
        *upload_args(emulator, *media.sources), "--dry-run", env=env_for(None), cwd=tmp_path
    )

    assert run.code == 0, run.err
    assert emulator.stats() == before
    *lines, total = run.lines()
    assert sorted(line["id"] for line in lines) == sorted(media.files)
    for line in lines:
        assert line["status"] == "planned" and line["error"] is None, line
        assert line["size"] == media.files[line["id"]].stat().st_size
    assert total["total"]["planned"] == 8 and "8 would upload" in run.err


# --- checkpoints ----------------------------------------------------------------------
def three_files(folder: Path) -> list[Path]:
    folder.mkdir()
    return [
        samples.write_image(folder / "a.png", fmt="png", seed=1),
        samples.write_gif(folder / "b.gif", width=32, height=32, frames=3, seed=2),
        samples.write_video(folder / "c.mp4", width=64, height=64, seconds=1, seed=3),
    ]


async def test_status_prints_the_counts_of_a_finished_run(
    emulator: Emulator, tmp_path: Path
) -> None:
    files = three_files(tmp_path / "media")
    checkpoint = tmp_path / "run.ckpt"
    run = await bulkup(
        *upload_args(emulator, "media"),
        "--checkpoint",
        checkpoint,
        "--chunk-size",
        "4KiB",
        env=env_for(emulator),
        cwd=tmp_path,
    )
    assert run.code == 0, run.err

    text = await bulkup("status", checkpoint, env=env_for(None))
    as_json = await bulkup("status", checkpoint, "--json", env=env_for(None))

    assert text.code == 0 and as_json.code == 0, text.err + as_json.err
    assert "items: 3" in text.out.splitlines()
    assert "succeeded: 3" in text.out.splitlines()
    assert "failed: 0" in text.out.splitlines()
    summary = json.loads(as_json.out)
    total = sum(f.stat().st_size for f in files)
    assert summary["items"] == summary["succeeded"] == 3
    assert summary["failed"] == summary["uploading"] == summary["not_started"] == 0
    assert summary["bytes_total"] == summary["bytes_acknowledged"] == total
    assert summary["endpoint"] == emulator.url and summary["dialect"] == "v2"


async def test_status_of_a_missing_checkpoint_exits_2(tmp_path: Path) -> None:
    run = await bulkup("status", tmp_path / "nope.ckpt", env=env_for(None))
    assert run.code == 2
    assert "no checkpoint at" in run.err and "nope.ckpt" in run.err
    assert "Traceback" not in run.err


async def test_a_second_run_with_the_same_checkpoint_makes_no_upload_requests(
    emulator: Emulator, tmp_path: Path
) -> None:
    three_files(tmp_path / "media")
    args = [*upload_args(emulator, "media"), "--checkpoint", "run.ckpt", "--chunk-size", "4KiB"]
    first = await bulkup(*args, env=env_for(emulator), cwd=tmp_path)
    assert first.code == 0, first.err
    before = requests(emulator)

    second = await bulkup(*args, env=env_for(emulator), cwd=tmp_path)

    assert second.code == 0, second.err
    assert requests(emulator) == before
    media_ids = {line["id"]: line["media_id_string"] for line in first.lines()}
    assert {line["id"]: line["media_id_string"] for line in second.lines()} == media_ids
    assert all(line["resumed"] and line["status"] == "succeeded" for line in second.lines())
    assert "3 succeeded (3 from the checkpoint)" in second.err


# --- demo -----------------------------------------------------------------------------
async def test_demo_uploads_samples_verifies_them_and_exits_0() -> None:
    began = time.perf_counter()
    run = await bulkup("demo", env=env_for(None))
    elapsed = time.perf_counter() - began
    print(f"bulkup demo took {elapsed:.2f} s")

    assert run.code == 0, run.err
    lines = run.lines()
    assert len(lines) == 12
    for line in lines:
        check_line(line)
        assert line["status"] == "succeeded"
    assert "12 media verified" in run.err


# --- interruption ---------------------------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_interrupted_mid_upload_exits_130_or_143_keeps_the_acknowledged_segments_and_resumes(
    tmp_path: Path, signum: signal.Signals
) -> None:
    video = samples.write_video(tmp_path / "clip.mp4", width=64, height=64, seconds=2)
    segments = -(-video.stat().st_size // KiB)
    answered = 5
    async with Emulator(HANG, environ={}) as emu:
        args = [*upload_args(emu, video.name), "--checkpoint", "run.ckpt", "--chunk-size", "1KiB"]
        args += ["--segments-per-file", "1", "--files-in-flight", "1"]
        emu.faults.schedule("latency_spike", endpoint="append", after=answered)
        async with started(*args, env=env_for(emu), cwd=tmp_path) as process:
            with anyio.fail_after(PROCESS_LIMIT_S):
                await emu.wait_for_fault("latency_spike")  # APPEND #6 hangs on the server
                assert process.returncode is None
                process.send_signal(signum)
                code = await process.wait()

        err = (tmp_path / "stderr.txt").read_text()
        assert code == (143 if signum == signal.SIGTERM else 130), err
        assert "interrupted" in err and "Traceback" not in err
        status = summarize(tmp_path / "run.ckpt")
        assert status["uploading"] == 1 and status["bytes_acknowledged"] == answered * KiB
        with Checkpoint.open(tmp_path / "run.ckpt", identity(emu)) as checkpoint:
            record = checkpoint.get("clip.mp4")
            assert record is not None and record.media_id is not None
            assert record.acked == set(range(answered)) and not record.finalized
        appended = requests(emu)["append"]["200"]
        assert appended == answered

        rerun = await bulkup(*args, env=env_for(emu), cwd=tmp_path)

        assert rerun.code == 0, rerun.err
        (line,) = rerun.lines()
        check_succeeded(line, emu, video)
        assert line["media_id_string"] == record.media_id  # the same upload session went on
        assert requests(emu)["append"]["200"] - appended == segments - answered
        assert requests(emu)["initialize"] == {"200": 1}


async def test_a_second_ctrl_c_exits_130_at_once(tmp_path: Path) -> None:
    video = samples.write_video(tmp_path / "clip.mp4", width=64, height=64, seconds=2)
    async with Emulator(HANG, environ={}) as emu:
        emu.faults.schedule("latency_spike", endpoint="append", after=3)
        args = [*upload_args(emu, video.name), "--checkpoint", "run.ckpt"]
        args += ["--chunk-size", "1KiB", "--segments-per-file", "1"]
        async with started(*args, env=env_for(emu), cwd=tmp_path, pipe_stderr=True) as process:
            assert process.stderr is not None
            with anyio.fail_after(PROCESS_LIMIT_S):
                await emu.wait_for_fault("latency_spike")
                process.send_signal(signal.SIGINT)
                seen = b""
                while b"again to quit at once" not in seen:  # the user reads it, presses again
                    seen += await process.stderr.receive()
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGINT)
                code = await process.wait()
                with contextlib.suppress(anyio.EndOfStream):
                    while True:
                        seen += await process.stderr.receive()
        err = seen.decode()
        assert code == 130, err
        assert "Traceback" not in err and "KeyboardInterrupt" not in err
        status = summarize(tmp_path / "run.ckpt")  # whatever the exit path, still readable
        assert status["bytes_acknowledged"] == 3 * KiB


def test_an_interrupt_raised_inside_the_runs_tasks_exits_130_and_prints_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A second Ctrl-C in the moment the loop's receiver was gone and before its
    handler took over raises in a task; its exception group was printed as a task
    exception "never retrieved" when the loop shut down."""
    from bulkup.cli.running import run_interruptible

    async def interrupted() -> int:
        raise KeyboardInterrupt

    with caplog.at_level("ERROR", logger="asyncio"):
        code = run_interruptible(interrupted)
        gc.collect()  # where asyncio logs a task's exception never retrieved

    assert code == 130
    assert not [r.getMessage() for r in caplog.records if r.name == "asyncio"]


def test_report_to_dev_null_is_accepted(tmp_path: Path) -> None:
    from bulkup.run.report import ReportWriter

    writer = ReportWriter(os.devnull)
    writer.close()  # no fsync of a character device: nothing to make durable
