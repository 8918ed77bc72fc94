"""Typed records: parameters and results stored whole, and checkpoints of format version 1
(written by an earlier bulkup) read, converted and resumed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from bulkup.client.config import UploadConfig
from bulkup.client.uploader import Uploader
from bulkup.core.items import ErrorInfo, Metadata, Result, SubtitleSpec, UploadParams
from bulkup.core.record_codec import record_to_json
from bulkup.core.records import outcome_record
from bulkup.emulator import Emulator, EmulatorConfig
from bulkup.run.checkpoint import (
    CHECKPOINT_VERSION,
    Checkpoint,
    CheckpointError,
    ParamsDigest,
    RunIdentity,
    summarize,
)
from tests.client.test_uploader import (
    appends,
    config_for,
    run_all,
    upload_until_hang,
)
from tests.conftest import HANG, KiB, answering, oauth
from tests.run.test_checkpoint import IDENTITY, files_of, journal, record
from tests.run.test_record_defects import items_of, subtitled_video

PARAMS = UploadParams(
    media_type="video/mp4",
    media_category="amplify_video",
    chunk_size=1024,
    strategy="chunked",
    metadata=Metadata(alt_text=None, sensitive_media_warning=("other",), allow_download=False),
    subtitles=(
        SubtitleSpec(path=Path("/s/en.srt"), language_code="en", display_name="English"),
        SubtitleSpec(path=Path("/s/fr.vtt"), language_code="FR"),
    ),
    post="trip",
    additional_owners=("12", "34"),
    shared=True,
)
RESULT = Result(
    id="clip",
    path="/data/clip.mp4",
    status="failed",
    media_id_string="111",
    media_key="7_111",
    media_type="video/mp4",
    media_category="amplify_video",
    size=5000,
    expires_at=dt.datetime(2030, 3, 18, 17, 46, 40, tzinfo=dt.UTC),
    attempts=3,
    elapsed_s=4.125,
    error=ErrorInfo(kind="subtitles_failed", message="subtitles FR: no", http_status=400),
    alt_text_applied=None,
    metadata_applied=True,
    retry_after=dt.datetime(2030, 3, 19, 0, 0, tzinfo=dt.UTC),
    subtitles=({"language_code": "EN", "media_id_string": "112"},),
    post="trip",
    warnings=("the extension says .mov",),
)


# --- the value types ----------------------------------------------------------------
def test_upload_params_and_results_come_back_whole_from_their_json() -> None:
    assert UploadParams.from_json(json.loads(json.dumps(PARAMS.as_json()))) == PARAMS
    assert Result.from_json(json.loads(json.dumps(RESULT.as_json()))) == RESULT
    with pytest.raises(dataclasses.FrozenInstanceError):
        PARAMS.post = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"chunk_size": "1024"}, "chunk_size"),
        ({"strategy": "fast"}, "strategy"),
        ({"subtitles": [{"path": "/en.srt"}]}, "language_code"),
        ({"metadata": {"alt_text": None}}, "sensitive_media_warning"),
        ({"post": 7}, "post"),
    ],
)
def test_a_damaged_params_field_is_named(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        UploadParams.from_json({**PARAMS.as_json(), **change})


def test_a_checkpoint_keeps_params_whole_until_the_item_finishes_then_their_digest(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.ckpt"
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.put(record("clip", params=PARAMS))
        cp.compact()
        unfinished = json.loads(path.read_bytes())["items"]["clip"]
        cp.update("clip", result=RESULT, attempts=3)
        cp._abandon()  # the journal alone must hold them whole
    assert unfinished["params"]["subtitles"][0] == {
        "path": "/s/en.srt",
        "language_code": "EN",
        "display_name": "English",
    }
    with Checkpoint.open(path, IDENTITY) as cp:
        clip = cp.get("clip")
        assert clip is not None and (clip.params, clip.result) == (PARAMS, RESULT)
        assert clip.params != dataclasses.replace(PARAMS, post="other")
    stored = json.loads(path.read_bytes())
    assert stored["version"] == CHECKPOINT_VERSION == 5
    assert stored["items"]["clip"]["params"] == ParamsDigest.of(PARAMS).hex


# --- format version 1 ---------------------------------------------------------------
#: Written by bulkup with format version 1 (a snapshot, then a journal of later events).
V1_SNAPSHOT = {
    "version": 1,
    "generation": 2,
    "identity": {
        "endpoint": "https://upload.twitter.com",
        "dialect": "v1.1",
        "account": "oauth1:ab12",
    },
    "items": {
        "clip": {
            "path": "/data/clip.mp4",
            "size": 5000,
            "mtime_ns": 17,
            "params": {
                "alt_text": None,
                "media_type": "video/mp4",
                "media_category": "tweet_video",
                "chunk_size": 1024,
                "strategy": "chunked",
                "additional_owners": ["12"],
                "shared": False,
                "sensitive_media_warning": ["other"],
            },
            "media_id": "111",
            "media_key": "7_111",
            "upload_deadline": 1900000000.5,
            "acked": [[0, 1]],
            "finalized": False,
            "processing": None,
            "media_expires_at": None,
            "result": None,
            "attempts": 0,
        }
    },
}
V1_CAT_PARAMS = {
    "alt_text": "A cat",
    "media_type": "image/png",
    "media_category": "tweet_image",
    "chunk_size": 4194304,
    "strategy": "simple",
    "additional_owners": [],
    "shared": False,
}
V1_CAT_RESULT: dict[str, Any] = {
    "id": "cat",
    "path": "/data/cat.png",
    "status": "succeeded",
    "media_id_string": "222",
    "media_key": None,
    "media_type": "image/png",
    "media_category": "tweet_image",
    "size": 300,
    "expires_at": "2030-03-18T17:46:40Z",
    "attempts": 1,
    "elapsed_s": 0.051,
    "error": None,
    "resumed": False,
    "alt_text_applied": True,
    "metadata_applied": True,
    "retry_after": None,
    "subtitles": [],
    "post": "album",
    "warnings": [],
}
V1_JOURNAL = [
    {"v": 1, "gen": 2},
    {"a": "clip", "i": 2},
    {
        "p": "cat",
        "r": {"path": "/data/cat.png", "size": 300, "mtime_ns": 18, "params": V1_CAT_PARAMS},
    },
    {"u": "cat", "c": {"media_id": "222", "finalized": True, "media_expires_at": 1900086400}},
    {"u": "cat", "c": {"result": V1_CAT_RESULT, "attempts": 1}},
]


def write_v1(path: Path) -> None:
    path.write_text(json.dumps(V1_SNAPSHOT))
    journal(path).write_text("".join(json.dumps(event) + "\n" for event in V1_JOURNAL))


def test_a_version_1_checkpoint_is_read_converted_and_written_as_the_current_version(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.ckpt"
    write_v1(path)
    assert summarize(path)["succeeded"] == 1  # status reads it as it is
    with Checkpoint.open(path, IDENTITY) as cp:
        clip, cat = cp.get("clip"), cp.get("cat")
    assert clip is not None and cat is not None
    assert clip.params == UploadParams(
        media_type="video/mp4",
        media_category="tweet_video",
        chunk_size=1024,
        strategy="chunked",
        metadata=Metadata(sensitive_media_warning=("other",)),
        additional_owners=("12",),
    )
    assert clip.partial_params and clip.acked == {0, 1, 2}
    assert (
        isinstance(cat.params, UploadParams)  # a version 1 record is kept whole
        and cat.params.metadata.alt_text == "A cat"
        and cat.params.strategy == "simple"
    )
    assert cat.result == Result.from_json(V1_CAT_RESULT) and cat.result.alt_text_applied
    assert json.loads(path.read_bytes())["version"] == CHECKPOINT_VERSION  # rewritten at open
    with Checkpoint.open(path, IDENTITY) as again:
        assert again.get("clip") == clip and again.get("cat") == cat


def test_a_version_1_record_completed_by_its_source_is_replayed_complete(tmp_path: Path) -> None:
    path = tmp_path / "run.ckpt"
    write_v1(path)
    with Checkpoint.open(path, IDENTITY) as cp:
        clip = cp.get("clip")
        assert clip is not None and isinstance(clip.params, UploadParams)
        full = dataclasses.replace(clip.params, subtitles=PARAMS.subtitles, post="trip")
        cp.update("clip", params=full, partial_params=False)
        cp._abandon()  # as a crash would: the journal alone holds the change
    with Checkpoint.open(path, IDENTITY) as cp:
        again = cp.get("clip")
    assert again is not None and again.params == full and not again.partial_params
    assert "partial_params" not in json.loads(path.read_bytes())["items"]["clip"]


def test_a_damaged_version_1_record_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "run.ckpt"
    write_v1(path)
    data = json.loads(path.read_bytes())
    data["items"]["clip"]["params"]["additional_owners"] = "12"
    path.write_text(json.dumps(data))
    before = files_of(path)
    with pytest.raises(CheckpointError, match=r"damaged.*additional_owners"):
        Checkpoint.open(path, IDENTITY)
    assert files_of(path) == before


# --- format versions 2 and 3 ---------------------------------------------------------
def as_version(path: Path, version: int) -> None:
    """Rewrite a checkpoint left by a crash as format version 2 or 3 wrote it: the
    snapshot in ``json.dumps``'s default form and one journal, both of that version."""
    data = json.loads(path.read_bytes())
    data["version"] = version
    path.write_text(json.dumps(data))
    header, *events = journal(path).read_bytes().splitlines(keepends=True)
    old_header = json.dumps({**json.loads(header), "v": version}).encode() + b"\n"
    journal(path).write_bytes(old_header + b"".join(events))


@pytest.mark.parametrize("version", [2, 3])
def test_a_version_2_or_3_checkpoint_is_read_with_its_journal_and_written_as_the_current_one(
    tmp_path: Path, version: int
) -> None:
    path = tmp_path / "run.ckpt"
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.put(record("clip", params=PARAMS))
        cp.put(record("cat"))
        cp.compact()  # the snapshot holds both, the journal what follows
        for i in (0, 1, 3):
            cp.ack("clip", i)
        cp.update("cat", result=RESULT, attempts=3)
        recorded = list(cp)
        cp._abandon()
    as_version(path, version)
    assert summarize(path)["failed"] == 1  # status reads it as it is

    with Checkpoint.open(path, IDENTITY) as cp:
        assert list(cp) == recorded
    assert json.loads(path.read_bytes())["version"] == CHECKPOINT_VERSION == 5
    with Checkpoint.open(path, IDENTITY) as cp:
        assert list(cp) == recorded


# --- format version 4: items that ended before their upload was planned ------------------
UNSENT = Result(
    id="gone.jpg",
    path=None,
    status="failed",
    error=ErrorInfo(kind="missing_file", message="m.jsonl:2: no such file: gone.jpg"),
)


def test_an_item_that_ended_before_its_upload_was_planned_is_kept_with_its_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.ckpt"
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.put(outcome_record(UNSENT))
        cp._abandon()  # the journal alone holds it
    with Checkpoint.open(path, IDENTITY) as cp:
        gone = cp.get("gone.jpg")
    assert gone is not None and gone.params is None and gone.result == UNSENT
    assert json.loads(path.read_bytes())["items"]["gone.jpg"]["params"] is None
    assert summarize(path)["failed"] == 1


@pytest.mark.parametrize("version", [2, 3])
def test_a_record_without_params_in_an_older_format_is_damaged(
    tmp_path: Path, version: int
) -> None:
    path = tmp_path / "run.ckpt"
    with Checkpoint.open(path, IDENTITY) as cp:
        cp.put(outcome_record(UNSENT))
    data = json.loads(path.read_bytes())
    data["items"] = {"gone.jpg": record_to_json(outcome_record(UNSENT))}  # as version 4 wrote it
    path.write_text(json.dumps({**data, "version": version}))
    with pytest.raises(CheckpointError, match=r"damaged.*params is not a JSON object: None"):
        Checkpoint.open(path, IDENTITY)


# --- resuming a version 1 checkpoint --------------------------------------------------
@pytest.fixture
def emulator_config(answers: str) -> EmulatorConfig:
    return answering(HANG, answers)


def identity_for(emu: Emulator, config: UploadConfig) -> RunIdentity:
    return RunIdentity(endpoint=config.base_url, dialect=config.api, account=oauth(emu).account)


def as_version_1(path: Path) -> None:
    """Rewrite a compacted checkpoint as format version 1 wrote it."""
    data = json.loads(path.read_bytes())
    data["version"] = 1
    for item in data["items"].values():
        params = item["params"]
        metadata = params.pop("metadata")
        del params["subtitles"], params["post"]
        params["alt_text"] = metadata["alt_text"]
        if metadata["sensitive_media_warning"]:
            params["sensitive_media_warning"] = metadata["sensitive_media_warning"]
    path.write_text(json.dumps(data))


@pytest.mark.anyio
@pytest.mark.answer_modes
async def test_a_version_1_checkpoint_resumes_its_upload_with_the_subtitles_of_its_source(
    emulator: Emulator, tmp_path: Path
) -> None:
    source = subtitled_video(tmp_path)
    config = config_for(emulator, chunk_size=1 * KiB, segments_per_file=1, files_in_flight=1)
    checkpoint = tmp_path / "run.ckpt"
    await upload_until_hang(emulator, config, items_of(source), checkpoint, appends=4)
    with Checkpoint.open(checkpoint, identity_for(emulator, config)) as cp:
        started = cp.get("clip")
    assert started is not None and started.media_id is not None
    as_version_1(checkpoint)
    sent_before = appends(emulator)

    async with Uploader(config, auth=oauth(emulator)) as up:
        (result,) = await run_all(up, items_of(source), checkpoint)

    assert result.ok, result.error
    assert result.media_id_string == started.media_id  # the same upload session went on
    segments = -(-(tmp_path / "clip.mp4").stat().st_size // KiB)
    subtitle_appends = 1
    sent = appends(emulator) - sent_before
    assert sent == segments - len(started.acked) + subtitle_appends
    assert result.post == "trip" and [s["language_code"] for s in result.subtitles] == ["EN"]
    info = emulator.media(result.media_id_string)
    assert info is not None and [s["language_code"] for s in info["subtitles"]] == ["EN"]
    with Checkpoint.open(checkpoint, identity_for(emulator, config)) as cp:
        done = cp.get("clip")
    assert done is not None and not done.partial_params
    # finished: its params kept as their digest, of the source's (with its post)
    assert isinstance(done.params, ParamsDigest) and done.params == started.params
