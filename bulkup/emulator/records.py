"""What the emulator's store holds for each media id, and how processing stands.

:class:`Media` is one upload session from INIT (or a one-request upload) to expiry,
with what the client set on it since (alt text, download permission, warnings,
subtitles); :class:`Processing` is the state STATUS reports.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkup.core import spec
from bulkup.emulator.spool import Segment
from bulkup.media import probe as mediacheck


@dataclass(slots=True)
class Media:
    """One media id, from INIT (or a simple upload) to expiry."""

    id: int
    owner: str
    dialect: str
    media_type: str
    category: str | None
    total_bytes: int
    additional_owners: tuple[str, ...]
    created_at: float
    expires_at: float
    segments: dict[int, Segment] = field(default_factory=dict)
    finalized_at: float | None = None
    size: int | None = None
    sha256: str | None = None
    facts: mediacheck.MediaFacts | None = None
    problem: mediacheck.Problem | None = None
    processing_secs: float = 0.0
    #: initialize's ``shared`` (v1.1 INIT's ``shared=true``): reusable in direct messages.
    shared: bool = False
    alt_text: str | None = None
    allow_download: bool | None = None
    sensitive_media_warning: list[str] | None = None
    #: Every v2 metadata key set so far, as last given.
    metadata: dict[str, Any] = field(default_factory=dict)
    subtitles: list[dict[str, str]] = field(default_factory=list)
    path: Path | None = None
    expired: bool = False
    #: Processing is reported "pending" until the first STATUS request.
    polled: bool = False
    # discard mode: incremental in-order hashing
    _hasher: Any = None
    _next_index: int = 0
    _held: dict[int, bytes] = field(default_factory=dict)
    _head: bytes = b""
    _hash_valid: bool = True
    #: Held while FINALIZE assembles: concurrent FINALIZEs wait, APPENDs are refused.
    _finalizing: asyncio.Lock | None = None

    @property
    def id_string(self) -> str:
        return str(self.id)

    @property
    def key(self) -> str:
        return f"{spec.media_key_prefix(self.category, self.media_type)}_{self.id}"

    @property
    def async_processing(self) -> bool:
        return self.category in spec.ASYNC_CATEGORIES

    def visible_to(self, user_id: str) -> bool:
        return user_id == self.owner or user_id in self.additional_owners


@dataclass(frozen=True, slots=True)
class Processing:
    """Where processing stands, as STATUS reports it."""

    state: str  # pending | in_progress | succeeded | failed
    progress_percent: int | None
    check_after_secs: int | None
    error: mediacheck.Problem | None = None

    def as_json(self) -> dict[str, Any]:
        info: dict[str, Any] = {"state": self.state}
        if self.check_after_secs is not None:
            info["check_after_secs"] = self.check_after_secs
        if self.progress_percent is not None:
            info["progress_percent"] = self.progress_percent
        if self.error is not None:
            info["error"] = {
                "code": self.error.code,
                "name": self.error.name,
                "message": self.error.message,
            }
        return info
