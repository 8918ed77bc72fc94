"""Shared fixtures: a running emulator on a real socket and a raw API client."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bulkup.emulator import Answers, Emulator, EmulatorConfig, Lifetimes
from bulkup.media import samples
from tests.apiclient import RawClient

#: Fast settings for tests: processing finishes at the first STATUS, poll at once.
FAST = EmulatorConfig(lifetimes=Lifetimes(processing_secs=0, check_after_secs=0))
#: How the emulator answers: every field, or only what X's document requires.
ANSWER_MODES = ("full", "minimal")


def answering(config: EmulatorConfig, mode: str) -> EmulatorConfig:
    """``config`` answering in ``mode`` (``full`` or ``minimal``)."""
    return dataclasses.replace(config, answers=Answers(minimal=mode == "minimal"))


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
