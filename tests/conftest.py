"""Shared fixtures: a running emulator on a real socket and a raw API client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bulkup.emulator import Emulator, EmulatorConfig, Lifetimes
from tests.apiclient import RawClient

#: Fast settings for tests: processing finishes at the first STATUS, poll at once.
FAST = EmulatorConfig(lifetimes=Lifetimes(processing_secs=0, check_after_secs=0))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    """Override in a test module to run the ``emulator`` fixture with other settings."""
    return FAST


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
