"""The emulator's media store: upload sessions, segments, FINALIZE and processing.

Dialect-neutral: handlers of both dialects call the same methods and render the
results. Segments are spooled to disk as they arrive (or, in ``discard`` mode,
only hashed), so memory does not grow with file sizes. FINALIZE assembles the
segments in order, hashes the whole file and judges its bytes with
:mod:`bulkup.media.probe`, in a worker thread so the event loop keeps serving.

Time comes from an injectable clock: expiry and processing follow it, so a test can
``advance()`` an hour instead of sleeping.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import itertools
import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

from bulkup.core import spec
from bulkup.core.clock import Clock
from bulkup.emulator import errors
from bulkup.emulator.config import EmulatorConfig
from bulkup.emulator.errors import ApiError
from bulkup.emulator.faults import FaultPlan
from bulkup.emulator.records import Media as Media
from bulkup.emulator.records import Processing
from bulkup.emulator.spool import IdGenerator, Segment, Spool
from bulkup.media import probe as mediacheck

_COPY_BLOCK = 1 << 20


class MediaStore:
    """All media of one emulator instance."""

    def __init__(self, config: EmulatorConfig, clock: Clock, root: Path, faults: FaultPlan) -> None:
        self.config = config
        self.clock = clock
        self.root = root
        self.faults = faults
        self.discard = config.storage.mode == "discard"
        self._ids = IdGenerator(random.Random(config.faults.seed ^ 0x5EED))
        self._spool_seq = itertools.count()
        self._media: dict[int, Media] = {}
        self._expiry_heap: list[tuple[float, int]] = []
        self.bytes_received = 0

    # --- lookup and expiry -----------------------------------------------------
    def __iter__(self) -> Iterator[Media]:
        return iter(list(self._media.values()))

    def peek(self, media_id: int) -> Media | None:
        """The media with this id whatever its owner or state, for inspection."""
        self.sweep()
        return self._media.get(media_id)

    def get(self, raw_id: object, user_id: str) -> Media:
        """The live media ``raw_id`` names for ``user_id``, or the API's error."""
        media_id = parse_media_id(raw_id)
        media = self.peek(media_id)
        if media is None or not media.visible_to(user_id):
            raise ApiError(errors.MEDIA_NOT_FOUND, f"Media id {media_id} was not found.")
        if media.expired:
            raise ApiError(errors.MEDIA_EXPIRED, f"Media id {media_id} has expired.")
        return media

    def sweep(self) -> None:
        """Expire every media whose deadline has passed (amortized O(log n))."""
        now = self.clock.now()
        while self._expiry_heap and self._expiry_heap[0][0] <= now:
            deadline, media_id = heapq.heappop(self._expiry_heap)
            media = self._media.get(media_id)
            if media is not None and media.expires_at == deadline and not media.expired:
                self.expire(media)

    def expire(self, media: Media) -> None:
        media.expired = True
        shutil.rmtree(self.segment_dir(media), ignore_errors=True)
        if media.path is not None:
            media.path.unlink(missing_ok=True)
            media.path = None
        media._held.clear()

    def _set_deadline(self, media: Media, seconds: float) -> None:
        media.expires_at = self.clock.now() + seconds
        heapq.heappush(self._expiry_heap, (media.expires_at, media.id))

    def remaining_secs(self, media: Media) -> int:
        return max(0, round(media.expires_at - self.clock.now()))

    def segment_dir(self, media: Media) -> Path:
        return self.root / f"{media.id}.segments"

    # --- INIT / APPEND ---------------------------------------------------------
    def init(
        self,
        *,
        owner: str,
        dialect: str,
        total_bytes: int,
        media_type: str,
        category: str | None,
        additional_owners: tuple[str, ...] = (),
        shared: bool = False,
    ) -> Media:
        if total_bytes < 0 or total_bytes > spec.MAX_TOTAL_BYTES_V2:
            raise ApiError(
                errors.BAD_REQUEST,
                f"total_bytes must be between 0 and {spec.MAX_TOTAL_BYTES_V2}.",
            )
        if len(additional_owners) > spec.MAX_ADDITIONAL_OWNERS:
            raise ApiError(errors.BAD_REQUEST, "additional_owners accepts at most 100 user ids.")
        media = Media(
            id=self._ids.next(),
            owner=owner,
            dialect=dialect,
            media_type=media_type,
            category=category,
            total_bytes=total_bytes,
            additional_owners=additional_owners,
            shared=shared,
            created_at=self.clock.now(),
            expires_at=0.0,
        )
        if self.discard:
            media._hasher = hashlib.sha256()
        self._media[media.id] = media
        self._set_deadline(media, self.config.lifetimes.upload_expiry(dialect))
        return media

    def open_spool(self) -> Spool:
        limit = self.config.lifetimes.max_chunk_bytes
        if self.discard:
            return Spool(limit, None)
        return Spool(limit, self.root / f"spool-{next(self._spool_seq)}.part")

    def commit_segment(self, media: Media, index: int, spool: Spool) -> Segment:
        """Make the spooled bytes segment ``index`` of ``media`` (replacing any earlier)."""
        try:
            if media.finalized_at is not None:
                raise ApiError(errors.BAD_REQUEST, "Media id is already finalized; APPEND refused.")
            if media._finalizing is not None and media._finalizing.locked():
                raise ApiError(errors.BAD_REQUEST, "Media id is being finalized; APPEND refused.")
            if not spec.MIN_SEGMENT_INDEX <= index <= spec.MAX_SEGMENT_INDEX:
                raise ApiError(errors.BAD_REQUEST, "SegmentIndex must be between 0 and 999.")
            if spool.too_large:
                limit = self.config.lifetimes.max_chunk_bytes
                raise ApiError(
                    errors.BAD_REQUEST, f"Segment size exceeds the maximum of {limit} bytes."
                )
        except ApiError:
            spool.abort()
            raise
        segment = spool.close()
        if self.discard:
            self._discard_segment(media, index, segment, spool.data())
        else:
            seg_dir = self.segment_dir(media)
            seg_dir.mkdir(exist_ok=True)
            assert spool.tmp is not None
            os.replace(spool.tmp, seg_dir / f"{index}.seg")
        media.segments[index] = segment
        self.bytes_received += segment.size
        return segment

    def _discard_segment(self, media: Media, index: int, segment: Segment, data: bytes) -> None:
        if index == 0:
            media._head = data[: mediacheck.SNIFF_BYTES]
        previous = media.segments.get(index)
        if index < media._next_index:
            if previous is None or previous.sha256 != segment.sha256:
                media._hash_valid = False  # replaced bytes already hashed: whole hash unknown
            return
        media._held[index] = data
        while media._next_index in media._held:
            media._hasher.update(media._held.pop(media._next_index))
            media._next_index += 1

    # --- FINALIZE and processing -----------------------------------------------
    async def finalize(self, media: Media) -> Media:
        """Assemble, hash and judge the media; idempotent once it succeeded.

        Concurrent FINALIZEs of one id (a client retrying after a timeout) run one at a
        time: the later ones return what the first produced, or its error.
        """
        if media._finalizing is None:
            media._finalizing = asyncio.Lock()
        # Shielded: a client that goes away mid-assembly must not leave the media half
        # assembled (its segments gone, never finalized); the work runs to the end.
        return await asyncio.shield(self._finalize_locked(media, media._finalizing))

    async def _finalize_locked(self, media: Media, lock: asyncio.Lock) -> Media:
        async with lock:
            return await self._finalize_once(media)

    async def _finalize_once(self, media: Media) -> Media:
        if media.finalized_at is not None:
            return media
        if media.expired:  # an earlier FINALIZE refused the bytes
            raise ApiError(errors.MEDIA_EXPIRED, f"Media id {media.id} has expired.")
        indices = sorted(media.segments)
        total = sum(s.size for s in media.segments.values())
        if indices != list(range(len(indices))) or total != media.total_bytes:
            raise ApiError(
                errors.BAD_REQUEST, "Segments do not add up to provided total file size."
            )
        if self.discard:
            self._finish_discard(media)
        else:
            await asyncio.to_thread(self._assemble, media, indices)
        assert media.facts is not None
        declared = media.media_type or None
        problems = (
            mediacheck.check(media.facts, media.category, declared_type=declared)
            if self.config.storage.check_media
            else []
        )
        media.problem = problems[0] if problems else None
        failing = media.problem is None and media.async_processing
        if failing and self.faults.processing_failure():
            media.problem = mediacheck.Problem(
                1, "InvalidMedia", "Media processing failed (emulator fault injection)."
            )
        if media.problem is not None and not media.async_processing:
            self.expire(media)
            raise ApiError(errors.BAD_REQUEST, _refusal(media, media.problem))
        media.finalized_at = self.clock.now()
        media.size = total
        media.processing_secs = self.config.lifetimes.processing_secs
        self._set_deadline(media, self.config.lifetimes.media_expiry_secs)
        return media

    def _assemble(self, media: Media, indices: list[int]) -> None:
        seg_dir = self.segment_dir(media)
        target = self.root / f"{media.id}.bin"
        digest = hashlib.sha256()
        with target.open("wb") as out:
            for index in indices:
                with (seg_dir / f"{index}.seg").open("rb") as part:
                    while block := part.read(_COPY_BLOCK):
                        digest.update(block)
                        out.write(block)
        shutil.rmtree(seg_dir, ignore_errors=True)
        media.path = target
        media.sha256 = digest.hexdigest()
        media.facts = mediacheck.probe(target)

    def _finish_discard(self, media: Media) -> None:
        media.sha256 = media._hasher.hexdigest() if media._hash_valid else None
        media.facts = mediacheck.MediaFacts(
            mime=mediacheck.sniff(media._head), size=media.total_bytes
        )

    def processing(self, media: Media) -> Processing | None:
        """Processing state now, or None for media that needs none."""
        if media.finalized_at is None or not media.async_processing:
            return None
        check_after = self.config.lifetimes.check_after_secs
        if not media.polled:
            return Processing("pending", None, check_after)
        elapsed = self.clock.now() - media.finalized_at
        if elapsed >= media.processing_secs:
            if media.problem is not None:
                return Processing("failed", 100, None, media.problem)
            return Processing("succeeded", 100, None)
        percent = min(99, int(100 * elapsed / media.processing_secs))
        return Processing("in_progress", percent, check_after)

    def state(self, media: Media) -> str:
        if media.expired:
            return "expired"
        if media.finalized_at is None:
            return "uploading"
        processing = self.processing(media)
        if processing is None:
            return "failed" if media.problem else "succeeded"
        return processing.state

    # --- simple upload ---------------------------------------------------------
    def begin_simple(
        self,
        *,
        owner: str,
        dialect: str,
        category: str | None,
        additional_owners: tuple[str, ...] = (),
    ) -> Media:
        """A media id for a one-request upload; its size and type come from the bytes."""
        return self.init(
            owner=owner,
            dialect=dialect,
            total_bytes=0,
            media_type="",
            category=category,
            additional_owners=additional_owners,
        )

    async def finish_simple(self, media: Media) -> Media:
        media.total_bytes = sum(s.size for s in media.segments.values())
        await self.finalize(media)
        assert media.facts is not None
        media.media_type = media.facts.mime or "application/octet-stream"
        return media


def _refusal(media: Media, problem: mediacheck.Problem) -> str:
    """FINALIZE's error for media refused on the synchronous path.

    A video over the synchronous size limit gets the real server's wording (spec section 2).
    """
    facts = media.facts
    if (
        media.category is None
        and facts is not None
        and (facts.mime or "").startswith("video/")
        and facts.size > mediacheck.MAX_SYNC_VIDEO_BYTES
    ):
        return "Large file can not be finalized synchronously."
    return problem.message


def parse_media_id(raw: object) -> int:
    text = str(raw).strip() if raw is not None else ""
    if not text.isdigit() or len(text) > 20:
        raise ApiError(errors.BAD_REQUEST, f"media_id must be a numeric id, got {text!r}.")
    return int(text)
