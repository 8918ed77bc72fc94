"""The hot path's shortcuts give the same bytes and the same errors as the long way."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from bulkup import samples, transport
from bulkup.config import UploadConfig
from bulkup.credentials import OAuth1Auth
from bulkup.emulator import Emulator
from bulkup.errors import FileChanged
from bulkup.filerange import FileRange
from bulkup.uploader import Uploader
from tests.apiclient import credentials

pytestmark = pytest.mark.anyio

CHUNK = 64 * 1024


@pytest.fixture
def data_file(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(3 * CHUNK + 123)
    path = tmp_path / "clip.bin"
    path.write_bytes(data)
    return path, data


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every call handed to a worker thread by the transport."""
    calls: list[Any] = []
    run_sync = anyio.to_thread.run_sync

    async def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(func)
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(transport.anyio.to_thread, "run_sync", counting)
    return calls


@pytest.mark.skipif(transport._NOWAIT is None, reason="no preadv2(RWF_NOWAIT) here")
async def test_a_cached_chunk_is_read_without_a_thread(
    data_file: tuple[Path, bytes], threads: list[Any]
) -> None:
    path, data = data_file
    chunk = await transport.read_chunk(path, CHUNK, CHUNK)
    assert bytes(chunk) == data[CHUNK : 2 * CHUNK]
    assert threads == []


async def test_without_nowait_reads_the_same_bytes_in_a_thread(
    data_file: tuple[Path, bytes], threads: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport, "_NOWAIT", None)
    path, data = data_file
    assert bytes(await transport.read_chunk(path, CHUNK, CHUNK)) == data[CHUNK : 2 * CHUNK]
    assert threads == [transport._read_into]


async def test_a_range_the_cache_cannot_give_is_read_in_a_thread(
    data_file: tuple[Path, bytes], threads: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def not_cached(*args: Any) -> int:
        raise BlockingIOError("would wait for the disk")

    monkeypatch.setattr(transport, "_NOWAIT", 8)
    monkeypatch.setattr(transport.os, "preadv", not_cached)
    path, data = data_file
    assert bytes(await transport.read_chunk(path, 0, CHUNK)) == data[:CHUNK]
    assert threads == [transport._read_into]


async def test_a_partly_cached_range_reads_only_the_rest_in_a_thread(
    data_file: tuple[Path, bytes], threads: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    preadv = os.preadv

    def half_cached(fd: int, buffers: list[bytearray], offset: int, flags: int) -> int:
        with memoryview(buffers[0])[: CHUNK // 2] as half:
            return preadv(fd, [half], offset)

    monkeypatch.setattr(transport, "_NOWAIT", 8)
    monkeypatch.setattr(transport.os, "preadv", half_cached)
    path, data = data_file
    assert bytes(await transport.read_chunk(path, CHUNK, CHUNK)) == data[CHUNK : 2 * CHUNK]
    assert threads == [transport._read_into]


@pytest.mark.parametrize("nowait", [True, False], ids=["cache", "thread"])
async def test_the_last_short_chunk_and_a_shrunk_file(
    data_file: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch, nowait: bool
) -> None:
    if not nowait:
        monkeypatch.setattr(transport, "_NOWAIT", None)
    path, data = data_file
    last = await transport.read_chunk(path, 3 * CHUNK, 123)
    assert bytes(last) == data[3 * CHUNK :]
    with pytest.raises(FileChanged, match="expected 65536 bytes at offset 196608, read 123"):
        await transport.read_chunk(path, 3 * CHUNK, CHUNK)


@pytest.mark.parametrize("nowait", [True, False], ids=["cache", "thread"])
async def test_a_deleted_file_is_reported_as_changed(
    data_file: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch, nowait: bool
) -> None:
    if not nowait:
        monkeypatch.setattr(transport, "_NOWAIT", None)
    path, _ = data_file
    path.unlink()
    with pytest.raises(FileChanged, match="was deleted during the upload"):
        await transport.read_chunk(path, 0, CHUNK)


# --- start-up ---------------------------------------------------------------------------
def test_the_serve_defaults_are_the_emulators() -> None:
    from bulkup import cli, emulator

    assert (cli.SERVE_HOST, cli.SERVE_PORT) == (emulator.DEFAULT_HOST, emulator.DEFAULT_PORT)


def test_bulkup_upload_starts_without_the_emulator_media_decoders_or_structlog() -> None:
    code = (
        "import sys\n"
        "from bulkup.cli import build_parser\n"
        "import bulkup.cli_upload, bulkup.sources, bulkup.uploader\n"
        "from bulkup import logs\n"
        "build_parser().parse_args(['upload', 'x.jpg'])\n"
        "logs.configure(level='warning')\n"
        "logs.event('info', 'item_finished', item='x.jpg')\n"
        "heavy = ('av', 'PIL', 'bulkup.emulator', 'aiohttp.web', 'structlog', 'rich')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- plain HTTP: the kernel sends the chunk -----------------------------------------------
def open_fds_to(path: Path) -> list[str]:
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("no /proc/self/fd here")
    links = []
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):
            links.append(os.readlink(fd))
    return [link for link in links if link == str(path)]


async def test_over_plain_http_chunks_are_sent_from_the_file_byte_exact_and_closed(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = samples.write_video(tmp_path / "clip.mp4", width=64, height=64, seconds=2, seed=3)

    async def no_reads(*args: Any) -> bytearray:
        raise AssertionError("over plain HTTP the chunk is not read into memory")

    monkeypatch.setattr(transport, "read_chunk", no_reads)
    config = UploadConfig(api="v2", endpoint=emulator.url, chunk_size=4 * 1024)
    async with Uploader(config, auth=OAuth1Auth(credentials(emulator.user))) as up:
        result = await up.upload(video)

    assert result.ok and result.media_id_string is not None
    info = emulator.media(result.media_id_string)
    assert info is not None and info["sha256"] == hashlib.sha256(video.read_bytes()).hexdigest()
    assert open_fds_to(video) == []


def test_a_file_range_of_a_deleted_or_short_file_is_a_change(
    data_file: tuple[Path, bytes],
) -> None:
    path, _ = data_file
    with pytest.raises(FileChanged, match="expected 65536 bytes at offset 196608, read 123"):
        FileRange.open(path, 3 * CHUNK, CHUNK)
    assert open_fds_to(path) == []
    path.unlink()
    with pytest.raises(FileChanged, match="was deleted during the upload"):
        FileRange.open(path, 0, CHUNK)


class BytesWriter:
    """A stream writer without a transport (not aiohttp's own)."""

    def __init__(self) -> None:
        self.data = bytearray()

    async def write(self, chunk: bytes) -> None:
        self.data += chunk


async def test_a_writer_without_a_transport_is_given_the_bytes(
    data_file: tuple[Path, bytes],
) -> None:
    path, data = data_file
    part = FileRange.open(path, CHUNK, CHUNK)
    writer = BytesWriter()
    try:
        await part.write(writer)  # type: ignore[arg-type]
    finally:
        await part.close()
    assert bytes(writer.data) == data[CHUNK : 2 * CHUNK]
    assert open_fds_to(path) == []
