"""Resume rules: what to do with an item, given what the checkpoint remembers of it.

Pure decisions, no I/O and no clock of their own (``now`` is passed in):

- a succeeded item whose media id is still valid (beyond the safety margin) is
  reported again without any request (:class:`Reuse`);
- an unfinished upload whose session deadline minus the margin is still ahead, for an
  unchanged file uploaded with the same parameters, sends only its missing segments
  (:class:`ContinueUpload`);
- a finalized item still processing resumes STATUS polling (:class:`ContinuePolling`);
- a ready media id whose metadata or subtitles were not attached (a rate cap, a
  refusal) gets only those, not its bytes again (:class:`ContinueAttach`);
- everything else starts over with INIT (:class:`StartOver`, with the reason):
  no record, an entry that now names another file, a changed file (size, mtime,
  ctime or inode) or parameters, an expired session or media id.

Parameters are compared whole (:class:`~bulkup.core.items.UploadParams`): type, category,
chunk size, strategy, metadata, subtitles, post, owners. A record read from a version 1
checkpoint kept no subtitles and no post (``partial_params``): those two are left out
of its comparison, and the item runs with the ones its source gives.

:func:`resume_priority` orders the unfinished uploads of an earlier run: they go
first, nearest deadline first.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bulkup.core.items import FileIdentity, Result, UploadParams
from bulkup.core.records import ItemRecord, identity_of, made_with


@dataclass(frozen=True, slots=True)
class Reuse:
    #: The report line the item finished with.
    result: Result


@dataclass(frozen=True, slots=True)
class ContinueUpload:
    media_id: str
    media_key: str | None
    deadline: float
    acked: frozenset[int]
    #: (index, SHA-256) of the acknowledged segments whose hash was recorded.
    sha256: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ContinuePolling:
    media_id: str
    media_key: str | None


@dataclass(frozen=True, slots=True)
class ContinueAttach:
    """The media is uploaded and ready; only its metadata and subtitles are left."""

    media_id: str
    media_key: str | None
    media_expires_at: float


@dataclass(frozen=True, slots=True)
class StartOver:
    reason: str


Decision = Reuse | ContinueUpload | ContinuePolling | ContinueAttach | StartOver
PROCESSING_STATES = ("pending", "in_progress")


def decide(
    record: ItemRecord | None,
    *,
    path: str,
    identity: FileIdentity,
    params: UploadParams,
    now: float,
    margin: float,
) -> Decision:
    """What to do with an item whose path, file and parameters are as given."""
    if record is None or record.params is None:  # or only the line of an item never planned
        return StartOver("not in the checkpoint" if record is None else "no upload was planned")
    if record.path != path:
        return StartOver("the entry now names another file")
    if not identity_of(record).same_file(identity):
        return StartOver("the file changed since the checkpoint was written")
    if not _same_params(record, _comparable(params, record)):
        return StartOver("the upload parameters changed")
    if not record.media_id:
        return StartOver("no upload session was started")
    alive = record.media_expires_at is not None and record.media_expires_at > now + margin
    if record.result is not None and record.result.ok:
        return Reuse(record.result) if alive else StartOver("the media id has expired")
    if not record.finalized:
        deadline = record.upload_deadline
        if deadline is None or deadline - margin <= now:
            return StartOver("the upload session has expired")
        hashes = tuple(
            sorted((i, h) for i, h in record.segment_sha256.items() if i in record.acked)
        )
        return ContinueUpload(
            record.media_id, record.media_key, deadline, frozenset(record.acked), hashes
        )
    if record.processing in PROCESSING_STATES and alive:
        return ContinuePolling(record.media_id, record.media_key)
    if record.processing == "succeeded" and alive and record.media_expires_at is not None:
        # Ready, but its metadata or subtitles were not attached (a rate cap, a refusal):
        # attach them to the same media id instead of uploading the bytes again.
        return ContinueAttach(record.media_id, record.media_key, record.media_expires_at)
    return StartOver("the earlier upload did not succeed")


def _same_params(record: ItemRecord, params: UploadParams) -> bool:
    """Whether the record was planned with ``params``; once its bytes were all sent
    (finalized, or finished), whether it makes the same media, however they were sent."""
    kept = record.params
    sent = record.finalized or (record.result is not None and record.result.ok)
    if sent and isinstance(kept, UploadParams):
        return made_with(kept) == made_with(params)
    return kept == params  # a digest (finished records only) compares what was made


def _comparable(params: UploadParams, record: ItemRecord) -> UploadParams:
    """``params`` as the record could have kept them."""
    return replace(params, subtitles=(), post=None) if record.partial_params else params


def resume_priority(record: ItemRecord, now: float, margin: float) -> float | None:
    """The deadline that orders an unfinished item of an earlier run, or None if it is
    not resumed ahead of the sources: finished, never started, expired, or a record
    that lacks what its source says (``partial_params``: resumed when the source names it).
    """
    ended = record.result is not None and record.result.status != "skipped"  # a rate cap
    if ended or not record.media_id or record.partial_params:
        return None
    if not record.finalized:
        deadline = record.upload_deadline
        return deadline if deadline is not None and deadline - margin > now else None
    if record.processing in PROCESSING_STATES:
        expires = record.media_expires_at
        return expires if expires is not None and expires - margin > now else None
    return None
