"""The sans-IO upload session, driven with scripted answers: no server, no event loop.

Each rule of :mod:`bulkup.core.session` has a test here: the session is asked for its
next action, the test answers (or fails) the step as a server would, and checks what
the session asks for next and the notes it gives its driver.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bulkup.core import resume, spec
from bulkup.core.items import Metadata, Result, SubtitleSpec
from bulkup.core.retry import RetryPolicy
from bulkup.core.session import (
    MIN_REPOLL_SECS,
    Phase,
    Rules,
    Session,
    chunk_size_for,
)
from bulkup.core.steps import (
    Acked,
    Action,
    Append,
    AttachSubtitles,
    Finalize,
    Finish,
    Init,
    Initialized,
    MediaState,
    Note,
    Park,
    Plan,
    ProcessingInfo,
    Record,
    Refuse,
    Retrying,
    Send,
    SetMetadata,
    SimpleUpload,
    Sleep,
    Stage,
    Status,
    Step,
    Stored,
    UploadSubtitles,
    VerifyFile,
    VerifySegments,
)
from bulkup.errors import (
    ApiError,
    AuthError,
    ConnectError,
    FileChanged,
    FileProblem,
    ProtocolError,
    RateCapped,
    RateLimited,
    ServerError,
    TLSError,
    TransportError,
    UploadError,
)

MiB = 1 << 20
T0 = 1000.0
Answer = Initialized | MediaState | Stored | Result | UploadError | None


def plan(size: int = 10 * MiB, chunk: int = 4 * MiB, **kw: Any) -> Plan:
    return Plan(
        size=size, media_type="video/mp4", media_category="tweet_video", chunk_size=chunk, **kw
    )


def session(p: Plan | None = None, *, attempts: int = 3, restarts: int = 2, **kw: Any) -> Session:
    rules = Rules(
        policy=RetryPolicy(max_attempts=attempts, base=1.0, cap=4.0),
        max_restarts=restarts,
        processing_timeout=600.0,
    )
    return Session(p or plan(), rules, rng=random.Random(0), **kw)


def ready(media_id: str = "42", **kw: Any) -> MediaState:
    return MediaState(media_id=media_id, expires_after_secs=86400, **kw)


def processing(state: str, check_after: float | None = None, **kw: Any) -> MediaState:
    info = ProcessingInfo(state=state, check_after_secs=check_after, **kw)
    return MediaState(media_id="42", processing=info)


def server(step: Step) -> Answer:
    """A server that answers every step as X does when all goes well."""
    match step:
        case Init():
            return Initialized(media_id="42", media_key="7_42", expires_after_secs=3600)
        case Finalize() | SimpleUpload():
            return ready()
        case Status():
            return ready()
    return None


class Script:
    """Drives a session on one lane with answers from ``answer``; time moves only when
    the session sleeps. Every step sent and every note given is kept."""

    def __init__(self, s: Session, answer: Callable[[Step], Answer] = server) -> None:
        self.session, self.answer, self.now = s, answer, T0
        self.sent: list[Step] = []
        self.notes: list[Note] = []

    def run(self, limit: int = 500) -> Session:
        for _ in range(limit):
            action = self.session.next_action(self.now)
            match action:
                case Finish():
                    return self.session
                case Sleep(until=until):
                    assert until > self.now
                    self.now = until
                case Send(step=step):
                    self.sent.append(step)
                    self.notes += deliver(self.session, step, self.answer(step), self.now)
                case Park():
                    raise AssertionError("one lane never parks")
        raise AssertionError(f"no end after {limit} actions: {self.sent[-5:]}")

    def kinds(self) -> list[str]:
        return [type(step).__name__ for step in self.sent]


def deliver(s: Session, step: Step, answer: Answer, now: float) -> list[Note]:
    if isinstance(answer, UploadError):
        return s.on_error(step, answer, now)
    return s.on_answer(step, answer, now)


def send(action: Action) -> Step:
    assert isinstance(action, Send), action
    return action.step


def failing(times: int, error: UploadError, where: type = Append) -> Callable[[Step], Answer]:
    """``server``, except that the first ``times`` steps of type ``where`` fail."""
    left = [times]

    def answer(step: Step) -> Answer:
        if isinstance(step, where) and left[0] > 0:
            left[0] -= 1
            return error
        return server(step)

    return answer


GONE = ApiError("The media ID was not found or has expired", http_status=400, api_code=324)


# --- sizes --------------------------------------------------------------------------------
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


# --- the whole upload -------------------------------------------------------------------
def test_a_chunked_upload_inits_appends_verifies_the_file_and_finalizes() -> None:
    script = Script(session(plan(size=5 * MiB)))
    s = script.run()
    assert s.phase is Phase.DONE and s.error is None and s.attempts == 1
    assert script.sent == [
        Init(s.plan),
        Append("42", 0, 0, 4 * MiB),
        Append("42", 1, 4 * MiB, 1 * MiB),
        VerifyFile(),
        Finalize("42"),
    ]
    records = [n.changes for n in script.notes if isinstance(n, Record)]
    assert records[0] == {
        "media_id": "42",
        "media_key": "7_42",
        "upload_deadline": T0 + 3600,
        "acked": set(),
        "segment_sha256": {},
        "finalized": False,
    }
    assert records[1]["finalized"] is True and records[1]["processing"] == "succeeded"
    assert [n for n in script.notes if isinstance(n, Acked)] == [Acked(0, 4 * MiB), Acked(1, MiB)]
    assert Stage("finalizing") in script.notes


def test_the_simple_strategy_sends_one_request() -> None:
    script = Script(session(plan(size=100, strategy="simple")))
    s = script.run()
    assert script.kinds() == ["SimpleUpload", "VerifyFile"] and s.phase is Phase.DONE
    assert s.media_id == "42" and s.media_expires_at == T0 + 86400


def test_a_file_changed_before_finalize_fails_without_finalizing() -> None:
    changed = FileChanged("cat.mp4 changed during the upload")
    script = Script(session(plan(size=MiB)), failing(1, changed, VerifyFile))
    s = script.run()
    assert s.error is changed and script.kinds()[-1] == "VerifyFile"


def test_a_file_changed_while_a_one_shot_upload_read_it_fails_the_item() -> None:
    changed = FileChanged("cat.png changed during the upload")
    script = Script(session(plan(size=100, strategy="simple")), failing(1, changed, VerifyFile))
    s = script.run()
    assert s.error is changed and script.kinds() == ["SimpleUpload", "VerifyFile"]
    assert not [n for n in script.notes if isinstance(n, Record)]  # never recorded as done


def test_the_slot_is_needed_until_finalize_answers() -> None:
    s = session(plan(size=MiB))
    assert s.sending
    deliver(s, send(s.next_action(T0)), server(Init(s.plan)), T0)
    assert s.sending
    deliver(s, send(s.next_action(T0)), None, T0)  # the one segment
    deliver(s, send(s.next_action(T0)), None, T0)  # the file is unchanged
    assert s.sending and send(s.next_action(T0)) == Finalize("42")
    deliver(s, Finalize("42"), processing("pending", 5), T0)
    assert (s.phase, s.sending) == (Phase.PROCESSING, False)


# --- parallel segments ----------------------------------------------------------------------
def test_lanes_get_each_segment_once_then_park_until_the_last_answers() -> None:
    s = session(plan(size=10 * MiB))
    deliver(s, send(s.next_action(T0)), server(Init(s.plan)), T0)
    a, b, c = (send(s.next_action(T0)) for _ in range(3))
    assert [x.index for x in (a, b, c) if isinstance(x, Append)] == [0, 1, 2]
    assert isinstance(s.next_action(T0), Park)
    for step in (c, a, b):  # acknowledged out of order
        deliver(s, step, None, T0)
    assert s.acked == {0, 1, 2} and send(s.next_action(T0)) == VerifyFile()


def test_a_failed_segment_goes_again_after_its_backoff_and_holds_back_new_ones() -> None:
    s = session(plan(size=10 * MiB))
    deliver(s, send(s.next_action(T0)), server(Init(s.plan)), T0)
    first, second = send(s.next_action(T0)), send(s.next_action(T0))
    [retry] = deliver(s, first, ServerError("503", http_status=503), T0)
    assert isinstance(retry, Retrying) and s.attempts == 2
    wait = s.next_action(T0)
    assert isinstance(wait, Sleep) and wait.until == T0 + retry.delay  # no new segment
    assert send(s.next_action(wait.until)) == first  # the same bytes again
    assert second == Append("42", 1, 4 * MiB, 4 * MiB)
    assert send(s.next_action(wait.until)) == Append("42", 2, 8 * MiB, 2 * MiB)


def test_every_acknowledged_segment_resets_the_count_of_failures() -> None:
    """A connection that fails every other request still gets a long file through."""
    flaky = [False]

    def answer(step: Step) -> Answer:
        if isinstance(step, Append):
            flaky[0] = not flaky[0]
            if flaky[0]:
                return TransportError("the server closed the connection")
        return server(step)

    s = Script(session(plan(size=40 * MiB), attempts=2), answer).run()
    assert s.phase is Phase.DONE and s.attempts == 11


def test_a_segment_that_keeps_failing_ends_the_upload_after_max_attempts() -> None:
    error = ServerError("502", http_status=502)
    script = Script(session(plan(size=10 * MiB), attempts=3), failing(99, error))
    s = script.run()
    assert s.error is error and s.attempts == 3
    assert [step.index for step in script.sent if isinstance(step, Append)] == [0, 0, 0]


def test_a_resumed_upload_sends_only_the_missing_segments() -> None:
    decision = resume.ContinueUpload("9", None, T0 + 600, frozenset({0, 2, 4}))
    s = session(plan(size=20 * MiB)).resume(decision, T0)
    script = Script(s, lambda step: ready("9") if isinstance(step, Finalize) else None)
    script.run()
    assert [step.index for step in script.sent if isinstance(step, Append)] == [1, 3]


def test_a_resumed_upload_with_every_segment_acknowledged_goes_to_finalize() -> None:
    decision = resume.ContinueUpload("9", None, T0 + 600, frozenset({0, 1, 2}))
    s = session(plan(size=10 * MiB)).resume(decision, T0)
    assert send(s.next_action(T0)) == VerifyFile()


# --- a gone upload ------------------------------------------------------------------------
def test_an_upload_the_server_forgot_starts_over_with_init() -> None:
    script = Script(session(plan(size=10 * MiB)), failing(1, GONE))
    s = script.run()
    assert s.phase is Phase.DONE and s.restarts == 1 and s.attempts == 2
    again = ["Init", "Append", "Append", "Append", "VerifyFile", "Finalize"]
    assert script.kinds() == ["Init", "Append", *again]


def test_restarts_are_bounded_then_the_item_fails_as_session_expired() -> None:
    s = Script(session(plan(size=10 * MiB), restarts=1), failing(9, GONE)).run()
    assert s.error is not None and s.error.kind == "session_expired" and s.restarts == 1


def test_a_deadline_passed_mid_upload_starts_over_before_sending_more() -> None:
    s = session(plan(size=10 * MiB))
    deliver(s, send(s.next_action(T0)), server(Init(s.plan)), T0)
    old = send(s.next_action(T0))
    assert isinstance(s.next_action(T0 + 3600), Send) and s.phase is Phase.INIT
    assert deliver(s, old, None, T0 + 3600) == []  # an answer for the forgotten upload
    assert s.acked == set()


def test_a_gone_upload_after_finalize_fails_instead_of_uploading_again() -> None:
    s = session(plan(size=MiB)).resume(resume.ContinuePolling("42", None), T0)
    deliver(s, send(s.next_action(T0)), GONE, T0)
    assert s.error is not None and s.error.kind == "session_expired" and s.restarts == 0


# --- an unclear FINALIZE ----------------------------------------------------------------
def test_a_refused_finalize_after_an_unanswered_one_is_settled_by_status() -> None:
    """The first FINALIZE may have taken effect: its refusal of the second is no failure."""
    answers: list[Answer] = [
        TransportError("read timeout"),
        ApiError("Segments do not add up", http_status=400),
    ]

    def answer(step: Step) -> Answer:
        return answers.pop(0) if isinstance(step, Finalize) else server(step)

    script = Script(session(plan(size=MiB)), answer)
    s = script.run()
    assert s.phase is Phase.DONE
    assert script.kinds()[-3:] == ["Finalize", "Finalize", "Status"]


def test_status_saying_not_finalized_sends_finalize_again() -> None:
    answers: list[Answer] = [ProtocolError("200 without data.id", http_status=200), ready()]
    not_found = ApiError("not finalized", http_status=404)

    def answer(step: Step) -> Answer:
        if isinstance(step, Finalize):
            return answers.pop(0)
        return not_found if isinstance(step, Status) else server(step)

    script = Script(session(plan(size=MiB)), answer)
    s = script.run()
    assert s.phase is Phase.DONE
    assert script.kinds()[-3:] == ["Finalize", "Status", "Finalize"]


def test_a_first_refusal_of_finalize_is_a_failure() -> None:
    refused = ApiError("Segments do not add up", http_status=400)
    s = Script(session(plan(size=MiB)), failing(1, refused, Finalize)).run()
    assert s.error is refused


def test_an_init_accepted_without_a_media_id_is_sent_again() -> None:
    accepted = ProtocolError("200 without data.id", http_status=200)
    script = Script(session(plan(size=MiB)), failing(1, accepted, Init))
    assert script.run().phase is Phase.DONE
    assert script.kinds()[:2] == ["Init", "Init"]


# --- processing ---------------------------------------------------------------------------
def polled(answers: list[MediaState]) -> tuple[Script, list[float]]:
    """Polls after FINALIZE answered ``answers[0]``; the times each STATUS went."""
    times: list[float] = []
    script: Script

    def answer(step: Step) -> Answer:
        if isinstance(step, Status):
            times.append(script.now)
        return answers.pop(0) if isinstance(step, Finalize | Status) else server(step)

    script = Script(session(plan(size=MiB)), answer)
    script.run()
    return script, times


def test_polls_honour_check_after_and_end_when_processing_succeeds() -> None:
    script, times = polled(
        [
            processing("pending", 3),
            processing("in_progress", 5, progress_percent=40),
            processing("succeeded"),
        ]
    )
    assert times == [T0 + 3, T0 + 8] and script.session.phase is Phase.DONE
    assert Stage("processing", 40) in script.notes


def test_without_hints_polls_back_off_and_a_missing_expiry_assumes_24_hours() -> None:
    script, times = polled(
        [processing("pending")] * 5
        + [processing("in_progress", 3)] * 1
        + [MediaState(media_id="42", processing=ProcessingInfo(state="succeeded"))]
    )
    waits = [b - a for a, b in zip([T0, *times], times, strict=False)]
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 3.0]  # never spins, never waits too long
    assert script.session.media_expires_at == T0 + 86400  # assumed, from the first answer


def test_polls_never_spin_when_the_server_keeps_saying_check_after_0() -> None:
    busy = [processing("in_progress", 0)] * 10 + [processing("succeeded")]
    _, times = polled(busy)
    assert times[0] == T0  # the first poll goes when the server says
    assert all(b - a >= MIN_REPOLL_SECS for a, b in itertools.pairwise(times))


def test_failed_processing_ends_with_its_code_name_and_message() -> None:
    failed = processing(
        "failed", error_code=3, error_name="UnsupportedMedia", error_message="Too long"
    )
    script, _ = polled([failed])
    error = script.session.error
    assert error is not None and error.kind == "processing_failed" and error.api_code == 3
    assert "Too long" in error.message
    states = [n.changes.get("processing") for n in script.notes if isinstance(n, Record)]
    assert states == [None, "failed"]  # INIT's record, then FINALIZE's


def test_in_progress_carrying_an_error_is_treated_as_failed() -> None:
    stuck = processing("in_progress", 1, error_code=1, error_message="Unsupported video format")
    script, _ = polled([stuck])
    assert script.session.error is not None
    assert script.session.error.kind == "processing_failed"


def test_processing_gives_up_after_the_timeout() -> None:
    script, times = polled([processing("in_progress", 60)] * 50)
    error = script.session.error
    assert error is not None and error.kind == "processing_timeout"
    assert times[-1] - T0 <= 600 < times[-1] - T0 + 60


def test_a_resumed_processing_upload_polls_status_at_once() -> None:
    s = session().resume(resume.ContinuePolling("42", None), T0)
    assert send(s.next_action(T0)) == Status("42") and not s.sending


# --- attachments --------------------------------------------------------------------------
SUB = SubtitleSpec(path=Path("cat.en.srt"), language_code="en")
ALT = Metadata(alt_text="a cat")


def subtitled(step: Step) -> Answer:
    if isinstance(step, UploadSubtitles):
        return Result(
            id="cat#subtitles-EN", path="cat.en.srt", status="succeeded", media_id_string="77"
        )
    return server(step)


def test_metadata_then_each_subtitle_file_is_uploaded_and_attached() -> None:
    script = Script(session(plan(size=MiB), metadata=ALT, subtitles=(SUB,)), subtitled)
    s = script.run()
    assert s.phase is Phase.DONE and s.alt_text_applied is True and s.metadata_applied is True
    assert script.sent[-3:] == [
        SetMetadata("42", ALT),
        UploadSubtitles(SUB),
        AttachSubtitles("42", "tweet_video", "77", "EN", "EN"),
    ]
    assert s.attached == [{"language_code": "EN", "media_id_string": "77"}]


def test_refused_alt_text_fails_the_item_but_keeps_its_media_id() -> None:
    refused = ApiError("alt text too long", http_status=400)
    s = Script(session(plan(size=MiB), metadata=ALT), failing(1, refused, SetMetadata)).run()
    assert s.error is not None and s.error.kind == "alt_text_failed"
    assert "alt text not applied: alt text too long" in s.error.message
    assert s.media_id == "42" and s.alt_text_applied is False


def test_a_failed_subtitle_upload_fails_the_item_naming_the_file() -> None:
    def answer(step: Step) -> Answer:
        if isinstance(step, UploadSubtitles):
            return Result(id="s", path="cat.en.srt", status="failed")
        return server(step)

    s = Script(session(plan(size=MiB), subtitles=(SUB,)), answer).run()
    assert s.error is not None and s.error.kind == "subtitles_failed"
    assert "cat.en.srt" in s.error.message


def test_a_rate_cap_on_an_attachment_leaves_the_item_for_a_later_run() -> None:
    capped = RateCapped("metadata spent", endpoint="metadata", retry_at=T0 + 9999)
    s = Script(session(plan(size=MiB), metadata=ALT), failing(1, capped, SetMetadata)).run()
    assert s.error is capped


def test_a_ready_media_id_from_the_checkpoint_gets_only_its_attachments() -> None:
    decision = resume.ContinueAttach("42", None, T0 + 9999)
    script = Script(session(plan(size=MiB), metadata=ALT).resume(decision, T0))
    assert script.run().phase is Phase.DONE and script.kinds() == ["SetMetadata"]


# --- retries and refusals -----------------------------------------------------------------
def test_a_rate_limit_is_waited_out_and_said() -> None:
    limited = RateLimited("429", reset_at=T0 + 120, endpoint="append")
    script = Script(session(plan(size=MiB)), failing(1, limited))
    s = script.run()
    [retry] = [n for n in script.notes if isinstance(n, Retrying)]
    assert (retry.until, retry.endpoint) == (T0 + 120, "append") and retry.delay >= 120
    assert s.phase is Phase.DONE


def test_a_rate_limit_beyond_max_wait_is_a_cap() -> None:
    limited = RateLimited("429", reset_at=T0 + 86400, endpoint="initialize")
    s = Script(session(plan(size=MiB)), failing(1, limited, Init)).run()
    assert isinstance(s.error, RateCapped) and s.error.retry_at == T0 + 86400


def test_refused_credentials_stop_the_whole_run() -> None:
    refused = AuthError("Could not authenticate you", http_status=401)
    script = Script(session(plan(size=MiB)), failing(1, refused, Init))
    s = script.run()
    assert s.error is refused and Refuse(refused) in script.notes and s.attempts == 1


def test_an_untrusted_certificate_stops_the_whole_run() -> None:
    tls = TLSError("certificate verify failed")
    script = Script(session(plan(size=MiB)), failing(1, tls, Init))
    assert script.run().error is tls and Refuse(tls) in script.notes


def test_a_server_never_reached_stops_the_run_unless_it_answered_before() -> None:
    down = ConnectError("cannot connect to 127.0.0.1:9")
    script = Script(session(plan(size=MiB), attempts=2), failing(9, down, Init))
    assert script.run().error is down
    assert Refuse(down, unless_answered=True) in script.notes


def test_an_answer_that_is_no_answer_to_the_step_is_a_bug() -> None:
    s = session(plan(size=MiB))
    with pytest.raises(TypeError):
        s.on_answer(send(s.next_action(T0)), ready(), T0)


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


# --- the bytes already sent ----------------------------------------------------------------
def test_each_stored_segment_is_noted_with_the_hash_of_the_bytes_sent() -> None:
    s = session(plan(size=MiB))
    deliver(s, send(s.next_action(T0)), server(Init(s.plan)), T0)
    append = send(s.next_action(T0))
    assert deliver(s, append, Stored("ab" * 32), T0) == [Acked(0, MiB, "ab" * 32)]


def test_a_resumed_upload_reads_its_acknowledged_segments_again_first() -> None:
    hashes = ((0, "aa" * 32), (2, "cc" * 32))
    decision = resume.ContinueUpload("9", None, T0 + 600, frozenset({0, 2}), hashes)
    s = session(plan(size=10 * MiB)).resume(decision, T0)
    check = send(s.next_action(T0))
    assert check == VerifySegments(((0, 0, 4 * MiB, "aa" * 32), (2, 8 * MiB, 2 * MiB, "cc" * 32)))
    assert isinstance(s.next_action(T0), Park)  # nothing is sent before the check
    deliver(s, check, None, T0)
    assert send(s.next_action(T0)) == Append("9", 1, 4 * MiB, 4 * MiB)


def test_acknowledged_bytes_that_changed_start_the_upload_over() -> None:
    decision = resume.ContinueUpload("9", None, T0 + 600, frozenset({0}), ((0, "aa" * 32),))
    s = session(plan(size=10 * MiB)).resume(decision, T0)
    deliver(s, send(s.next_action(T0)), FileChanged("segment 0 is not what was sent"), T0)
    assert s.phase is Phase.INIT and s.error is None and s.acked == set()
    assert send(s.next_action(T0)) == Init(s.plan)
