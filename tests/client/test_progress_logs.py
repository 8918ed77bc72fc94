"""Progress events and logs of a real run: counted once, never past 100%."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections import Counter
from pathlib import Path

import anyio
import pytest

from bulkup.auth.credentials import OAuth1Auth
from bulkup.client.config import UploadConfig
from bulkup.client.progress import wait_listener
from bulkup.client.uploader import Uploader
from bulkup.core.items import Item, Result
from bulkup.emulator import Emulator
from bulkup.media import samples
from tests.apiclient import credentials

pytestmark = pytest.mark.anyio


class Recorder:
    def __init__(self) -> None:
        self.sizes: dict[str, int] = {}
        self.acked: Counter[str] = Counter()
        self.states: list[tuple[str, str]] = []
        self.retries = 0
        self.reasons: list[str] = []
        self.waits: list[tuple[str, float]] = []
        self.finished: list[Result] = []

    def item_started(self, item_id: str, size: int, done_bytes: int) -> None:
        self.sizes[item_id] = size
        self.acked[item_id] += done_bytes

    def item_state(self, item_id: str, state: str, percent: int | None = None) -> None:
        self.states.append((item_id, state))

    def bytes_acked(self, item_id: str, count: int) -> None:
        self.acked[item_id] += count

    def retried(self, item_id: str, reason: str) -> None:
        self.retries += 1
        self.reasons.append(reason)

    def waiting(self, endpoint: str, until: float) -> None:
        self.waits.append((endpoint, until))

    def item_finished(self, result: Result) -> None:
        self.finished.append(result)


async def test_acknowledged_bytes_are_counted_once_even_with_retries(
    emulator: Emulator, tmp_path: Path
) -> None:
    videos = [
        samples.write_video(tmp_path / f"v{i}.mp4", width=64, height=64, seconds=1, seed=i)
        for i in range(3)
    ]
    emulator.faults.schedule("error_503", endpoint="append", count=3, after=2)
    emulator.faults.schedule("drop_response", endpoint="append", count=1, after=6)
    recorder = Recorder()
    config = UploadConfig(endpoint=emulator.url, chunk_size=2048, backoff_base=0.0)
    auth = OAuth1Auth(credentials(emulator.user))
    async with Uploader(config, auth=auth, observer=recorder) as up:
        results = [r async for r in up.upload_many(Item(id=v.name, path=v) for v in videos)]
    assert all(r.ok for r in results)
    assert recorder.retries >= 4
    assert recorder.reasons.count("HTTP 503 on append") == 3  # each retry says why
    assert recorder.acked == Counter(recorder.sizes)  # exactly 100% for each file
    assert {r.id for r in recorder.finished} == {v.name for v in videos}
    assert {state for _, state in recorder.states} >= {"finalizing", "processing"}


def test_an_observer_written_before_waiting_existed_still_hears_the_rest() -> None:
    class Older:  # every method of Observer but waiting()
        def item_started(self, item_id: str, size: int, done_bytes: int) -> None: ...

    listener = wait_listener(Older())  # type: ignore[arg-type]  # the point: it lacks waiting
    assert listener("append", 1.0) is None  # a no-op, not an AttributeError


async def test_an_observer_written_before_retry_reasons_still_hears_every_retry(
    emulator: Emulator, tmp_path: Path
) -> None:
    class Older(Recorder):
        def retried(self, item_id: str) -> None:  # type: ignore[override]  # no reason
            self.retries += 1

    video = samples.write_video(tmp_path / "v.mp4", width=64, height=64, seconds=1)
    emulator.faults.schedule("error_503", endpoint="append", count=2)
    older = Older()
    config = UploadConfig(endpoint=emulator.url, chunk_size=4096, backoff_base=0.0)
    auth = OAuth1Auth(credentials(emulator.user))
    # The typing says "update it"; at run time it works on unchanged.
    async with Uploader(config, auth=auth, observer=older) as up:  # type: ignore[arg-type]
        assert (await up.upload(video)).ok
    assert older.retries == 2


def _env(emu: Emulator) -> dict[str, str]:
    user = emu.user
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "X_API_KEY": user.consumer_key,
        "X_API_SECRET": user.consumer_secret,
        "X_ACCESS_TOKEN": user.access_token,
        "X_ACCESS_TOKEN_SECRET": user.access_token_secret,
        "COLUMNS": "100",
    }


async def test_json_logs_give_one_object_per_line_with_item_and_media_id(
    emulator: Emulator, tmp_path: Path
) -> None:
    image = samples.write_image(tmp_path / "a.png", fmt="png")
    args = [
        sys.executable,
        "-m",
        "bulkup",
        "upload",
        str(image),
        "--endpoint",
        emulator.url,
        "--log-level",
        "info",
        "--log-format",
        "json",
        "--report",
        str(tmp_path / "r.jsonl"),
    ]
    done = await anyio.run_process(args, env=_env(emulator), check=False)
    assert done.returncode == 0, done.stderr
    events = [
        json.loads(line) for line in done.stderr.decode().splitlines() if line.startswith("{")
    ]
    (finished,) = [e for e in events if e["event"] == "item_finished"]
    assert finished["item"] == str(image) and finished["media_id"].isdigit()
    assert emulator.user.consumer_secret not in done.stderr.decode()


async def test_progress_shows_on_a_terminal_and_not_in_a_pipe(
    emulator: Emulator, tmp_path: Path
) -> None:
    video = samples.write_video(tmp_path / "v.mp4", width=64, height=64, seconds=1)
    base = [
        sys.executable,
        "-m",
        "bulkup",
        "upload",
        str(video),
        "--endpoint",
        emulator.url,
        "--chunk-size",
        "4KiB",
        "--report",
        str(tmp_path / "r.jsonl"),
    ]
    piped = await anyio.run_process(base, env=_env(emulator), check=False)
    assert (
        piped.returncode == 0 and b"done 1/" not in piped.stderr and b"done 1" not in piped.stderr
    )

    def on_pty(*extra: str) -> bytes:
        leader, follower = pty.openpty()
        proc = subprocess.Popen(
            [*base, *extra],
            env=_env(emulator),
            stdout=subprocess.DEVNULL,
            stderr=follower,
            stdin=subprocess.DEVNULL,
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
        proc.wait(timeout=60)
        os.close(leader)
        assert proc.returncode == 0
        return b"".join(chunks)

    emulator.faults.schedule("error_503", endpoint="append", count=1)
    shown = await anyio.to_thread.run_sync(on_pty)
    assert b"done 1/1" in shown and b"retried 1" in shown and "· failed".encode() not in shown
    assert b"last: HTTP 503 on append" in shown  # the reason of the last retry
    for switch in ("--no-progress", "--quiet"):
        hidden = await anyio.to_thread.run_sync(on_pty, switch)
        assert b"done 1" not in hidden and b"retried" not in hidden, switch


async def test_a_videos_subtitle_upload_opens_no_progress_line_of_its_own(
    emulator: Emulator, tmp_path: Path
) -> None:
    from bulkup.core.items import SubtitleSpec

    video = samples.write_video(tmp_path / "v.mp4", width=64, height=64, seconds=1)
    srt = samples.write_srt(tmp_path / "en.srt")
    item = Item(id="v", path=video, subtitles=(SubtitleSpec(path=srt, language_code="en"),))
    recorder = Recorder()
    config = UploadConfig(endpoint=emulator.url, chunk_size=4 * 1024)
    async with Uploader(
        config, auth=OAuth1Auth(credentials(emulator.user)), observer=recorder
    ) as up:
        results = [r async for r in up.upload_many([item])]
    assert results[0].ok and results[0].subtitles
    assert set(recorder.sizes) == {"v"}  # every line opened is closed by item_finished
    assert [r.id for r in recorder.finished] == ["v"]


async def test_retries_log_at_info_and_a_failed_item_warns_once_at_the_default_level(
    emulator: Emulator, tmp_path: Path
) -> None:
    video = samples.write_video(tmp_path / "v.mp4", width=64, height=64, seconds=1)
    emulator.faults.schedule("error_503", endpoint="append", count=2)
    args = [sys.executable, "-m", "bulkup", "upload", str(video), "--endpoint", emulator.url]
    args += ["--chunk-size", "4KiB", "--segments-per-file", "1", "--max-attempts", "2"]
    args += ["--log-format", "json"]

    async def events(*extra: str) -> list[dict[str, object]]:
        done = await anyio.run_process([*args, *extra], env=_env(emulator), check=False)
        assert done.returncode == 1, done.stderr  # the 503s outlast its two attempts
        lines = done.stderr.decode().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    # the default level, warning: the failure, nothing else (besides the summary)
    (failed,) = [e for e in await events() if e["event"] != "run_finished"]
    assert failed["event"] == "item_failed" and failed["level"] == "warning"
    assert failed["item"] == str(video) and failed["path"] == str(video)
    assert failed["kind"] == "server_error" and failed["http_status"] == 503
    assert failed["message"]  # the server's own words

    emulator.faults.schedule("error_503", endpoint="append", count=2)
    (retry,) = [e for e in await events("--log-level", "info") if e["event"] == "retry"]
    assert retry["level"] == "info" and retry["item"] == str(video)
    assert retry["reason"] == "HTTP 503 on append"
