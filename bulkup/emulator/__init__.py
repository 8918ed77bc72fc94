"""A faithful local emulator of the X media upload API (v1.1 and v2 dialects).

Public and supported: run it with ``bulkup serve``, or from Python::

    from bulkup.emulator import Emulator, EmulatorConfig

    async with Emulator(EmulatorConfig.from_toml("configs/emulator-flaky.toml")) as emu:
        ...  # point any client at emu.url; inspect with emu.media(media_id)

It speaks both dialects on one port, holds v2 requests to X's published contract
(:mod:`bulkup.emulator.contract`) while v1.1 stays lenient, verifies OAuth 1.0a
signatures and OAuth 2.0 user tokens, issues such tokens (authorization code with
PKCE, refresh with rotation: :mod:`bulkup.emulator.oauth2`), really checks the media
it assembles, applies per-user rate limits (and, with ``RateLimits.published()``,
X's per-app 24-hour ones), expires uploads, can answer with only the fields the
contract requires (``Answers(minimal=True)``), and can simulate latency, bandwidth
caps and faults, all reproducibly. ``GET /_emulator/media/{id}`` and
``GET /_emulator/stats`` show what it received. See the README's "The emulator"
section, and its "How the emulator differs from X".
"""

from bulkup.emulator.config import (
    DEMO_APP_BEARER,
    DEMO_CLIENT,
    DEMO_CONFIDENTIAL_CLIENT,
    DEMO_USER,
    Answers,
    ConfigError,
    EmulatorConfig,
    Faults,
    Lifetimes,
    Network,
    OAuth2,
    OAuth2App,
    RateLimits,
    Storage,
    User,
)
from bulkup.emulator.faults import FAULT_KINDS, FaultPlan
from bulkup.emulator.server import DEFAULT_HOST, DEFAULT_PORT, Emulator, serve

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEMO_APP_BEARER",
    "DEMO_CLIENT",
    "DEMO_CONFIDENTIAL_CLIENT",
    "DEMO_USER",
    "FAULT_KINDS",
    "Answers",
    "ConfigError",
    "Emulator",
    "EmulatorConfig",
    "FaultPlan",
    "Faults",
    "Lifetimes",
    "Network",
    "OAuth2",
    "OAuth2App",
    "RateLimits",
    "Storage",
    "User",
    "serve",
]
