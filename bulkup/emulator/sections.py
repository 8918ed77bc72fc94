"""The server-behaviour sections of an emulator profile.

``[lifetimes]``, ``[limits]``, ``[network]``, ``[faults]``, ``[storage]`` and
``[answers]``: frozen, keyword-only dataclasses validated on construction, each error
naming its key. :mod:`bulkup.emulator.config` assembles them, with the users and the
OAuth 2.0 clients, into an :class:`~bulkup.emulator.config.EmulatorConfig`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from bulkup.core import spec

DEFAULT_MEDIA_EXPIRY_SECS = 86400
#: INIT's ``expires_after_secs`` per dialect, as observed in real responses.
DEFAULT_UPLOAD_EXPIRY_SECS: Mapping[str, int] = {"v1.1": 3599, "v2": 1295999}
DEFAULT_PROCESSING_SECS = 2.0
DEFAULT_CHECK_AFTER_SECS = 1


class ConfigError(ValueError):
    """A profile or setting is invalid; the message names the key and the fix."""


def _check_non_negative(owner: object, *names: str) -> None:
    for name in names:
        value = getattr(owner, name)
        if value < 0:
            section = type(owner).__name__.lower()
            raise ConfigError(f"{section}.{name} must be >= 0, got {value!r}")


def _check_rate(owner: object, *names: str) -> None:
    for name in names:
        value = getattr(owner, name)
        if not 0.0 <= value <= 1.0:
            section = type(owner).__name__.lower()
            raise ConfigError(f"{section}.{name} is a probability in [0, 1], got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Lifetimes:
    """How long things live on the server, and how processing is paced."""

    #: INIT's ``expires_after_secs``; None uses the per-dialect default.
    upload_expiry_secs: int | None = None
    media_expiry_secs: int = DEFAULT_MEDIA_EXPIRY_SECS
    #: Simulated processing time of async media (video, GIF with a category).
    processing_secs: float = DEFAULT_PROCESSING_SECS
    check_after_secs: int = DEFAULT_CHECK_AFTER_SECS
    max_chunk_bytes: int = spec.MAX_CHUNK_BYTES

    def __post_init__(self) -> None:
        _check_non_negative(self, "media_expiry_secs", "processing_secs", "check_after_secs")
        if self.upload_expiry_secs is not None and self.upload_expiry_secs < 0:
            raise ConfigError("lifetimes.upload_expiry_secs must be >= 0")
        if self.max_chunk_bytes <= 0:
            raise ConfigError("lifetimes.max_chunk_bytes must be > 0")

    def upload_expiry(self, dialect: str) -> int:
        if self.upload_expiry_secs is not None:
            return self.upload_expiry_secs
        return DEFAULT_UPLOAD_EXPIRY_SECS[dialect]


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimits:
    """Request budgets: per user and endpoint per window, and optionally per app per day.

    ``per_window`` are the per-user 15-minute budgets (the published ones unless
    overridden). ``app_per_day`` adds, for the endpoints it names, one budget per
    ``app_window_secs`` (24 hours) shared by every user of the emulator, as X's
    per-app limits are; answers then carry ``x-app-limit-24hour-*`` headers. Empty
    by default; :meth:`published` gives X's published figures for both.
    ``time_scale`` divides both windows.
    """

    enabled: bool = True
    window_secs: float = spec.RATE_WINDOW_SECS
    #: Divides the windows: ``time_scale = 100`` makes a 15-minute window last 9 s.
    time_scale: float = 1.0
    per_window: Mapping[str, int] = field(default_factory=lambda: dict(spec.RATE_LIMITS))
    app_window_secs: float = spec.APP_RATE_WINDOW_SECS
    app_per_day: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.time_scale <= 0 or self.window_secs <= 0:
            raise ConfigError("limits.time_scale and limits.window_secs must be > 0")
        if self.app_window_secs <= 0:
            raise ConfigError(f"limits.app_window_secs must be > 0, got {self.app_window_secs!r}")
        _check_budgets("per_window", self.per_window)
        _check_budgets("app_per_day", self.app_per_day)
        merged = {**spec.RATE_LIMITS, **self.per_window}
        object.__setattr__(self, "per_window", merged)
        object.__setattr__(self, "app_per_day", dict(self.app_per_day))

    @classmethod
    def published(cls, *, time_scale: float = 1.0, enabled: bool = True) -> RateLimits:
        """X's published limits: per user per 15 minutes, and per app per 24 hours."""
        return cls(
            enabled=enabled, time_scale=time_scale, app_per_day=dict(spec.APP_RATE_LIMITS_24H)
        )

    @property
    def effective_window_secs(self) -> float:
        return self.window_secs / self.time_scale

    @property
    def effective_app_window_secs(self) -> float:
        return self.app_window_secs / self.time_scale


def _check_budgets(key: str, budgets: Mapping[str, object]) -> None:
    unknown = set(budgets) - set(spec.ENDPOINTS)
    if unknown:
        raise ConfigError(
            f"limits.{key}: unknown endpoint(s) {sorted(unknown)}; "
            f"known: {', '.join(spec.ENDPOINTS)}"
        )
    for endpoint, limit in budgets.items():
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ConfigError(f"limits.{key}.{endpoint} must be an integer >= 0, got {limit!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Network:
    """Simulated network conditions, applied to every API request."""

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    spike_rate: float = 0.0
    spike_ms: float = 0.0
    #: Per-connection bandwidth cap for request bodies, in bytes per second (0 = none).
    bandwidth_bytes_per_sec: int = 0

    def __post_init__(self) -> None:
        _check_non_negative(self, "latency_ms", "jitter_ms", "spike_ms", "bandwidth_bytes_per_sec")
        _check_rate(self, "spike_rate")


@dataclass(frozen=True, slots=True, kw_only=True)
class Faults:
    """Randomly injected failures, reproducible from ``seed``."""

    seed: int = 0
    error_500_rate: float = 0.0
    error_503_rate: float = 0.0
    #: Read part of the request body, then drop the connection.
    drop_mid_body_rate: float = 0.0
    #: Perform the request, then drop the connection instead of answering.
    drop_response_rate: float = 0.0
    burst_429_rate: float = 0.0
    burst_429_length: int = 3
    processing_failure_rate: float = 0.0
    #: A 502 with a proxy's HTML page instead of the API's JSON (request not performed).
    html_error_rate: float = 0.0
    #: Performed, and the success answer becomes a 200 whose body is not JSON.
    garbage_200_rate: float = 0.0
    #: Performed, and the success answer drops its required fields: ``{}`` /
    #: ``{"data": {}}`` (only where the contract requires a field).
    missing_fields_rate: float = 0.0
    #: Answer, then close the kept-alive connection when the client reuses it.
    close_connection_rate: float = 0.0
    #: Never answer (until the client gives up); needs a client read timeout.
    hang_rate: float = 0.0

    def __post_init__(self) -> None:
        _check_rate(
            self,
            "error_500_rate",
            "error_503_rate",
            "drop_mid_body_rate",
            "drop_response_rate",
            "burst_429_rate",
            "processing_failure_rate",
            "html_error_rate",
            "garbage_200_rate",
            "missing_fields_rate",
            "close_connection_rate",
            "hang_rate",
        )
        _check_non_negative(self, "burst_429_length")


@dataclass(frozen=True, slots=True, kw_only=True)
class Storage:
    """Where assembled media goes.

    ``disk`` spools segments to files under ``dir`` (a temporary directory when
    empty) and keeps the assembled file for inspection; ``discard`` keeps only
    sizes and hashes, for benchmarks with very large files.
    """

    mode: Literal["disk", "discard"] = "disk"
    dir: str = ""
    #: Judge the assembled bytes by the media rules; false accepts any bytes (for
    #: benchmarks that upload synthetic payloads).
    check_media: bool = True

    def __post_init__(self) -> None:
        if self.mode not in ("disk", "discard"):
            raise ConfigError(f"storage.mode must be 'disk' or 'discard', got {self.mode!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Answers:
    """How much a success answer says.

    ``minimal = false`` (the default): every field the real API is seen to send.
    ``minimal = true``: only the fields X's published contract requires, so that a
    client reading an optional field fails here instead of in production. v2:
    ``{"data": {"id"}}``, plus ``processing_info: {"state"}`` while media is not ready
    or has failed; APPEND answers in turn 204, ``{}`` and ``{"data": {}}``; subtitles
    ``{"data": {}}``. v1.1: the two ids, plus the processing state.
    See :mod:`bulkup.emulator.answers`.

    ``rate_headers = false``: no answer carries ``x-rate-limit-*`` (nor the 24-hour
    ``x-app-limit-*``) headers, as behind a proxy that strips them; the budgets still
    apply (a 429 past them), the client just is not told.
    """

    minimal: bool = False
    rate_headers: bool = True

    def __post_init__(self) -> None:
        for name in ("minimal", "rate_headers"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise ConfigError(f"answers.{name} must be true or false, got {value!r}")
