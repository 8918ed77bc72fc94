"""Shared fixtures and helpers: a running emulator on a real socket, a raw API client,
the emulator profiles the tests use, and the client settings that talk to it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bulkup.auth.credentials import OAuth1Auth
from bulkup.client.config import UploadConfig
from bulkup.emulator import Answers, Emulator, EmulatorConfig, Lifetimes, Network
from bulkup.media import samples
from tests.apiclient import RawClient, credentials

KiB = 1024
#: Processing finishes at the first STATUS, which is polled at once.
FAST_LIFETIMES = Lifetimes(processing_secs=0, check_after_secs=0)
#: Fast settings for tests.
FAST = EmulatorConfig(lifetimes=FAST_LIFETIMES)
#: A scheduled latency spike hangs the request it hits: a run is caught mid-upload.
HANG = EmulatorConfig(lifetimes=FAST_LIFETIMES, network=Network(spike_ms=3_600_000))
#: How the emulator answers: every field, or only what X's document requires.
ANSWER_MODES = ("full", "minimal")


def oauth(emu: Emulator) -> OAuth1Auth:
    """OAuth 1.0a credentials of the emulator's first user."""
    return OAuth1Auth(credentials(emu.user))


def upload_config(emu: Emulator, api: Any = "v2", **kw: Any) -> UploadConfig:
    """Settings that talk to ``emu`` with small chunks (4 KiB), so files take segments."""
    return UploadConfig(api=api, endpoint=emu.url, chunk_size=4 * KiB, **kw)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def answering(config: EmulatorConfig, mode: str) -> EmulatorConfig:
    """``config`` answering in ``mode`` (``full`` or ``minimal``)."""
    return dataclasses.replace(config, answers=Answers(minimal=mode == "minimal"))


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto`` (pyproject's addopts) starts two workers per core: a test spends about
    half its time waiting on sockets, timeouts and rate windows, the other worker's turn
    to compute. ``PYTEST_XDIST_AUTO_NUM_WORKERS`` (xdist's own setting) still wins."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    affinity = getattr(os, "sched_getaffinity", None)
    cores = len(affinity(0)) if affinity else os.cpu_count() or 1
    return 2 * cores


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``answer_modes`` run once per mode of :data:`ANSWER_MODES`: no client
    code may lean on a field the contract does not require."""
    marked = metafunc.definition.get_closest_marker("answer_modes") is not None
    if marked and "answers" in metafunc.fixturenames:
        metafunc.parametrize("answers", ANSWER_MODES, indirect=True)


@pytest.fixture
def answers(request: pytest.FixtureRequest) -> str:
    """The emulator's answer mode: ``full`` unless the test is marked ``answer_modes``."""
    return str(getattr(request, "param", "full"))


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of sample media shared by the dialect tests."""
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def png(media_dir: Path) -> bytes:
    return samples.write_image(media_dir / "i.png", width=64, height=48).read_bytes()


@pytest.fixture(scope="session")
def big_png(media_dir: Path) -> bytes:
    """A valid PNG of 64 KiB: many segments, still fast."""
    path = samples.write_image(media_dir / "big.png", target_bytes=64 * 1024, seed=7)
    return path.read_bytes()


@pytest.fixture(scope="session")
def gif(media_dir: Path) -> bytes:
    return samples.write_gif(media_dir / "a.gif", width=40, height=20, frames=4).read_bytes()


@pytest.fixture(scope="session")
def video(media_dir: Path) -> bytes:
    path = samples.write_video(media_dir / "v.mp4", width=64, height=64, seconds=1)
    return path.read_bytes()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def emulator_config(answers: str) -> EmulatorConfig:
    """Override in a test module to run the ``emulator`` fixture with other settings."""
    return answering(FAST, answers)


@pytest.fixture
async def emulator(emulator_config: EmulatorConfig) -> AsyncIterator[Emulator]:
    async with Emulator(emulator_config, environ={}) as emu:
        yield emu


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def client(emulator: Emulator, http: aiohttp.ClientSession) -> RawClient:
    """Signs with the emulator's first user (OAuth 1.0a)."""
    return RawClient(http, emulator)


def said(err: str) -> str:
    """What a person reads in a run's standard error: in a pipe each line is a JSON
    object (``--log-format auto``), whose ``message`` is the line a terminal shows."""
    shown = []
    for line in err.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        message = record.get("message") if isinstance(record, dict) else None
        shown.append(message if isinstance(message, str) else line)
    return "\n".join(shown)
