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
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bulkup.emulator import Emulator, EmulatorConfig, Lifetimes


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
