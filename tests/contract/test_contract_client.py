"""The client on X's terms: what it sends for shared items, types outside X's list,
403s, rate caps beyond ``--max-wait``, and the exit status table; against the emulator."""

from __future__ import annotations

import dataclasses
import json
import random
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from bulkup.auth.credentials import BearerAuth
from bulkup.cli.settings import resolve
from bulkup.client.config import parse_duration
from bulkup.client.uploader import Uploader
from bulkup.core.items import Item, Result
from bulkup.core.retry import RetryPolicy
from bulkup.emulator import DEMO_APP_BEARER, Emulator, EmulatorConfig, RateLimits
from bulkup.errors import ConfigError, RateCapped, RateLimited, ServerError
from bulkup.media import samples
from tests.cli.test_cli_upload import bulkup, env_for, upload_args
from tests.conftest import FAST_LIFETIMES as FAST
from tests.conftest import answering
from tests.conftest import file_sha256 as sha256
from tests.conftest import oauth as auth
from tests.conftest import upload_config as config_for

pytestmark = pytest.mark.anyio

GUARD_SECS = 60


async def upload_all(emu: Emulator, items: list[Item], **kw: Any) -> dict[str, Result]:
    with anyio.fail_after(GUARD_SECS):
        async with Uploader(config_for(emu, **kw), auth=auth(emu), seed=1) as up:
            return {r.id: r async for r in up.upload_many(items)}


# --- what is sent ------------------------------------------------------------------------
@pytest.mark.parametrize("api", ["v1.1", "v2"])
async def test_a_shared_image_goes_through_initialize_since_one_shot_has_no_shared(
    emulator: Emulator, tmp_path: Path, api: str
) -> None:
    png = samples.write_image(tmp_path / "a.png", fmt="png")
    async with Uploader(config_for(emulator, api), auth=auth(emulator)) as up:
        shared = await up.upload(png, id="shared", shared=True, additional_owners=["42"])
        plain = await up.upload(png, id="plain", additional_owners=["42", "43"])
    assert shared.ok and plain.ok
    requests = emulator.stats()["requests"]
    assert sum(requests["initialize"].values()) == sum(requests["upload"].values()) == 1
    assert emulator.media(shared.media_id_string)["additional_owners"] == ["42"]  # type: ignore[arg-type,index]
    assert emulator.media(plain.media_id_string)["additional_owners"] == ["42", "43"]  # type: ignore[arg-type,index]


@pytest.mark.parametrize("declared", ["image/jpg", "application/octet-stream"])
async def test_a_media_type_outside_xs_list_is_a_local_error_before_any_request(
    emulator: Emulator, tmp_path: Path, declared: str
) -> None:
    jpg = samples.write_image(tmp_path / "a.jpg", fmt="jpeg")
    item = Item(id="a", path=jpg, media_type=declared)
    results = await upload_all(emulator, [item], preflight=False)
    error = results["a"].error
    assert results["a"].status == "failed" and error is not None
    assert error.kind == "unsupported_type" and declared in error.message
    if declared == "image/jpg":
        assert "image/jpeg" in error.message  # the fix
    assert emulator.stats()["requests"] == {}


async def test_a_guessed_subrip_type_is_sent_as_text_srt(
    emulator: Emulator, tmp_path: Path
) -> None:
    srt = samples.write_srt(tmp_path / "en.srt")
    results = await upload_all(emulator, [Item(id="s", path=srt, media_category="subtitles")])
    assert results["s"].ok, results["s"].error
    assert results["s"].media_type == "text/srt"


async def test_a_403_names_the_two_usual_causes(emulator: Emulator, tmp_path: Path) -> None:
    png = samples.write_image(tmp_path / "a.png", fmt="png")
    async with Uploader(config_for(emulator), auth=BearerAuth(DEMO_APP_BEARER)) as up:
        result = await up.upload(png)
    assert result.error is not None and result.error.http_status == 403
    assert "media.write" in result.error.message
    assert "Read and write" in result.error.message and "regenerate" in result.error.message


async def test_v1_metadata_refuses_allow_download_before_any_request(
    emulator: Emulator, tmp_path: Path
) -> None:
    png = samples.write_image(tmp_path / "a.png", fmt="png")
    item = Item(id="a", path=png, alt_text="x", allow_download=False)
    results = await upload_all(emulator, [item], api="v1.1")
    error = results["a"].error
    assert error is not None and error.kind == "unsupported_metadata"
    assert "--api v2" in error.message
    assert emulator.stats()["requests"] == {}


# --- rate caps ------------------------------------------------------------------------------
def limited(**per_window: int) -> EmulatorConfig:
    """X's 15-minute windows, in real time, with small budgets."""
    return EmulatorConfig(lifetimes=FAST, limits=RateLimits(per_window=per_window))


async def test_a_spent_window_beyond_max_wait_skips_the_rest_as_rate_capped_without_a_429(
    tmp_path: Path,
) -> None:
    files = [samples.write_image(tmp_path / f"{i}.png", fmt="png", seed=i) for i in range(3)]
    first, *rest = [Item(id=p.name, path=p, alt_text=f"image {p.stem}") for p in files]
    async with Emulator(limited(metadata=1), environ={}) as emu:
        started = time.time()
        config = config_for(emu, max_wait=60.0)
        with anyio.fail_after(GUARD_SECS):
            async with Uploader(config, auth=auth(emu), seed=1) as up:
                # The first answer announces the window: spent, for 15 minutes.
                done = await up.upload(first.path, id=first.id, alt_text=first.alt_text)
                results = {r.id: r async for r in up.upload_many(rest)}
        finished = time.time()
        metadata = emu.stats()["requests"]["metadata"]
    capped = [r for r in results.values() if r.status == "skipped"]
    assert done.ok and len(capped) == 2
    for result in capped:
        assert result.error is not None and result.error.kind == "rate_capped"
        assert "metadata" in result.error.message and "--max-wait" in result.error.message
        assert result.retry_after is not None
        # the window began with the run's first metadata request, and lasts 900 s
        assert started + 900 <= result.retry_after.timestamp() <= finished + 901
        assert result.as_json()["retry_after"].endswith("Z")
        assert result.media_id_string is not None  # uploaded; only its alt text waits
    assert metadata == {"200": 1}  # the budget was known: no 429 was drawn


async def test_a_429_whose_reset_is_beyond_max_wait_is_a_cap_not_a_sleep(tmp_path: Path) -> None:
    videos = [
        samples.write_video(tmp_path / f"{i}.mp4", width=64, height=64, seconds=1, seed=i)
        for i in range(2)
    ]
    items = [Item(id=p.name, path=p) for p in videos]
    async with Emulator(limited(initialize=1), environ={}) as emu:
        # Without pacing the client learns of the spent window from the 429 itself.
        results = await upload_all(emu, items, pacing=False, max_wait=60.0, files_in_flight=1)
        requests = emu.stats()["requests"]
    assert sorted(r.status for r in results.values()) == ["skipped", "succeeded"]
    assert requests["initialize"] == {"200": 1, "429": 1}  # one 429, then nothing more


async def test_a_window_that_resets_within_max_wait_is_waited_out(tmp_path: Path) -> None:
    video = samples.write_video(tmp_path / "v.mp4", width=64, height=64, seconds=1)
    config = EmulatorConfig(
        lifetimes=FAST, limits=RateLimits(per_window={"append": 2}, time_scale=900.0)
    )
    async with Emulator(config, environ={}) as emu:
        results = await upload_all(emu, [Item(id="v", path=video)], segments_per_file=1)
        appends = emu.stats()["requests"]["append"]
    assert results["v"].ok
    assert appends.get("429", 0) == 0 and appends["200"] > 2  # waited for each 1 s window


def test_retry_after_and_resets_within_max_wait_are_waited_beyond_it_capped() -> None:
    policy = RetryPolicy(max_attempts=5, base=0.0, max_wait=900.0)
    rng, now = random.Random(0), 1_000_000.0
    _, delay = policy.next(ServerError("busy", http_status=503, retry_after=30.0), rng, now)
    assert delay == 30.0
    reset = RateLimited("x", reset_at=now + 899.0, limit="15-minute", endpoint="append")
    assert policy.next(reset, rng, now)[1] == pytest.approx(899.0)
    app_cap = RateLimited("x", reset_at=now + 20_000, limit="24-hour app", endpoint="append")
    with pytest.raises(RateCapped, match="24-hour app limit of append") as caught:
        policy.next(app_cap, rng, now)
    assert caught.value.retry_at == now + 20_000 and caught.value.endpoint == "append"
    with pytest.raises(RateCapped, match="HTTP 503"):
        policy.next(ServerError("down", http_status=503, retry_after=3600.0), rng, now)
    burst = RateLimited("x")  # refused while budget remains: a short backoff
    assert policy.next(burst, rng, now)[1] == 0.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("900", 900.0), ("90s", 90.0), ("15m", 900.0), ("1h", 3600.0), ("1h30m", 5400.0)],
)
def test_max_wait_takes_a_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    settings = resolve({}, environ={"BULKUP_MAX_WAIT": text})
    assert settings.upload.max_wait == seconds


def test_a_bad_max_wait_names_its_origin() -> None:
    with pytest.raises(ConfigError, match=r"\$BULKUP_MAX_WAIT: max_wait not a duration"):
        resolve({}, environ={"BULKUP_MAX_WAIT": "soon"})
    assert resolve({}, environ={}).upload.max_wait == 900.0  # 15m by default


# --- exit status --------------------------------------------------------------------------
async def test_a_capped_run_exits_75_keeps_the_checkpoint_and_a_rerun_finishes(
    tmp_path: Path,
) -> None:
    for i in range(3):
        samples.write_image(tmp_path / f"{i}.png", fmt="png", seed=i)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        "".join(json.dumps({"path": f"{i}.png", "alt_text": f"n{i}"}) + "\n" for i in range(3))
    )
    # 15 minutes last 4.5 s: the first run caps (--max-wait 1s); the rerun, started from the
    # windows the checkpoint kept, waits for the reset instead of drawing a 429.
    config = limited(metadata=2)
    config = dataclasses.replace(config, limits=dataclasses.replace(config.limits, time_scale=200))
    async with Emulator(config, environ={}) as emu:
        args = [*upload_args(emu, "m.jsonl"), "--checkpoint", "run.ckpt", "--max-wait", "1s"]
        first = await bulkup(*args, env=env_for(emu), cwd=tmp_path)
        assert first.code == 75, first.err
        lines = first.lines()
        skipped = [line for line in lines if line["status"] == "skipped"]
        assert len(lines) == 3 and len(skipped) == 1
        assert skipped[0]["error"]["kind"] == "rate_capped" and skipped[0]["retry_after"]
        assert "left for a later run: 1 item" in first.err
        assert skipped[0]["retry_after"] in first.err  # says after when
        assert (tmp_path / "run.ckpt").exists()

        before = emu.stats()["requests"]
        args[-1] = "1m"
        second = await bulkup(*args, env=env_for(emu), cwd=tmp_path)
        after = emu.stats()["requests"]
    assert second.code == 0, second.err
    # The rerun drew no 429 (the first run's three requests may have gone before any
    # answer announced the limit of 2).
    assert after["metadata"].get("429") == before["metadata"].get("429"), (before, after)
    assert {line["status"] for line in second.lines()} == {"succeeded"}
    # The skipped item was uploaded and ready: the rerun sent only its metadata.
    assert after["upload"] == before["upload"]
    assert sum(after["metadata"].values()) == sum(before["metadata"].values()) + 1
    rerun = {line["id"]: line for line in second.lines()}[skipped[0]["id"]]
    assert rerun["media_id_string"] == skipped[0]["media_id_string"]


async def test_a_server_that_cannot_be_reached_exits_75(tmp_path: Path) -> None:
    samples.write_image(tmp_path / "a.png", fmt="png")
    args = ["upload", "a.png", "--endpoint", "http://127.0.0.1:9", "--max-attempts", "1"]
    env = env_for(None) | {"X_BEARER_TOKEN": "t"}
    run = await bulkup(*args, env=env, cwd=tmp_path)
    assert run.code == 75, run.err
    assert "left for a later run: 1 item" in run.err


async def test_the_exit_table_is_in_the_help() -> None:
    for cmd in (["--help"], ["upload", "--help"]):
        run = await bulkup(*cmd, env=env_for(None))
        assert run.code == 0
        for line in ("0    every item succeeded", "75   work left", "143 terminated (SIGTERM)"):
            assert line in run.out, (cmd, line)


# --- manifests: what X takes, checked when the manifest is read ------------------------------
def write_jsonl(folder: Path, entries: list[dict[str, object]]) -> Path:
    manifest = folder / "m.jsonl"
    manifest.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return manifest


def test_subtitle_languages_are_two_letters_upper_cased_and_others_refused_by_line(
    tmp_path: Path,
) -> None:
    from bulkup.core.items import SourceProblem
    from bulkup.sources import iter_sources

    samples.write_video(tmp_path / "v.mp4", width=64, height=64, seconds=1)
    samples.write_srt(tmp_path / "s.srt")
    entries: list[dict[str, object]] = [
        {
            "id": language,
            "path": "v.mp4",
            "subtitles": [{"path": "s.srt", "language_code": language}],
        }
        for language in ("en", "EN", "pt-BR", "english", "e")
    ]
    results = {entry.id: entry for entry in iter_sources([write_jsonl(tmp_path, entries)])}
    for ok in ("en", "EN"):
        item = results[ok]
        assert isinstance(item, Item)
        assert [(s.language_code, s.display_name) for s in item.subtitles] == [("EN", None)]
    for line, bad in enumerate(("pt-BR", "english", "e"), start=3):
        problem = results[f"{bad}"]
        assert isinstance(problem, SourceProblem), bad
        assert problem.source.endswith(f"m.jsonl:{line}") and problem.kind == "invalid_value"
        assert repr(bad) in problem.message and "two-letter" in problem.message


def test_metadata_fields_are_read_and_bad_values_refused_by_line(tmp_path: Path) -> None:
    from bulkup.core.items import SourceProblem
    from bulkup.sources import iter_sources

    samples.write_image(tmp_path / "a.png", fmt="png")
    entries: list[dict[str, object]] = [
        {"id": "list", "path": "a.png", "sensitive_media_warning": ["adult_content", "other"]},
        {"id": "object", "path": "a.png", "sensitive_media_warning": {"graphic_violence": True}},
        {"id": "words", "path": "a.png", "sensitive_media_warning": "other adult_content"},
        {"id": "download", "path": "a.png", "allow_download": False},
        {"id": "bad-flag", "path": "a.png", "sensitive_media_warning": ["nsfw"]},
        {"id": "bad-download", "path": "a.png", "allow_download": "maybe"},
    ]
    got = {entry.id: entry for entry in iter_sources([write_jsonl(tmp_path, entries)])}
    flags = {
        key: item.sensitive_media_warning
        for key, item in got.items()
        if isinstance(item, Item) and item.sensitive_media_warning
    }
    assert flags == {
        "list": ("adult_content", "other"),
        "object": ("graphic_violence",),
        "words": ("other", "adult_content"),
    }
    download = got["download"]
    assert isinstance(download, Item) and download.allow_download is False
    assert download.metadata and not Item(id="x", path=tmp_path / "a.png").metadata
    for key, line, name in (
        ("bad-flag", 5, "sensitive_media_warning"),
        ("bad-download", 6, "allow_download"),
    ):
        problem = got[key]
        assert isinstance(problem, SourceProblem)
        assert problem.source.endswith(f"m.jsonl:{line}") and name in problem.message


# --- against X's published limits and minimal answers ---------------------------------------
async def test_a_spent_24_hour_app_cap_is_named_and_left_for_a_later_run(tmp_path: Path) -> None:
    """X's limits profile, with the app's daily one-shot budget nearly spent; every image
    must go one-shot (``--strategy simple``)."""
    files = [samples.write_image(tmp_path / f"{i}.png", fmt="png", seed=i) for i in range(4)]
    first, *rest = [Item(id=p.name, path=p) for p in files]
    limits = dataclasses.replace(RateLimits.published(), app_per_day={"upload": 2})
    async with Emulator(EmulatorConfig(lifetimes=FAST, limits=limits), environ={}) as emu:
        started = time.time()
        config = dataclasses.replace(config_for(emu), strategy="simple")
        with anyio.fail_after(GUARD_SECS):
            async with Uploader(config, auth=auth(emu), seed=1) as up:
                done = await up.upload(first.path, id=first.id)  # the day's window: 1 left
                results = {r.id: r async for r in up.upload_many(rest)}
        uploads = emu.stats()["requests"]["upload"]
    capped = [r for r in results.values() if r.status == "skipped"]
    assert done.ok and sum(r.ok for r in results.values()) == 1 and len(capped) == 2
    for result in capped:
        assert result.error is not None and result.error.kind == "rate_capped"
        assert "24-hour app limit of upload" in result.error.message
        assert result.retry_after is not None
        assert result.retry_after.timestamp() > started + 20 * 3600  # the day's reset
    assert uploads == {"200": 2}  # the headers said the day was spent: no 429 drawn


async def test_auto_sends_still_images_chunked_once_the_one_shot_budget_is_spent(
    tmp_path: Path,
) -> None:
    """X's budgets are per endpoint: with one-shot spent, initialize, append and
    finalize still have room, so ``--strategy auto`` sends the other images chunked
    instead of leaving them for tomorrow (issue [5/6])."""
    files = [samples.write_image(tmp_path / f"{i}.png", fmt="png", seed=i) for i in range(4)]
    first, *rest = [Item(id=p.name, path=p) for p in files]
    limits = dataclasses.replace(RateLimits.published(), app_per_day={"upload": 2})
    async with Emulator(EmulatorConfig(lifetimes=FAST, limits=limits), environ={}) as emu:
        with anyio.fail_after(GUARD_SECS):
            async with Uploader(config_for(emu), auth=auth(emu), seed=1) as up:
                done = await up.upload(first.path, id=first.id)  # the day's window: 1 left
                results = [r async for r in up.upload_many(rest)]
        requests = emu.stats()["requests"]
        for result in (done, *results):
            assert result.ok, result
            assert result.media_id_string is not None
            stored = emu.media(result.media_id_string)
            assert stored is not None and stored["sha256"] == sha256(tmp_path / result.id)
    assert requests["upload"] == {"200": 2}  # one-shot to its cap, never past it
    assert requests["initialize"] == {"200": 2}  # the other two went chunked


@pytest.mark.parametrize("api", ["v1.1", "v2"])
async def test_alt_text_warning_and_download_go_in_one_metadata_request(
    emulator: Emulator, tmp_path: Path, api: str
) -> None:
    png = samples.write_image(tmp_path / "a.png", fmt="png")
    fields: dict[str, object] = {"alt_text": "A square", "sensitive_media_warning": ["other"]}
    if api == "v2":
        fields["allow_download"] = False
    async with Uploader(config_for(emulator, api), auth=auth(emulator)) as up:
        result = await up.upload(png, **fields)  # type: ignore[arg-type]
    assert result.ok and result.alt_text_applied and result.metadata_applied
    info = emulator.media(result.media_id_string)  # type: ignore[arg-type]
    assert info is not None and info["alt_text"] == "A square"
    assert info["sensitive_media_warning"] == ["other"]
    if api == "v2":
        assert info["allow_download"] is False
    assert emulator.stats()["requests"]["metadata"] == {"200": 1}  # one billed request


async def test_a_sensitive_video_without_alt_text_gets_its_warning(
    emulator: Emulator, tmp_path: Path
) -> None:
    video = samples.write_video(tmp_path / "v.mp4", width=64, height=64, seconds=1)
    item = Item(id="v", path=video, sensitive_media_warning=("graphic_violence",))
    result = (await upload_all(emulator, [item]))["v"]
    assert result.ok and result.metadata_applied and result.alt_text_applied is None
    info = emulator.media(result.media_id_string)  # type: ignore[arg-type]
    assert info is not None and info["sensitive_media_warning"] == ["graphic_violence"]


async def test_a_metadata_answer_of_an_empty_data_object_is_applied_without_a_retry(
    tmp_path: Path,
) -> None:
    """The case of the issue: ``{"data": {}}`` to metadata is X's success, not an error."""
    files = [samples.write_image(tmp_path / f"{i}.png", fmt="png", seed=i) for i in range(4)]
    files.append(samples.write_video(tmp_path / "v.mp4", width=64, height=64, seconds=1))
    files.append(samples.write_gif(tmp_path / "g.gif", width=40, height=20, frames=4))
    items = [Item(id=p.name, path=p, alt_text=f"about {p.stem}") for p in files[:4]]
    items += [Item(id=p.name, path=p) for p in files[4:]]
    config = answering(EmulatorConfig(lifetimes=FAST), "minimal")
    async with Emulator(config, environ={}) as emu:
        emu.faults.schedule("missing_fields", endpoint="metadata", count=4)
        started = time.monotonic()
        results = await upload_all(emu, items)
        elapsed = time.monotonic() - started
        stats = emu.stats()
        for result in results.values():
            info = emu.media(result.media_id_string)  # type: ignore[arg-type]
            assert info is not None and info["sha256"] == sha256(tmp_path / result.id)
            if result.id.endswith(".png"):
                assert info["alt_text"] == f"about {Path(result.id).stem}"
    assert all(r.ok for r in results.values()), [r.error for r in results.values()]
    assert all(r.alt_text_applied for r in results.values() if r.id.endswith(".png"))
    assert stats["requests"]["metadata"] == {"200": 4} and stats["faults"] == {"missing_fields": 4}
    assert sum(r.attempts for r in results.values()) == len(items)  # nothing retried
    print(f"\n{len(items)} items, minimal answers, metadata {{'data': {{}}}}: {elapsed:.2f} s")


# --- the transport's own errors -------------------------------------------------------------
async def test_the_transport_raises_its_own_errors_and_the_item_code_never_sees_aiohttp(
    emulator: Emulator,
) -> None:
    import socket

    import aiohttp

    from bulkup import errors
    from bulkup.client.pacing import Pacer
    from bulkup.client.transport import Transport
    from bulkup.core.dialects import V2
    from bulkup.core.steps import Status

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    timeout = aiohttp.ClientTimeout(total=None, connect=5, sock_read=0.5)
    async with aiohttp.ClientSession() as http:
        transport = Transport(http, auth(emulator), Pacer(enabled=False), timeout=timeout)
        request = V2(emulator.url).build(Status("1"))
        emulator.faults.schedule("hang", endpoint="status")
        with pytest.raises(errors.ReadTimeout, match="read timeout"):
            await transport.send(request, None)
        with pytest.raises(errors.ConnectError, match="nothing is listening at"):
            await transport.send(V2(f"http://127.0.0.1:{closed}").build(Status("1")), None)
    source = (Path(__file__).parents[2] / "bulkup" / "client" / "driver.py").read_text()
    assert "aiohttp" not in source and "__cause__" not in source
