"""Uploader settings: one frozen, validated, keyword-only object.

Memory bound of a run, whatever the file sizes::

    peak chunk memory ≈ concurrency × chunk_size   (+ a constant)

because a chunk is read from disk only once its request holds one of the
``concurrency`` request slots, and dropped when the request completes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from bulkup.client.budget_url import check_budget_url
from bulkup.core import spec
from bulkup.core.dialects import DEFAULT_ENDPOINTS
from bulkup.core.order import DEFAULT_LOOKAHEAD
from bulkup.core.retry import (
    DEFAULT_BACKOFF_BASE,
    DEFAULT_BACKOFF_CAP,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_WAIT,
)
from bulkup.core.session import (
    DEFAULT_CHUNK_BYTES,
    DEFAULT_MAX_RESTARTS,
    DEFAULT_PROCESSING_TIMEOUT,
)
from bulkup.errors import ConfigError

#: The knobs' defaults: the best point of benchmarks/sweep.py (mixed, image-only and
#: video-only corpora over TLS at 30 ms a request) that keeps chunk buffers within 64 MiB
#: (16 x 4 MiB). Segments per file 2 and 4 measured alike there (8 MiB videos are two
#: chunks); 4 lets a file of more chunks use more of the requests.
DEFAULT_CONCURRENCY = 16
DEFAULT_FILES_IN_FLIGHT = 16
DEFAULT_SEGMENTS_PER_FILE = 4
#: An unfinished upload is resumed only if its server session lives this much longer.
DEFAULT_RESUME_MARGIN = 120.0
#: A request carrying a chunk must be done within the connect and read timeouts plus
#: its size at this rate (bytes/s): a server that stops reading the body fails it
#: instead of holding it forever (the read timeout only watches the answer).
DEFAULT_MIN_SEND_RATE = 16 * 1024.0
#: Connecting to the API host must take no longer (seconds). A blackholed address
#: costs this much per attempt; three failed connections before any answer stop the run.
DEFAULT_CONNECT_TIMEOUT = 10.0
#: No byte of an answer for this long: the request failed (seconds).
DEFAULT_READ_TIMEOUT = 120.0
#: Requests outstanding and none answered for this long (seconds): the run stops. Above
#: the longest a chunk's request may take (connect + read + 4 MiB at the min send rate).
DEFAULT_STALL_TIMEOUT = 600.0
#: Images up to this size go by simple upload when the strategy is "auto".
SIMPLE_UPLOAD_MAX_BYTES = 5 * 1024 * 1024

Api = spec.Dialect
StrategyChoice = Literal["auto", "chunked", "simple"]


#: Settings that take a whole number of at least 1.
_WHOLE_NUMBERS = (
    "concurrency",
    "files_in_flight",
    "segments_per_file",
    "max_attempts",
    "lookahead",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadConfig:
    """How an :class:`~bulkup.Uploader` uploads."""

    api: Api = "v2"
    #: Base URL; None means the real API host of ``api``.
    endpoint: str | None = None
    #: Requests in flight, all files together.
    concurrency: int = DEFAULT_CONCURRENCY
    #: Files between INIT and FINALIZE at once (processing does not count).
    files_in_flight: int = DEFAULT_FILES_IN_FLIGHT
    #: APPENDs in flight for one file.
    segments_per_file: int = DEFAULT_SEGMENTS_PER_FILE
    chunk_size: int = DEFAULT_CHUNK_BYTES
    #: Category for items that name none; None picks one from the media type.
    category: str | None = None
    strategy: StrategyChoice = "auto"
    #: Check every file against its category's rules before any byte is sent.
    preflight: bool = True
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff_base: float = DEFAULT_BACKOFF_BASE
    backoff_cap: float = DEFAULT_BACKOFF_CAP
    max_restarts: int = DEFAULT_MAX_RESTARTS
    #: The longest wait for a rate limit to reset (or a ``Retry-After``); a longer one
    #: is a cap: the run stops sending to that endpoint and leaves the items for later.
    max_wait: float = DEFAULT_MAX_WAIT
    processing_timeout: float = DEFAULT_PROCESSING_TIMEOUT
    resume_margin: float = DEFAULT_RESUME_MARGIN
    #: Pace requests from the rate-limit headers (recommended).
    pacing: bool = True
    #: The share of each rate limit this run spends (above 0, at most 1): below 1
    #: leaves the rest of every window to other clients of the same account.
    budget_fraction: float = 1.0
    #: ``redis://`` or ``rediss://`` URL of a Redis (or Valkey) server whose budgets
    #: every process naming it shares (:mod:`bulkup.client.shared_budget`); None: this
    #: process keeps its own.
    budget: str | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    #: The run stops when requests are outstanding and none is answered for this long
    #: (waiting for a rate limit's reset or for processing does not count); the items
    #: still running fail as ``stalled``. 0: never.
    stall_timeout: float = DEFAULT_STALL_TIMEOUT
    #: A request carrying a chunk fails if not done within the two timeouts plus the
    #: chunk's size at this many bytes/s (a server that stopped reading); 0: no limit.
    min_send_rate: float = DEFAULT_MIN_SEND_RATE
    verify_tls: bool = True
    ca_bundle: str | None = None
    #: Entries read ahead of the uploads, for the planner to choose from (videos and
    #: higher priorities first, post groups together; see :mod:`bulkup.core.order`).
    lookahead: int = DEFAULT_LOOKAHEAD

    def __post_init__(self) -> None:
        if self.api not in spec.DIALECTS:
            either = " or ".join(repr(name) for name in spec.DIALECTS)
            raise ConfigError(f"api must be {either}, got {self.api!r}")
        for name in _WHOLE_NUMBERS:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
        if not 1 <= self.chunk_size <= spec.MAX_CHUNK_BYTES:
            raise ConfigError(
                f"chunk_size must be between 1 and {spec.MAX_CHUNK_BYTES} bytes "
                f"(5 MiB, the API's limit), got {self.chunk_size}"
            )
        if self.strategy not in ("auto", "chunked", "simple"):
            raise ConfigError(f"strategy must be auto, chunked or simple, got {self.strategy!r}")
        if self.category is not None:
            try:
                object.__setattr__(self, "category", spec.normalize_category(self.category))
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        for name in (
            "backoff_base",
            "backoff_cap",
            "max_wait",
            "processing_timeout",
            "resume_margin",
            "connect_timeout",
            "read_timeout",
            "stall_timeout",
            "min_send_rate",
        ):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
        _check_fraction(self.budget_fraction)
        object.__setattr__(self, "budget", self.budget and check_budget_url(self.budget))
        if self.max_restarts < 0:
            raise ConfigError("max_restarts must be >= 0")
        if self.endpoint is not None and not self.endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"endpoint must be an http(s) URL, got {self.endpoint!r}")

    @property
    def base_url(self) -> str:
        return (self.endpoint or DEFAULT_ENDPOINTS[self.api]).rstrip("/")


def _check_fraction(value: object) -> None:
    if not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
        raise ConfigError(
            f"budget_fraction must be above 0 and at most 1, got {value!r} "
            "(0.5 leaves half of every rate limit to other clients of the account)"
        )


def parse_size(text: str) -> int:
    """``"4MiB"``, ``"512k"``, ``"1048576"`` → bytes (K/M = 1024-based, as MiB)."""
    units = {
        "": 1,
        "b": 1,
        "k": 1024,
        "kb": 1024,
        "kib": 1024,
        "m": 1 << 20,
        "mb": 1 << 20,
        "mib": 1 << 20,
    }
    raw = text.strip().lower().replace(" ", "")
    number = raw.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = raw[len(number) :]
    try:
        value = float(number)
    except ValueError:
        raise ConfigError(f"not a size: {text!r} (examples: 4MiB, 512KiB, 1048576)") from None
    if unit not in units:
        raise ConfigError(f"unknown size unit in {text!r}: use KiB or MiB")
    return int(value * units[unit])


_DURATION_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """``"900"``, ``"90s"``, ``"15m"``, ``"1h"``, ``"1h30m"`` → seconds."""
    raw = text.strip().lower().replace(" ", "")
    parts = re.findall(r"(\d+(?:\.\d+)?)([a-z]*)", raw)
    if not raw or "".join(n + u for n, u in parts) != raw:
        raise ConfigError(f"not a duration: {text!r} (examples: 900, 90s, 15m, 1h)")
    total = 0.0
    for number, unit in parts:
        if unit not in _DURATION_UNITS or (unit == "" and len(parts) > 1):
            raise ConfigError(f"unknown unit in the duration {text!r}: use s, m or h")
        total += float(number) * _DURATION_UNITS[unit]
    return total
