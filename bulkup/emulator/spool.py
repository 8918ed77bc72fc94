"""Where an upload's bytes wait: media ids, segments, and the spool of one request.

Helpers of :mod:`bulkup.emulator.store`: the snowflake-like id generator, the size
and hash of a stored segment, and the :class:`Spool` that receives a media part
before the request says which segment it is.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TWITTER_EPOCH_MS = 1288834974657


class IdGenerator:
    """Snowflake-like unique 64-bit ids: time, a random worker number, a sequence."""

    def __init__(self, rng: random.Random) -> None:
        self._worker = rng.randrange(1 << 10)
        self._seq = itertools.count()
        self._last = 0

    def next(self) -> int:
        millis = max(int(time.time() * 1000) - _TWITTER_EPOCH_MS, self._last)
        self._last = millis
        seq = next(self._seq) & 0xFFF
        if seq == 0xFFF:
            self._last += 1
        return (millis << 22) | (self._worker << 12) | seq


@dataclass(slots=True)
class Segment:
    size: int
    sha256: str


class Spool:
    """Receives the bytes of one request's media part before it is known where they go.

    Multipart fields may come in any order, so ``segment_index`` can follow the
    media bytes: they are spooled to a temporary file (or, in discard mode, a
    buffer of at most one chunk) and handed to :meth:`MediaStore.commit_segment`.
    """

    def __init__(self, limit: int, tmp: Path | None) -> None:
        """Spool to the file ``tmp``, or to memory when it is None; keep ``limit`` bytes."""
        self._hash = hashlib.sha256()
        self.size = 0
        self._limit = limit
        self._buffer: list[bytes] | None = None
        self.tmp = tmp
        self._fh: Any = None
        if tmp is None:
            self._buffer = []
        else:
            self._fh = tmp.open("wb")

    @property
    def too_large(self) -> bool:
        return self.size > self._limit

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.too_large:
            return  # keep counting, stop storing: the caller refuses it whole
        self._hash.update(data)
        if self._buffer is not None:
            self._buffer.append(data)
        else:
            self._fh.write(data)

    def close(self) -> Segment:
        if self._fh is not None:
            self._fh.close()
        return Segment(self.size, self._hash.hexdigest())

    def data(self) -> bytes:
        return b"".join(self._buffer or ())

    def abort(self) -> None:
        if self._fh is not None and not self._fh.closed:
            self._fh.close()
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
        self._buffer = None
