"""The hot path's shortcuts give the same bytes and the same errors as the long way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from bulkup.client import transport
from bulkup.errors import FileChanged

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

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
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
    monkeypatch.setattr(os, "preadv", not_cached)
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
    monkeypatch.setattr(os, "preadv", half_cached)
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
        "import bulkup.cli.upload, bulkup.sources, bulkup.client.uploader\n"
        "from bulkup import logs\n"
        "build_parser().parse_args(['upload', 'x.jpg'])\n"
        "logs.configure(level='warning')\n"
        "logs.event('info', 'item_finished', item='x.jpg')\n"
        "heavy = ('av', 'PIL', 'bulkup.emulator', 'aiohttp.web', 'structlog', 'rich')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
