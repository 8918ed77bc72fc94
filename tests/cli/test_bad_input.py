"""Bad input, as a user meets it: a catalogue of cases, each with what the user must see.

Most cases run ``bulkup upload`` as a subprocess against an emulator in this process
and read what a user reads: the report line (status, ``error.kind``, a message naming
the file and line and the fix), the exit status, the summary on standard error, and
the emulator's view (nothing sent that should not be, every good item byte-exact).

The manifest and source cases share one run over one folder of bad and good input
(:func:`catalogue`): one bad entry never stops the others, so one run shows them all.
Files that change while they upload are driven through the library with an aiohttp
trace hook that acts at an exact APPEND. A full disk is simulated in this process
(``os.write`` fails with ENOSPC for files in one folder) while ``bulkup upload`` runs
through :func:`bulkup.cli.main`, with the emulator served from a portal thread.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import anyio.from_thread
import pytest

from bulkup import cli
from bulkup.client.config import UploadConfig
from bulkup.client.uploader import Uploader
from bulkup.core.items import Item
from bulkup.emulator import Emulator
from bulkup.media import samples
from bulkup.run.checkpoint import Checkpoint, CheckpointMismatch, summarize
from tests.cli.test_cli_upload import (
    PROCESS_LIMIT_S,
    Run,
    bulkup,
    check_line,
    check_succeeded,
    command,
    env_for,
    identity,
    requests,
    started,
    upload_args,
)
from tests.conftest import FAST, HANG, KiB, oauth, said
from tests.conftest import file_sha256 as sha256

pytestmark = pytest.mark.anyio


def unprivileged() -> list[str] | None:
    """A command prefix under which ``chmod 000`` stops the command reading a file.

    Root reads anything while it holds CAP_DAC_OVERRIDE; ``setpriv`` drops it. None
    when running as root without ``setpriv``.
    """
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}"]


def no_traceback(run: Run) -> None:
    assert "Traceback" not in run.err, run.err
    assert "ExceptionGroup" not in run.err, run.err


def total_requests(emu: Emulator) -> int:
    return sum(sum(counts.values()) for counts in requests(emu).values())


# --- the catalogue: one run over every kind of bad manifest entry and file -------------
@dataclass
class Snapshot:
    """What the emulator held when the catalogue run ended (it is stopped by then)."""

    media_by_id: dict[str, dict[str, Any]]
    requests: dict[str, dict[str, int]]

    def media(self, media_id: str) -> dict[str, Any] | None:
        return self.media_by_id.get(media_id)


@dataclass
class Catalogue:
    run: Run
    root: Path
    lines: dict[str, dict[str, Any]]
    server: Snapshot
    #: Manifest line numbers by what the line holds.
    at: dict[str, str] = field(default_factory=dict)
    unreadable_tested: bool = True

    def line(self, item_id: str) -> dict[str, Any]:
        assert item_id in self.lines, sorted(self.lines)
        line = self.lines[item_id]
        check_line(line)
        return line

    def failed(self, item_id: str, kind: str, *words: str) -> str:
        """The item failed with ``kind``; its message holds every word; nothing was uploaded."""
        line = self.line(item_id)
        assert line["status"] == "failed", line
        assert line["error"]["kind"] == kind, line["error"]
        assert line["media_id_string"] is None, line
        message: str = line["error"]["message"]
        for word in words:
            assert word in message, (word, message)
        return message

    def succeeded(self, item_id: str, path: Path) -> dict[str, Any]:
        line = self.line(item_id)
        check_succeeded(line, self.server, path)  # type: ignore[arg-type]
        return line


MANIFEST = "lists/main.jsonl"


def _main_manifest(media: str) -> tuple[str, dict[str, str]]:
    """The JSONL manifest's text and the place (``file:line``) of each case."""
    entries = [
        ("good", json.dumps({"path": f"{media}/good.png", "id": "good"})),
        ("invalid-json", '{"path": "../media/good.png", "id": "broken"'),
        ("array", json.dumps([f"{media}/good.png"])),
        ("no-path", json.dumps({"id": "no-path", "alt_text": "where is it?"})),
        ("clip", json.dumps({"path": f"{media}/clip.mp4", "id": "clip"})),
        ("lies", json.dumps({"path": f"{media}/lies.jpg", "id": "lies"})),
        ("notes", json.dumps({"path": f"{media}/notes.bin", "id": "notes"})),
        ("empty", json.dumps({"path": f"{media}/empty.png", "id": "empty"})),
        ("folder", json.dumps({"path": f"{media}/folder.png", "id": "folder"})),
        ("nope", json.dumps({"path": f"{media}/nope.png", "id": "nope"})),
        ("locked", json.dumps({"path": f"{media}/locked.png", "id": "locked"})),
        ("unicode", json.dumps({"path": f"{media}/sp ace é 📷.png"}, ensure_ascii=False)),
        ("duplicate", json.dumps({"path": f"{media}/clip.mp4", "id": "good"})),
    ]
    at = {name: f"{MANIFEST}:{number}" for number, (name, _) in enumerate(entries, 1)}
    return "\n".join(text for _, text in entries) + "\n", at


def _write_catalogue(root: Path) -> dict[str, str]:
    media, lists, scan = root / "media", root / "lists", root / "scan"
    for folder in (media, lists, scan / "ünï cødé", scan / "sub"):
        folder.mkdir(parents=True)
    samples.write_image(media / "good.png", fmt="png", seed=1)
    samples.write_video(media / "clip.mp4", width=64, height=64, seconds=1, seed=2)
    samples.write_image(media / "lies.jpg", fmt="png", seed=3)  # PNG bytes, .jpg name
    samples.write_bytes(media / "notes.bin", 3000, seed=4)
    (media / "empty.png").write_bytes(b"")
    (media / "folder.png").mkdir()
    samples.write_image(media / "locked.png", fmt="png", seed=5).chmod(0)
    samples.write_image(media / "sp ace é 📷.png", fmt="png", seed=6)
    samples.write_image(scan / "a.png", fmt="png", seed=7)
    samples.write_image(scan / "ünï cødé" / "📷 é.png", fmt="png", seed=8)
    (scan / "sub" / "loop").symlink_to("..")  # back to scan/: not followed by default
    (scan / "self.png").symlink_to("self.png")  # a link to itself
    text, at = _main_manifest("../media")
    (lists / "main.jsonl").write_text(text, encoding="utf-8")
    (lists / "list.json").write_text(
        '[{"path": "../media/good.png", "id": "good-json"},\n'
        " 42,\n"
        ' {"path": "../media/good.png", "id": "bad-category", "media_category": "bogus"},\n'
        ' {"path": "../media/lies.jpg", "id": "after-json"}]\n'
    )
    (lists / "syntax.json").write_text(
        '[{"path": "../media/good.png", "id": "never"},\n {"path": oops}]\n'
    )
    (lists / "rows.csv").write_text(
        "path,id,alt_text\n"
        "../media/good.png,good-csv,A photo\n"
        "../media/good.png,too-many,a, b, c\n"
        "../media/lies.jpg,after-csv,\n"
    )
    return at


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Catalogue:
    root = tmp_path_factory.mktemp("catalogue")
    at = _write_catalogue(root)
    prefix = unprivileged()
    sources = [MANIFEST, "lists/list.json", "lists/syntax.json", "lists/rows.csv", "scan"]
    sources.append("missing-source.png")

    async def main() -> tuple[Run, Snapshot]:
        async with Emulator(FAST, environ={}) as emu:
            args = [*upload_args(emu, *sources), "--chunk-size", "4KiB", "--report", "r.jsonl"]
            with anyio.fail_after(PROCESS_LIMIT_S):
                done = await anyio.run_process(
                    [*(prefix or []), *command(*args)], env=env_for(emu), cwd=root, check=False
                )
            snapshot = Snapshot({m["media_id"]: m for m in emu.all_media()}, requests(emu))
        report = (root / "r.jsonl").read_text(encoding="utf-8")
        return Run(done.returncode, report, done.stderr.decode()), snapshot

    run, server = anyio.run(main)
    lines: dict[str, dict[str, Any]] = {}
    for line in run.lines():
        error = line["error"] or {}
        if error.get("kind") == "duplicate_id":  # reported under its place, not the id
            named = re.search(r"duplicate id '([^']+)'", error["message"])
            assert named is not None, error
            lines[named.group(1) + " (duplicate)"] = line
        else:
            lines[line["id"]] = line
    return Catalogue(run, root, lines, server, at, unreadable_tested=prefix is not None)


def test_the_catalogue_run_reports_every_entry_and_exits_1(catalogue: Catalogue) -> None:
    run = catalogue.run
    assert run.code == 1, run.err
    no_traceback(run)
    succeeded = 10 if catalogue.unreadable_tested else 11  # root reads a chmod 000 file
    assert len(run.lines()) == len(catalogue.lines) == 26
    assert f"{succeeded} succeeded" in run.err and f"{25 - succeeded} failed" in run.err, run.err
    assert "1 skipped" in run.err  # the symlink to a folder


def test_malformed_jsonl_lines_fail_alone_naming_file_line_and_fix(catalogue: Catalogue) -> None:
    at = catalogue.at
    # The report line's id is the place, named once: the message does not repeat it.
    catalogue.failed(at["invalid-json"], "invalid_entry", "invalid JSON")
    catalogue.failed(at["array"], "invalid_entry", "expected a JSON object, found an array")
    message = catalogue.failed(at["no-path"], "invalid_entry", 'no "path"')
    assert '{"path": "a.jpg"}' in message  # the fix: what a line must look like
    assert at["invalid-json"] in catalogue.run.err  # the summary names the place too
    catalogue.succeeded("good", catalogue.root / "media/good.png")  # the lines around proceed
    catalogue.succeeded("clip", catalogue.root / "media/clip.mp4")


def test_malformed_json_array_elements_fail_alone_naming_file_and_line(
    catalogue: Catalogue,
) -> None:
    catalogue.failed("lists/list.json:2", "invalid_entry", "found a number")
    message = catalogue.failed(
        "bad-category", "invalid_value", "lists/list.json:3", "invalid media_category 'bogus'"
    )
    assert "tweet_image" in message  # the allowed values
    catalogue.succeeded("good-json", catalogue.root / "media/good.png")
    catalogue.succeeded("after-json", catalogue.root / "media/lies.jpg")


def test_a_json_manifest_that_is_not_json_is_one_failure_naming_the_line(
    catalogue: Catalogue,
) -> None:
    message = catalogue.failed("lists/syntax.json:2", "invalid_entry", "invalid JSON")
    assert "one JSON array of objects" in message
    assert "never" not in catalogue.lines  # nothing of a file that does not parse is guessed


def test_a_malformed_csv_row_fails_alone_naming_file_line_and_fix(catalogue: Catalogue) -> None:
    message = catalogue.failed(
        "lists/rows.csv:3", "invalid_entry", "5 values but the header names 3 columns"
    )
    assert "quote values that contain commas" in message
    assert catalogue.succeeded("good-csv", catalogue.root / "media/good.png")
    assert catalogue.succeeded("after-csv", catalogue.root / "media/lies.jpg")


def test_a_missing_source_fails_alone_and_the_other_sources_go_on(catalogue: Catalogue) -> None:
    catalogue.failed(
        "missing-source.png", "missing_file", "no such file or directory", "check the path"
    )
    catalogue.succeeded("scan/a.png", catalogue.root / "scan/a.png")


def test_a_missing_file_in_a_manifest_names_the_line_and_where_relative_paths_start(
    catalogue: Catalogue,
) -> None:
    catalogue.failed(
        "nope",
        "missing_file",
        catalogue.at["nope"],
        str(catalogue.root / "media/nope.png"),
        f"relative paths start at {catalogue.root / 'lists'}",
    )


def test_an_unreadable_file_names_the_fix_and_is_never_sent(catalogue: Catalogue) -> None:
    if not catalogue.unreadable_tested:
        pytest.skip("running as root without setpriv: chmod 000 does not stop root reading")
    catalogue.failed("locked", "unreadable", catalogue.at["locked"], "permission denied", "chmod")


def test_a_directory_where_a_file_is_expected_is_not_a_file(catalogue: Catalogue) -> None:
    catalogue.failed(
        "folder", "not_a_file", catalogue.at["folder"], "is a directory, not a file", "scan it"
    )


def test_a_zero_byte_file_is_empty_and_never_sent(catalogue: Catalogue) -> None:
    catalogue.failed("empty", "empty_file", catalogue.at["empty"], "is empty (0 bytes)")


def test_a_file_of_unknown_type_is_refused_before_any_request(catalogue: Catalogue) -> None:
    message = catalogue.failed("notes", "preflight", "type unrecognized")
    assert "JPEG, PNG, GIF" in message  # what it would have to be
    assert catalogue.line("notes")["path"] == str(catalogue.root / "media/notes.bin")


def test_an_extension_that_lies_uploads_the_true_type_with_a_warning(
    catalogue: Catalogue,
) -> None:
    line = catalogue.succeeded("lies", catalogue.root / "media/lies.jpg")
    assert line["media_type"] == "image/png"
    assert line["warnings"] == ["lies.jpg: the bytes are PNG; uploading as image/png"]
    assert catalogue.server.media(line["media_id_string"])["detected_type"] == "image/png"  # type: ignore[index]
    assert "warning: lies.jpg: the bytes are PNG" in catalogue.run.err


def test_a_duplicate_id_fails_naming_where_it_was_first_and_the_first_is_uploaded(
    catalogue: Catalogue,
) -> None:
    message = catalogue.failed("good (duplicate)", "duplicate_id", "duplicate id 'good'")
    assert f"first at {catalogue.at['good']}" in message and "set distinct" in message
    # Reported under its own place, so the id "good" stays the succeeded first entry's.
    assert catalogue.lines["good (duplicate)"]["id"] == catalogue.at["duplicate"]
    catalogue.succeeded("good", catalogue.root / "media/good.png")


def test_unicode_and_spaces_in_paths_upload_byte_exact_under_their_own_names(
    catalogue: Catalogue,
) -> None:
    catalogue.succeeded("../media/sp ace é 📷.png", catalogue.root / "media/sp ace é 📷.png")
    catalogue.succeeded("scan/ünï cødé/📷 é.png", catalogue.root / "scan/ünï cødé/📷 é.png")


def test_a_symlink_in_a_scanned_folder_is_one_line_and_the_scan_goes_on(
    catalogue: Catalogue,
) -> None:
    loop = catalogue.line("scan/sub/loop")  # to a folder: not followed, so never a loop
    assert (loop["status"], loop["error"]["kind"]) == ("skipped", "symlink_not_followed")
    assert "--follow-symlinks" in loop["error"]["message"]
    catalogue.failed("scan/self.png", "symlink_loop", "symlink loop at")
    catalogue.succeeded("scan/a.png", catalogue.root / "scan/a.png")


# --- files too large, changed or deleted ------------------------------------------------
async def test_a_file_too_large_for_1000_segments_fails_before_any_request(
    emulator: Emulator, tmp_path: Path
) -> None:
    huge = samples.write_video(tmp_path / "huge.mp4", width=64, height=64, seconds=1)
    with huge.open("r+b") as f:
        f.truncate(1000 * 5 * 1024 * 1024 + 1)  # sparse: one byte more than 1000 × 5 MiB
    samples.write_image(tmp_path / "small.png", fmt="png")

    judged = await bulkup(*upload_args(emulator, "huge.mp4"), env=env_for(emulator), cwd=tmp_path)
    unjudged = await bulkup(
        *upload_args(emulator, "huge.mp4", "small.png"),
        "--no-preflight",
        env=env_for(emulator),
        cwd=tmp_path,
    )

    assert judged.code == unjudged.code == 1
    no_traceback(judged)
    no_traceback(unjudged)
    (by_rules,) = judged.lines()
    assert by_rules["error"]["kind"] == "preflight"
    assert "size 5000.0 MiB exceeds 512 MiB for tweet_video" in by_rules["error"]["message"]
    lines = {line["id"]: line for line in unjudged.lines()}
    error = lines["huge.mp4"]["error"]
    assert error["kind"] == "file_too_large"
    assert "at most 1000 segments of 5242880 bytes" in error["message"]
    check_succeeded(lines["small.png"], emulator, tmp_path / "small.png")
    assert set(requests(emulator)) == {"upload"}  # the small image only: no INIT for the huge one


def trace_appends(on_append: Callable[[int], None]) -> aiohttp.TraceConfig:
    """Calls ``on_append(n)`` as the n-th APPEND (1-based) is about to be sent."""
    trace = aiohttp.TraceConfig()
    count = 0

    async def on_request_start(
        session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestStartParams
    ) -> None:
        nonlocal count
        if params.url.path.endswith("/append"):
            count += 1
            on_append(count)

    trace.on_request_start.append(on_request_start)
    return trace


@contextlib.asynccontextmanager
async def traced_uploader(
    emu: Emulator, on_append: Callable[[int], None], **config: Any
) -> AsyncIterator[Uploader]:
    upload_config = UploadConfig(api="v2", endpoint=emu.url, **config)
    async with (
        aiohttp.ClientSession(trace_configs=[trace_appends(on_append)]) as http,
        Uploader(upload_config, auth=oauth(emu), http=http) as up,
    ):
        yield up


def two_items(folder: Path) -> tuple[Path, list[Item]]:
    """A video of eight 4 KiB segments, dated a minute ago, and an image beside it."""
    video = samples.write_video(folder / "clip.mp4", width=64, height=64, seconds=2, seed=1)
    a_minute_ago = video.stat().st_mtime - 60
    os.utime(video, (a_minute_ago, a_minute_ago))
    image = samples.write_image(folder / "photo.png", fmt="png", seed=2)
    return video, [Item(id="clip", path=video), Item(id="photo", path=image)]


async def test_a_file_modified_during_upload_is_never_finalized_and_a_rerun_sends_it_whole(
    emulator: Emulator, tmp_path: Path
) -> None:
    video, items = two_items(tmp_path)
    checkpoint = tmp_path / "run.ckpt"

    def rewrite(n: int) -> None:
        if n == 3:  # two segments acknowledged, the third on its way: the file changes
            samples.write_video(video, width=64, height=64, seconds=2, seed=7)

    config = {"chunk_size": 4 * KiB, "segments_per_file": 1}
    async with traced_uploader(emulator, rewrite, **config) as up:
        first = {r.id: r async for r in up.upload_many(items, checkpoint=checkpoint)}

    clip = first["clip"]
    assert clip.status == "failed" and clip.error is not None
    assert clip.error.kind == "file_changed"
    assert "changed during the upload" in clip.error.message and str(video) in clip.error.message
    assert first["photo"].ok
    assert "finalize" not in requests(emulator)  # never FINALIZEd with old and new bytes mixed

    async with traced_uploader(emulator, lambda n: None, **config) as up:
        second = {r.id: r async for r in up.upload_many(items, checkpoint=checkpoint)}

    assert second["clip"].ok and not second["clip"].resumed
    info = emulator.media(second["clip"].media_id_string)  # type: ignore[arg-type]
    assert info is not None and info["sha256"] == sha256(video)  # the file as it is now
    assert second["photo"].resumed
    assert requests(emulator)["initialize"] == {"200": 2}  # a new upload session for the new bytes


async def test_a_file_deleted_during_upload_fails_clearly_and_the_others_go_on(
    emulator: Emulator, tmp_path: Path
) -> None:
    video, items = two_items(tmp_path)

    def delete(n: int) -> None:
        if n == 3:
            video.unlink()

    async with traced_uploader(emulator, delete, chunk_size=4 * KiB, segments_per_file=1) as up:
        results = {r.id: r async for r in up.upload_many(items)}

    clip = results["clip"]
    assert clip.status == "failed" and clip.error is not None
    assert clip.error.kind == "file_changed"
    assert clip.error.message == f"{video} was deleted during the upload"
    assert results["photo"].ok
    assert "finalize" not in requests(emulator)
    assert [m["state"] for m in emulator.all_media() if m["media_category"] == "tweet_video"] == [
        "uploading"
    ]


# --- checkpoints ------------------------------------------------------------------------
def files_of(checkpoint: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in (checkpoint, checkpoint.with_name(checkpoint.name + ".journal"))
        if p.exists()
    }


@pytest.mark.parametrize("differs", ["endpoint", "dialect"])
async def test_a_checkpoint_written_for_another_endpoint_or_dialect_is_refused_untouched(
    emulator: Emulator, tmp_path: Path, differs: str
) -> None:
    samples.write_image(tmp_path / "a.png", fmt="png")
    other_url = emulator.url.replace("127.0.0.1", "localhost")
    first_args = [
        "upload",
        "a.png",
        "--endpoint",
        other_url if differs == "endpoint" else emulator.url,
    ]
    first_args += ["--api", "v1.1" if differs == "dialect" else "v2", "--checkpoint", "run.ckpt"]
    first = await bulkup(*first_args, env=env_for(emulator), cwd=tmp_path)
    assert first.code == 0, first.err
    before, sent = files_of(tmp_path / "run.ckpt"), total_requests(emulator)

    run = await bulkup(
        *upload_args(emulator, "a.png"),
        "--checkpoint",
        "run.ckpt",
        env=env_for(emulator),
        cwd=tmp_path,
    )

    assert run.code == 2
    no_traceback(run)
    assert "checkpoint run.ckpt was written for" in run.err
    assert {"endpoint": f"endpoint {other_url}", "dialect": "API dialect v1.1"}[differs] in run.err
    assert "use another --checkpoint file" in run.err
    assert run.out == ""
    assert total_requests(emulator) == sent  # nothing was sent
    assert files_of(tmp_path / "run.ckpt") == before


async def test_a_refused_checkpoint_reaches_library_users_as_itself_not_in_a_group(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Regression: errors inside ``async with Uploader`` came out as ExceptionGroups."""
    path = samples.write_image(tmp_path / "a.png", fmt="png")
    items = [Item(id="a", path=path)]
    v1 = UploadConfig(api="v1.1", endpoint=emulator.url)
    async with Uploader(v1, auth=oauth(emulator)) as up:
        assert [r.ok async for r in up.upload_many(items, checkpoint=tmp_path / "c")] == [True]

    with pytest.raises(CheckpointMismatch, match=r"API dialect v1\.1"):
        async with Uploader(UploadConfig(endpoint=emulator.url), auth=oauth(emulator)) as up:
            async for _ in up.upload_many(items, checkpoint=tmp_path / "c"):
                pass
    with pytest.raises(KeyError):  # any error of the caller's own goes through unchanged
        async with Uploader(UploadConfig(endpoint=emulator.url), auth=oauth(emulator)):
            raise KeyError("mine")


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
async def test_a_damaged_checkpoint_is_a_clear_error_and_left_untouched(
    emulator: Emulator, tmp_path: Path, damage: str
) -> None:
    samples.write_image(tmp_path / "a.png", fmt="png")
    args = [*upload_args(emulator, "a.png"), "--checkpoint", "run.ckpt"]
    assert (await bulkup(*args, env=env_for(emulator), cwd=tmp_path)).code == 0
    snapshot = tmp_path / "run.ckpt"
    good = snapshot.read_bytes()
    snapshot.write_bytes(
        b"\x00\x01 not a checkpoint {" if damage == "garbage" else good[: len(good) // 2]
    )
    before, sent = files_of(snapshot), total_requests(emulator)

    run = await bulkup(*args, env=env_for(emulator), cwd=tmp_path)

    assert run.code == 2
    no_traceback(run)
    assert "checkpoint run.ckpt is damaged" in run.err
    assert "it was left untouched" in run.err and "move or delete it" in run.err
    assert files_of(snapshot) == before
    assert total_requests(emulator) == sent


async def test_a_torn_last_journal_line_resumes_from_every_event_before_it(
    tmp_path: Path,
) -> None:
    video = samples.write_video(tmp_path / "clip.mp4", width=64, height=64, seconds=2)
    segments = -(-video.stat().st_size // KiB)
    async with Emulator(HANG, environ={}) as emu:
        args = [*upload_args(emu, "clip.mp4"), "--checkpoint", "run.ckpt", "--chunk-size", "1KiB"]
        args += ["--segments-per-file", "1"]
        emu.faults.schedule("latency_spike", endpoint="append", after=5)
        async with started(*args, env=env_for(emu), cwd=tmp_path) as process:
            with anyio.fail_after(PROCESS_LIMIT_S):
                await emu.wait_for_fault("latency_spike")  # APPEND #6 hangs: 5 acknowledged
                process.send_signal(signal.SIGKILL)
                await process.wait()
        journal = tmp_path / "run.ckpt.journal"
        lines = journal.read_bytes().splitlines(keepends=True)
        last = json.loads(lines[-1])
        assert (last["a"], last["i"], len(last["h"])) == ("clip.mp4", 4, 64)  # with its hash
        journal.write_bytes(b"".join(lines[:-1]) + lines[-1][:7])  # a crash in mid-write

        run = await bulkup(*args, env=env_for(emu), cwd=tmp_path)

        assert run.code == 0, run.err
        (line,) = run.lines()
        check_succeeded(line, emu, video)
        assert requests(emu)["initialize"] == {"200": 1}  # the same upload session went on
        assert requests(emu)["append"]["200"] == 5 + (segments - 4)  # segment 4 sent again


async def test_a_second_process_on_the_same_checkpoint_is_refused_naming_the_first(
    tmp_path: Path,
) -> None:
    video = samples.write_video(tmp_path / "clip.mp4", width=64, height=64, seconds=2)
    async with Emulator(HANG, environ={}) as emu:
        args = [*upload_args(emu, "clip.mp4"), "--checkpoint", "run.ckpt", "--chunk-size", "1KiB"]
        args += ["--segments-per-file", "1"]  # the hung APPEND holds the whole run
        emu.faults.schedule("latency_spike", endpoint="append", after=2)
        async with started(
            *args, "--report", "first.jsonl", env=env_for(emu), cwd=tmp_path
        ) as first:
            with anyio.fail_after(PROCESS_LIMIT_S):
                await emu.wait_for_fault("latency_spike")
                sent = total_requests(emu)

                second = await bulkup(
                    *args, "--report", "second.jsonl", env=env_for(emu), cwd=tmp_path
                )

                assert second.code == 2
                no_traceback(second)
                assert f"checkpoint run.ckpt is in use by process {first.pid}" in second.err
                assert "wait for that run to end or use another --checkpoint file" in second.err
                assert total_requests(emu) == sent  # the second run sent nothing
                assert not (tmp_path / "second.jsonl").exists()  # refused before creating it
                first.send_signal(signal.SIGINT)
                assert await first.wait() == 130  # the first run was not disturbed

        rerun = await bulkup(*args, "--report", "third.jsonl", env=env_for(emu), cwd=tmp_path)
        assert rerun.code == 0, rerun.err
        (line,) = [json.loads(x) for x in (tmp_path / "third.jsonl").read_text().splitlines()]
        check_succeeded(line, emu, video)
        assert requests(emu)["initialize"] == {"200": 1}


# --- credentials and clocks -------------------------------------------------------------
async def test_invalid_credentials_give_one_clear_401_and_no_retry_storm(
    emulator: Emulator, tmp_path: Path
) -> None:
    (tmp_path / "media").mkdir()
    for i in range(4):
        samples.write_video(tmp_path / f"media/v{i}.mp4", width=64, height=64, seconds=1, seed=i)
        samples.write_image(tmp_path / f"media/p{i}.png", fmt="png", seed=i)
    env = env_for(None) | {"X_BEARER_TOKEN": "not-a-token-anyone-issued"}

    args = ["--chunk-size", "4KiB", "--files-in-flight", "4"]
    run = await bulkup(*upload_args(emulator, "media"), *args, env=env, cwd=tmp_path)

    assert run.code == 2
    no_traceback(run)
    statuses = sorted({line["status"] for line in run.lines()})
    assert len(run.lines()) == 8 and statuses in (["failed"], ["failed", "skipped"])
    refused = [line["error"] for line in run.lines() if line["status"] == "failed"]
    assert all(e["kind"] == "auth_error" and e["http_status"] == 401 for e in refused)
    assert "X_BEARER_TOKEN" in refused[0]["message"]
    assert said(run.err).count(refused[0]["message"]) == 1, run.err  # said once, not per file
    assert "stopped: the API refused the credentials (HTTP 401)" in run.err
    assert "Fix the credentials" in run.err
    assert total_requests(emulator) <= 4, requests(emulator)  # files in flight, then stop
    assert "not-a-token" not in run.err + run.out


SKEWED_CLOCK = "import time\n_real = time.time\ntime.time = lambda: _real() - 600\n"


@pytest.mark.parametrize(
    "api",
    ["v1.1", "v2"],
)
async def test_a_clock_ten_minutes_slow_is_explained_as_a_clock_problem(
    emulator: Emulator, tmp_path: Path, api: str
) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site/sitecustomize.py").write_text(SKEWED_CLOCK)  # this machine's clock is off
    samples.write_video(tmp_path / "clip.mp4", width=64, height=64, seconds=1)
    samples.write_image(tmp_path / "photo.png", fmt="png")
    env = env_for(emulator) | {"PYTHONPATH": str(tmp_path / "site")}

    run = await bulkup(
        *upload_args(emulator, "clip.mp4", "photo.png", api=api), env=env, cwd=tmp_path
    )

    assert run.code == 2
    no_traceback(run)
    assert "Set this machine's clock right (NTP)" in run.err
    errors = [line["error"] for line in run.lines() if line["status"] == "failed"]
    assert errors and all(e["kind"] == "auth_error" and e["http_status"] == 401 for e in errors)
    assert "Timestamp out of bounds" in errors[0]["message"]
    assert "check this machine's clock (NTP)" in errors[0]["message"]
    assert "X_API_SECRET" not in errors[0]["message"]  # not sent off checking credentials
    assert total_requests(emulator) <= 2


# --- options ---------------------------------------------------------------------------
def option(*words: str, expected: str, id: str) -> Any:
    return pytest.param(list(words), expected, id=id)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        option(
            "--processing-timeout",
            "nan",
            expected="not a number of seconds >= 0: 'nan'",
            id="processing-timeout-nan",
        ),
        option(
            "--processing-timeout",
            "-5",
            expected="not a number of seconds >= 0: '-5'",
            id="processing-timeout-negative",
        ),
        option(
            "--segments-per-file",
            "0",
            expected="segments_per_file must be a whole number >= 1",
            id="segments-per-file-0",
        ),
        option(
            "--max-attempts",
            "0",
            expected="max_attempts must be a whole number >= 1",
            id="max-attempts-0",
        ),
        option(
            "--chunk-size",
            "0",
            expected="chunk_size must be between 1 and 5242880 bytes",
            id="chunk-size-0",
        ),
        option(
            "--endpoint",
            "ftp://127.0.0.1",
            expected="endpoint must be an http(s) URL",
            id="endpoint-ftp",
        ),
        option(
            "--ca-bundle",
            "missing.pem",
            expected="cannot load the CA bundle missing.pem",
            id="ca-bundle-missing-pem",
        ),
        option(
            "--ca-bundle",
            "a.png",
            expected="cannot load the CA bundle a.png",
            id="ca-bundle-not-pem",
        ),
        option(
            "--checkpoint",
            "folder",
            expected="cannot read checkpoint folder: Is a directory",
            id="checkpoint-folder",
        ),
        option(
            "--checkpoint",
            "nowhere/run.ckpt",
            expected="cannot create nowhere/run.ckpt.lock",
            id="checkpoint-nowhere-run-ckpt",
        ),
        option(
            "--report",
            "nowhere/r.jsonl",
            expected="cannot create the report nowhere/r.jsonl",
            id="report-nowhere-r-jsonl",
        ),
        option(
            "--posts",
            "nowhere/posts.jsonl",
            expected="cannot write nowhere/posts.jsonl",
            id="posts-nowhere-posts-jsonl",
        ),
    ],
)
async def test_an_invalid_option_value_exits_2_before_sending_anything(
    emulator: Emulator, tmp_path: Path, options: list[str], expected: str
) -> None:
    samples.write_image(tmp_path / "a.png", fmt="png")
    (tmp_path / "folder").mkdir()

    run = await bulkup(
        *upload_args(emulator, "a.png"), *options, env=env_for(emulator), cwd=tmp_path
    )

    assert run.code == 2, run.err
    assert expected in run.err, run.err
    no_traceback(run)
    assert run.out == ""
    assert requests(emulator) == {}
    assert not (tmp_path / "nowhere").exists()


# --- a full disk -----------------------------------------------------------------------
@contextlib.contextmanager
def served() -> Iterator[Emulator]:
    """An emulator on its own event loop thread, so ``bulkup.cli.main`` can run in this one."""
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(Emulator(FAST, environ={})) as emu,
    ):
        yield emu


@dataclass
class FillingDisk:
    """Writes to files in ``folder`` fail with ENOSPC once ``room`` bytes were written.

    After ``refusals`` failed writes (None: never) there is room again, as when another
    program deletes its temporary files.
    """

    folder: Path
    room: int
    refusals: int | None = None
    written: int = 0
    refused: int = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_write = os.write

        def write(fd: int, data: Any) -> int:
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                target = ""
            if not target.startswith(f"{self.folder}{os.sep}"):
                return real_write(fd, data)
            left = self.room - self.written
            if self.refusals is not None and self.refused >= self.refusals:
                left = len(data)
            elif left <= 0:
                self.refused += 1
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            done = real_write(fd, bytes(memoryview(data)[:left]))  # a short write, like ext4
            self.written += done
            return done

        monkeypatch.setattr(os, "write", write)


def cli_upload(emu: Emulator, *args: object) -> int:
    return cli.main(["upload", "--endpoint", emu.url, *(str(a) for a in args)])


def upload_env(emu: Emulator, folder: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Three videos of several segments in ``folder/media``; credentials in the environment."""
    for name, value in env_for(emu).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(folder)
    (folder / "media").mkdir()
    return [
        samples.write_video(folder / f"media/v{i}.mp4", width=64, height=64, seconds=1, seed=i)
        for i in range(3)
    ]


def report_of(path: Path) -> dict[str, dict[str, Any]]:
    return {line["id"]: line for line in map(json.loads, path.read_text().splitlines())}


@pytest.mark.parametrize("refusals", [None, 1], ids=["stays-full", "frees-up-before-exit"])
def test_disk_full_while_writing_the_checkpoint_stops_clearly_and_keeps_what_was_recorded(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    refusals: int | None,
) -> None:
    with served() as emu:
        files = upload_env(emu, tmp_path, monkeypatch)
        (tmp_path / "state").mkdir()
        args = ["media", "--checkpoint", "state/run.ckpt", "--chunk-size", "4KiB"]
        args += ["--files-in-flight", "1", "--segments-per-file", "1"]
        # An item journals about 2,000 bytes, and the next one starts (its INIT) before
        # the first one's result is written: room for one and a half items.
        disk = FillingDisk(tmp_path / "state", room=3200, refusals=refusals)
        with monkeypatch.context() as patch:
            disk.install(patch)
            code = cli_upload(emu, *args, "--report", "first.jsonl")
        err = capsys.readouterr().err

        assert code == 2, err
        assert disk.refused >= 1
        assert "Traceback" not in err and "ExceptionGroup" not in err
        assert "disk full: cannot write checkpoint state/run.ckpt" in err
        assert "free some space and run again" in err
        first = report_of(tmp_path / "first.jsonl")  # whole lines only, each a finished item
        assert 1 <= len(first) < 3, err
        status = summarize(tmp_path / "state/run.ckpt")  # the previous good state loads
        with Checkpoint.open(tmp_path / "state/run.ckpt", identity(emu)) as checkpoint:
            for item_id, line in first.items():
                record = checkpoint.get(item_id)
                assert record is not None and record.result is not None
                assert record.media_id == line["media_id_string"]
        assert status["succeeded"] == len(first)

        code = cli_upload(emu, *args, "--report", "second.jsonl")  # space was freed

        assert code == 0, capsys.readouterr().err
        second = report_of(tmp_path / "second.jsonl")
        assert sorted(second) == sorted(f"media/{p.name}" for p in files)
        for item_id, line in second.items():
            check_succeeded(line, emu, tmp_path / item_id)
            if item_id in first:
                assert (
                    line["resumed"] and line["media_id_string"] == first[item_id]["media_id_string"]
                )
        # Every recorded acknowledgement was kept: only the one APPEND in flight when the
        # write failed (answered, not recorded) can have been sent twice.
        needed = sum(-(-p.stat().st_size // (4 * KiB)) for p in files)
        assert needed <= requests(emu)["append"]["200"] <= needed + 1


def test_disk_full_while_writing_the_report_stops_clearly_with_whole_lines_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with served() as emu:
        files = upload_env(emu, tmp_path, monkeypatch)
        (tmp_path / "out").mkdir()
        args = [
            "media",
            "--checkpoint",
            "run.ckpt",
            "--chunk-size",
            "4KiB",
            "--files-in-flight",
            "1",
        ]
        disk = FillingDisk(tmp_path / "out", room=700)  # one line (~550 bytes) and a bit
        with monkeypatch.context() as patch:
            disk.install(patch)
            code = cli_upload(emu, *args, "--report", "out/report.jsonl")
        err = capsys.readouterr().err

        assert code == 2, err
        assert "Traceback" not in err and "ExceptionGroup" not in err
        assert "disk full: cannot write the report out/report.jsonl; free some space" in err
        assert "(whole lines written before it, kept intact: 1)" in err
        assert "run again with --checkpoint run.ckpt" in err
        first = report_of(tmp_path / "out/report.jsonl")  # no torn second line
        assert len(first) == 1
        (done_id,) = first
        uploaded = requests(emu)

        code = cli_upload(emu, *args, "--report", "out/report.jsonl")

        assert code == 0, capsys.readouterr().err
        second = report_of(tmp_path / "out/report.jsonl")
        assert sorted(second) == sorted(f"media/{p.name}" for p in files)
        assert second[done_id]["resumed"]
        assert second[done_id]["media_id_string"] == first[done_id]["media_id_string"]
        for item_id, line in second.items():
            check_succeeded(line, emu, tmp_path / item_id)
        # The item whose line could not be written was finished: reported, not uploaded again.
        finished = [i for i, line in second.items() if line["resumed"]]
        assert len(finished) >= 2, second
        assert requests(emu)["initialize"]["200"] - uploaded["initialize"]["200"] <= 3 - len(
            finished
        )
