"""The resume rules as pure decisions: no server, no files, no clock."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from bulkup.core.items import FileIdentity, Metadata, Result, SubtitleSpec, UploadParams
from bulkup.core.records import ParamsDigest
from bulkup.core.resume import (
    ContinueAttach,
    ContinuePolling,
    ContinueUpload,
    Reuse,
    StartOver,
    decide,
    resume_priority,
)
from bulkup.run.checkpoint import ItemRecord

NOW = 1_000_000.0
MARGIN = 120.0
PARAMS = UploadParams(
    media_type="video/mp4",
    media_category="tweet_video",
    chunk_size=4096,
    strategy="chunked",
    metadata=Metadata(sensitive_media_warning=("other",)),
    subtitles=(SubtitleSpec(path=Path("/en.srt"), language_code="EN"),),
    post="trip",
)
SUCCEEDED = Result(id="a", path="/a.mp4", status="succeeded", media_id_string="9", attempts=2)


def record(**changes: Any) -> ItemRecord:
    base = ItemRecord(id="a", path="/a.mp4", size=100, mtime_ns=7, params=PARAMS)
    return dataclasses.replace(base, **changes)


def decide_for(rec: ItemRecord | None, **kw: Any) -> object:
    args: dict[str, Any] = {
        "path": "/a.mp4",
        "params": PARAMS,
        "now": NOW,
        "margin": MARGIN,
    }
    file: dict[str, Any] = {"size": 100, "mtime_ns": 7, "ctime_ns": None, "inode": None}
    file.update({k: kw.pop(k) for k in list(kw) if k in file})
    args.update(kw)
    return decide(rec, identity=FileIdentity(**file), **args)


def test_an_item_not_in_the_checkpoint_starts_over() -> None:
    assert isinstance(decide_for(None), StartOver)


def test_a_succeeded_item_with_a_live_media_id_is_reused() -> None:
    rec = record(media_id="9", result=SUCCEEDED, media_expires_at=NOW + 3600, finalized=True)
    assert decide_for(rec) == Reuse(SUCCEEDED)  # the line it finished with, whole


@pytest.mark.parametrize("kept", ["whole", "digest"])
def test_a_succeeded_item_sent_another_way_is_reused(kept: str) -> None:
    # --strategy auto chooses one-shot or chunked per run, from the budgets left: how
    # the bytes went is not what the media is.
    params = PARAMS if kept == "whole" else ParamsDigest.of(PARAMS)
    rec = record(
        params=params, media_id="9", result=SUCCEEDED, media_expires_at=NOW + 3600, finalized=True
    )
    sent_otherwise = dataclasses.replace(PARAMS, strategy="simple", chunk_size=8192)
    assert decide_for(rec, params=sent_otherwise) == Reuse(SUCCEEDED)
    changed = dataclasses.replace(PARAMS, metadata=Metadata(alt_text="new"))
    assert isinstance(decide_for(rec, params=changed), StartOver)


def test_a_ready_media_sent_another_way_gets_only_its_attachments() -> None:
    rec = record(media_id="9", finalized=True, processing="succeeded", media_expires_at=NOW + 3600)
    sent_otherwise = dataclasses.replace(PARAMS, strategy="simple")
    assert isinstance(decide_for(rec, params=sent_otherwise), ContinueAttach)


def test_a_succeeded_item_whose_media_id_expires_within_the_margin_starts_over() -> None:
    rec = record(media_id="9", result=SUCCEEDED, media_expires_at=NOW + 60)
    decision = decide_for(rec)
    assert isinstance(decision, StartOver) and "expired" in decision.reason


def test_an_unfinished_upload_with_time_left_continues_with_its_acked_segments() -> None:
    rec = record(media_id="9", upload_deadline=NOW + 600, acked={0, 2})
    assert decide_for(rec) == ContinueUpload("9", None, NOW + 600, frozenset({0, 2}))


def test_an_unfinished_upload_near_its_deadline_starts_over() -> None:
    rec = record(media_id="9", upload_deadline=NOW + MARGIN - 1, acked={0})
    decision = decide_for(rec)
    assert isinstance(decision, StartOver) and "session has expired" in decision.reason


def test_a_changed_file_starts_over_whatever_the_checkpoint_says() -> None:
    rec = record(media_id="9", upload_deadline=NOW + 600)
    assert isinstance(decide_for(rec, mtime_ns=8), StartOver)
    assert isinstance(decide_for(rec, size=101), StartOver)


@pytest.mark.parametrize(
    "change",
    [
        {"chunk_size": 8192},
        {"metadata": Metadata(alt_text="new")},
        {"subtitles": ()},
        {"post": "other"},
        {"additional_owners": ("12",)},
        {"shared": True},
    ],
    ids=lambda change: next(iter(change)),
)
def test_changed_upload_parameters_start_over(change: dict[str, Any]) -> None:
    rec = record(media_id="9", upload_deadline=NOW + 600)
    changed = dataclasses.replace(PARAMS, **change)
    assert isinstance(decide_for(rec, params=changed), StartOver)


def test_a_version_1_record_continues_with_the_subtitles_and_post_it_did_not_keep() -> None:
    bare = dataclasses.replace(PARAMS, subtitles=(), post=None)
    rec = record(media_id="9", upload_deadline=NOW + 600, params=bare, partial_params=True)
    assert isinstance(decide_for(rec), ContinueUpload)
    assert resume_priority(rec, NOW, MARGIN) is None  # resumed when its source names it
    other = dataclasses.replace(PARAMS, chunk_size=8192)
    assert isinstance(decide_for(rec, params=other), StartOver)


def test_a_finalized_item_still_processing_resumes_polling() -> None:
    rec = record(
        media_id="9", finalized=True, processing="in_progress", media_expires_at=NOW + 86400
    )
    assert decide_for(rec) == ContinuePolling("9", None)


def test_a_failed_item_with_a_live_session_continues_its_upload() -> None:
    failed = dataclasses.replace(SUCCEEDED, status="failed")
    rec = record(media_id="9", upload_deadline=NOW + 600, result=failed)
    assert isinstance(decide_for(rec), ContinueUpload)


def test_resumed_sessions_are_ordered_by_nearest_deadline() -> None:
    soon = record(id="soon", media_id="1", upload_deadline=NOW + 300)
    later = record(id="later", media_id="2", upload_deadline=NOW + 900)
    polling = record(
        id="poll", media_id="3", finalized=True, processing="pending", media_expires_at=NOW + 86400
    )
    done = record(id="done", media_id="4", result=SUCCEEDED)
    fresh = record(id="fresh")
    keys = {r.id: resume_priority(r, NOW, MARGIN) for r in (soon, later, polling, done, fresh)}
    assert keys["done"] is None and keys["fresh"] is None
    ordered = sorted((k for k in keys if keys[k] is not None), key=lambda k: keys[k])  # type: ignore[arg-type,return-value]
    assert ordered == ["soon", "later", "poll"]


def test_a_ready_media_whose_attachments_were_left_gets_only_them() -> None:
    """A rate cap (no result) or a failed metadata request (a failed result) after a
    ready FINALIZE: the same media id, its metadata and subtitles sent, no bytes again."""
    ready = record(
        media_id="9", finalized=True, processing="succeeded", media_expires_at=NOW + 80_000
    )
    failed = Result(id="a", path="/a.mp4", status="failed", media_id_string="9")
    for left in (ready, dataclasses.replace(ready, result=failed)):
        decision = decide_for(left)
        assert decision == ContinueAttach("9", None, NOW + 80_000), decision
    assert isinstance(decide_for(dataclasses.replace(ready, processing="failed")), StartOver)
    expiring = dataclasses.replace(ready, media_expires_at=NOW + MARGIN - 1)
    assert isinstance(decide_for(expiring), StartOver)  # its media id would not outlive it


def test_an_entry_that_now_names_another_file_starts_over() -> None:
    rec = record(media_id="9", result=SUCCEEDED, media_expires_at=NOW + 3600, finalized=True)
    decision = decide_for(rec, path="/b.mp4")
    assert isinstance(decision, StartOver) and "another file" in decision.reason


@pytest.mark.parametrize("field", ["ctime_ns", "inode"])
def test_a_file_whose_ctime_or_inode_changed_starts_over(field: str) -> None:
    """Same size and mtime (``touch -r``), but rewritten: the status-change time or
    the inode says so."""
    rec = record(media_id="9", upload_deadline=NOW + 3600, ctime_ns=5, inode=11)
    assert isinstance(decide_for(rec, ctime_ns=5, inode=11), ContinueUpload)
    changed = {"ctime_ns": 5, "inode": 11} | {field: 99}
    assert isinstance(decide_for(rec, **changed), StartOver)


def test_a_record_that_kept_no_ctime_or_inode_compares_size_and_mtime() -> None:
    rec = record(media_id="9", upload_deadline=NOW + 3600)  # written by an older bulkup
    assert isinstance(decide_for(rec, ctime_ns=5, inode=11), ContinueUpload)
