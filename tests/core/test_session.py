"""The sans-IO upload session and retry policy, driven with no server at all."""

from __future__ import annotations

import random
from typing import Any

import pytest

from bulkup.core import spec
from bulkup.core.retry import RetryPolicy
from bulkup.core.session import (
    Append,
    Finalize,
    Init,
    Initialized,
    MediaState,
    Phase,
    Plan,
    ProcessingInfo,
    Session,
    SimpleUpload,
    chunk_size_for,
)
from bulkup.errors import (
    ApiError,
    FileProblem,
    ProcessingFailed,
    ProcessingTimeout,
    RateLimited,
    ServerError,
    TransportError,
)

MiB = 1 << 20


def plan(size: int = 10 * MiB, chunk: int = 4 * MiB, **kw: Any) -> Plan:
    return Plan(
        size=size, media_type="video/mp4", media_category="tweet_video", chunk_size=chunk, **kw
    )


def initialized(session: Session, now: float = 1000.0, expires: float = 3600) -> None:
    request = session.init_request()
    assert isinstance(request, Init)
    session.on_initialized(
        Initialized(media_id="42", media_key="7_42", expires_after_secs=expires), now
    )


def test_segments_cover_the_file_exactly_once() -> None:
    p = plan(size=10 * MiB + 1, chunk=4 * MiB)
    assert p.segments == 3
    ranges = [p.byte_range(i) for i in range(p.segments)]
    assert ranges == [(0, 4 * MiB), (4 * MiB, 4 * MiB), (8 * MiB, 2 * MiB + 1)]
    assert sum(length for _, length in ranges) == p.size


def test_chunk_grows_so_a_file_fits_in_1000_segments() -> None:
    size = 4 * MiB * 1000 + 1
    chunk = chunk_size_for(size, 4 * MiB)
    assert chunk > 4 * MiB and -(-size // chunk) <= spec.MAX_SEGMENTS
    assert chunk_size_for(10 * MiB, 1 * MiB) == 1 * MiB


def test_a_file_too_large_even_for_5_mib_chunks_fails_clearly() -> None:
    with pytest.raises(FileProblem, match="too large"):
        chunk_size_for(spec.MAX_SEGMENTS * spec.MAX_CHUNK_BYTES + 1)


def test_appends_are_handed_out_once_each_in_order() -> None:
    session = Session(plan(size=10 * MiB))
    initialized(session)
    handed = [session.next_append() for _ in range(4)]
    assert [a.index for a in handed if a] == [0, 1, 2]
    assert handed[3] is None
    assert session.in_flight == {0, 1, 2}


def test_out_of_order_acknowledgements_complete_the_upload() -> None:
    session = Session(plan(size=10 * MiB))
    initialized(session)
    appends = [session.next_append() for _ in range(3)]
    for append in reversed(appends):
        assert append is not None
        session.on_appended(append.index)
    assert session.all_acked and session.acked == {0, 1, 2}
    assert isinstance(session.finalize_request(), Finalize)
    assert session.phase is Phase.FINALIZING


def test_a_failed_append_is_handed_out_again() -> None:
    session = Session(plan(size=10 * MiB))
    initialized(session)
    first, second = session.next_append(), session.next_append()
    assert first and second
    session.on_append_failed(first.index)
    again = session.next_append()
    assert again is not None and again.index == first.index
    assert not session.all_acked


def test_finalize_is_refused_before_every_segment_is_acknowledged() -> None:
    session = Session(plan(size=10 * MiB))
    initialized(session)
    session.next_append()
    with pytest.raises(RuntimeError):
        session.finalize_request()


def test_resume_sends_only_the_missing_segments() -> None:
    p = plan(size=20 * MiB, chunk=4 * MiB)
    session = Session.resume_upload(
        p, media_id="9", media_key=None, deadline=5000.0, acked={0, 2, 4}
    )
    indices = []
    while (append := session.next_append()) is not None:
        indices.append(append.index)
        session.on_appended(append.index)
    assert indices == [1, 3]
    assert session.all_acked


def test_an_upload_near_its_deadline_counts_as_expired() -> None:
    session = Session(plan())
    initialized(session, now=1000.0, expires=600)
    assert not session.upload_expired(now=1000.0, margin=120)
    assert session.upload_expired(now=1481.0, margin=120)


def test_processing_goes_pending_in_progress_succeeded_honouring_check_after() -> None:
    session = Session(plan(size=1 * MiB))
    initialized(session)
    session.on_appended(session.next_append().index)  # type: ignore[union-attr]
    session.finalize_request()
    pending = ProcessingInfo(state="pending", check_after_secs=3)
    session.on_media_state(
        MediaState(media_id="42", expires_after_secs=86400, processing=pending), 2000.0
    )
    assert (session.phase, session.next_poll_at) == (Phase.PROCESSING, 2003.0)
    running = ProcessingInfo(state="in_progress", check_after_secs=None, progress_percent=40)
    session.status_request(2003.0, timeout=600)
    session.on_media_state(MediaState(media_id="42", processing=running), 2003.0)
    assert session.next_poll_at == 2003.0 + 1.0  # default when check_after_secs is missing
    session.on_media_state(
        MediaState(media_id="42", processing=ProcessingInfo(state="succeeded")), 2005.0
    )
    assert session.phase is Phase.DONE
    assert session.media_expires_at == 2000.0 + 86400


def test_without_hints_polls_back_off_and_a_missing_media_expiry_assumes_24_hours() -> None:
    session = Session(plan(size=1 * MiB))
    initialized(session)
    session.on_appended(session.next_append().index)  # type: ignore[union-attr]
    session.finalize_request()
    pending = ProcessingInfo(state="pending")  # a minimal answer: no check_after_secs
    now, waits = 1000.0, []
    for _ in range(5):
        session.on_media_state(MediaState(media_id="42", processing=pending), now)
        waits.append(session.next_poll_at - now)
        now = session.next_poll_at
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0]  # never spins, never waits much too long
    assert session.media_expires_at == 1000.0 + 86400  # from the first answer, assumed
    hinted = ProcessingInfo(state="in_progress", check_after_secs=3)
    session.on_media_state(MediaState(media_id="42", processing=hinted), now)
    assert session.next_poll_at == now + 3.0


def test_failed_processing_raises_with_code_name_and_message() -> None:
    session = Session.resume_processing(plan(), media_id="42", media_key=None, now=0.0)
    failed = ProcessingInfo(
        state="failed",
        error_code=3,
        error_name="UnsupportedMedia",
        error_message="Duration too long",
    )
    with pytest.raises(ProcessingFailed) as info:
        session.on_media_state(MediaState(media_id="42", processing=failed), 1.0)
    assert info.value.api_code == 3 and "UnsupportedMedia" in info.value.message
    assert session.phase is Phase.FAILED


def test_in_progress_carrying_an_error_is_treated_as_failed() -> None:
    session = Session.resume_processing(plan(), media_id="42", media_key=None, now=0.0)
    stuck = ProcessingInfo(
        state="in_progress",
        error_code=1,
        error_name="InvalidMedia",
        error_message="Unsupported video format",
    )
    with pytest.raises(ProcessingFailed):
        session.on_media_state(MediaState(media_id="42", processing=stuck), 1.0)


def test_processing_gives_up_after_the_timeout() -> None:
    session = Session.resume_processing(plan(), media_id="42", media_key=None, now=0.0)
    session.on_media_state(
        MediaState(media_id="42", processing=ProcessingInfo(state="pending")), 0.0
    )
    session.status_request(599.0, timeout=600)
    with pytest.raises(ProcessingTimeout):
        session.status_request(601.0, timeout=600)


def test_simple_strategy_asks_for_one_simple_upload() -> None:
    session = Session(plan(size=100, strategy="simple"))
    assert isinstance(session.init_request(), SimpleUpload)
    session.on_media_state(MediaState(media_id="7", media_key="3_7", expires_after_secs=86400), 0.0)
    assert session.phase is Phase.DONE and session.media_id == "7"


def test_restart_forgets_the_server_side_session() -> None:
    session = Session(plan())
    initialized(session)
    session.on_appended(session.next_append().index)  # type: ignore[union-attr]
    session.restart()
    assert session.phase is Phase.INIT and session.media_id is None and not session.acked


# --- retry policy -------------------------------------------------------------------
def test_backoff_is_full_jitter_and_capped() -> None:
    rng = random.Random(1)
    policy = RetryPolicy(max_attempts=100, base=1.0, cap=8.0)
    delays = []
    for _ in range(10):
        policy, delay = policy.next(ServerError("boom", http_status=503), rng, now=0.0)
        delays.append(delay)
    assert all(0 <= d <= 8.0 for d in delays)
    assert max(delays[:1]) <= 1.0  # first retry: within base


def test_non_retryable_errors_are_raised_at_once() -> None:
    with pytest.raises(ApiError):
        RetryPolicy().next(ApiError("bad", http_status=400), random.Random(0), now=0.0)


def test_attempts_are_bounded_and_reset_on_progress() -> None:
    policy = RetryPolicy(max_attempts=3)
    rng = random.Random(0)
    policy, _ = policy.next(TransportError("x"), rng, 0.0)
    policy, _ = policy.next(TransportError("x"), rng, 0.0)
    with pytest.raises(TransportError):
        policy.next(TransportError("x"), rng, 0.0)
    assert policy.reset().failures == 0


def test_exhausted_rate_limit_waits_until_reset() -> None:
    _, delay = RetryPolicy().next(RateLimited("429", reset_at=130.0), random.Random(0), now=100.0)
    assert delay >= 30.0


def test_append_descriptions_carry_the_byte_range() -> None:
    session = Session(plan(size=5 * MiB, chunk=4 * MiB))
    initialized(session)
    first = session.next_append()
    second = session.next_append()
    assert first == Append("42", 0, 0, 4 * MiB)
    assert second == Append("42", 1, 4 * MiB, 1 * MiB)


# --- dialect request building --------------------------------------------------------
def test_shared_and_additional_owners_are_sent_at_init_in_both_dialects() -> None:
    from bulkup.core.dialects import V1, V2

    p = Plan(
        size=10,
        media_type="image/jpeg",
        media_category="dm_image",
        shared=True,
        additional_owners=("11", "22"),
    )
    v1 = V1("http://h").build(Init(p))
    assert v1.form is not None
    assert v1.form["shared"] == "true" and v1.form["additional_owners"] == "11,22"
    v2 = V2("http://h").build(Init(p))
    assert v2.json is not None
    assert v2.json["shared"] is True and v2.json["additional_owners"] == ["11", "22"]
