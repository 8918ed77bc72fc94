"""Alt text, subtitles and post groups, end to end against the emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bulkup.auth.credentials import OAuth1Auth
from bulkup.auth.oauth1 import Credentials
from bulkup.client.progress import NullObserver
from bulkup.client.uploader import Uploader
from bulkup.core.items import Item, SubtitleSpec
from bulkup.emulator import Emulator, EmulatorConfig, Lifetimes, User
from bulkup.media import samples
from bulkup.run.posts import plan_posts
from bulkup.sources import iter_sources
from tests.conftest import oauth as auth
from tests.conftest import upload_config as config_for

pytestmark = [pytest.mark.anyio, pytest.mark.answer_modes]

APIS = ["v1.1", "v2"]


@pytest.mark.parametrize("api", APIS)
async def test_alt_text_is_applied_after_upload_and_reported(
    emulator: Emulator, tmp_path: Path, api: str
) -> None:
    path = samples.write_image(tmp_path / "a.png", fmt="png")
    async with Uploader(config_for(emulator, api), auth=auth(emulator)) as up:
        result = await up.upload(path, alt_text="A red square on white")
    assert result.ok and result.alt_text_applied is True
    assert emulator.media(result.media_id_string)["alt_text"] == "A red square on white"  # type: ignore[arg-type,index]
    assert result.as_json()["alt_text_applied"] is True


async def test_while_its_alt_text_is_set_an_item_is_shown_setting_it(
    emulator: Emulator, tmp_path: Path
) -> None:
    states: list[str] = []

    class Stages(NullObserver):
        def item_state(self, item_id: str, state: str, percent: int | None = None) -> None:
            states.append(state)

    path = samples.write_image(tmp_path / "a.png", fmt="png")
    async with Uploader(config_for(emulator), auth=auth(emulator), observer=Stages()) as up:
        result = await up.upload(path, alt_text="A red square")
    assert result.ok
    assert states[-1] == "alt text"  # not "finalizing" while it waits for its budget


async def test_a_failed_alt_text_is_reported_without_losing_the_media_id(
    emulator: Emulator, tmp_path: Path
) -> None:
    path = samples.write_image(tmp_path / "a.png", fmt="png")
    emulator.faults.schedule("error_500", endpoint="metadata", count=10)
    config = config_for(emulator, max_attempts=2, backoff_base=0.0)
    async with Uploader(config, auth=auth(emulator)) as up:
        result = await up.upload(path, alt_text="never set")
    assert result.status == "failed" and result.error is not None
    assert result.error.kind == "alt_text_failed"
    assert result.alt_text_applied is False
    assert result.media_id_string is not None
    assert emulator.media(result.media_id_string)["state"] == "succeeded"  # type: ignore[index]
    assert emulator.stats()["requests"]["metadata"] == {"500": 2}  # retried like any request


@pytest.mark.parametrize("api", APIS)
async def test_subtitles_are_uploaded_and_attached_to_their_video(
    emulator: Emulator, tmp_path: Path, api: str
) -> None:
    video = samples.write_video(tmp_path / "v.mp4", width=64, height=64, seconds=1)
    english = samples.write_srt(tmp_path / "en.srt")
    french = samples.write_vtt(tmp_path / "fr.vtt")
    item = Item(
        id="v",
        path=video,
        subtitles=(
            SubtitleSpec(path=english, language_code="en", display_name="English"),
            SubtitleSpec(path=french, language_code="fr"),
        ),
    )
    async with Uploader(config_for(emulator, api), auth=auth(emulator)) as up:
        (result,) = [r async for r in up.upload_many([item])]
    assert result.ok, result.error
    attached = emulator.media(result.media_id_string)["subtitles"]  # type: ignore[arg-type,index]
    assert [(s["language_code"], s["display_name"]) for s in attached] == [
        ("EN", "English"),
        ("FR", "FR"),
    ]
    assert [s["language_code"] for s in result.subtitles] == ["EN", "FR"]
    for sub in result.subtitles:
        info = emulator.media(sub["media_id_string"])
        assert info is not None and info["media_category"] == "subtitles"


async def test_subtitles_on_an_image_fail_before_upload(emulator: Emulator, tmp_path: Path) -> None:
    image = samples.write_image(tmp_path / "a.png", fmt="png")
    srt = samples.write_srt(tmp_path / "en.srt")
    item = Item(id="a", path=image, subtitles=(SubtitleSpec(path=srt, language_code="en"),))
    async with Uploader(config_for(emulator), auth=auth(emulator)) as up:
        (result,) = [r async for r in up.upload_many([item])]
    assert result.status == "failed" and result.error.kind == "preflight"  # type: ignore[union-attr]
    assert emulator.stats()["requests"] == {}


def write_manifest(folder: Path, rows: list[dict[str, object]]) -> Path:
    manifest = folder / "posts.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return manifest


async def test_post_groups_list_media_ids_in_order_and_block_impossible_posts(
    emulator: Emulator, tmp_path: Path
) -> None:
    for i in range(7):
        samples.write_image(tmp_path / f"i{i}.png", fmt="png", seed=i)
    samples.write_video(tmp_path / "v.mp4", width=64, height=64, seconds=1)
    rows: list[dict[str, object]] = [{"path": f"i{i}.png", "post": "album"} for i in range(3)]
    rows += [{"path": f"i{i}.png", "post": "too-many"} for i in range(3, 7)]
    rows += [{"path": "v.mp4", "post": "too-many"}]  # a video with images: not one post
    rows += [{"path": "v.mp4", "id": "solo-video", "post": 7}]
    manifest = write_manifest(tmp_path, rows)

    plan = plan_posts(iter_sources([manifest]))
    assert plan.groups["too-many"].problem is not None
    async with Uploader(config_for(emulator), auth=auth(emulator)) as up:
        results = {r.id: r async for r in up.upload_many(iter_sources([manifest]), posts=plan)}

    blocked = [r for r in results.values() if r.post == "too-many"]
    assert len(blocked) == 5 and all(r.error.kind == "post_group" for r in blocked)  # type: ignore[union-attr]
    assert all(r.media_id_string is None for r in blocked)  # nothing of it was uploaded
    rows_out = {row["post"]: row for row in plan.rows()}
    album = rows_out["album"]
    assert album["complete"] and album["items"] == ["i0.png", "i1.png", "i2.png"]
    assert album["media_ids"] == [results[i].media_id_string for i in album["items"]]
    assert rows_out["7"]["complete"] and rows_out["7"]["media_ids"][0] is not None
    assert not rows_out["too-many"]["complete"] and "at most" in rows_out["too-many"]["error"]
    uploads = emulator.stats()["requests"]["upload"]["200"]
    assert uploads == 3  # the three album images; the blocked post sent nothing


async def test_a_post_with_a_failed_item_is_incomplete(emulator: Emulator, tmp_path: Path) -> None:
    samples.write_image(tmp_path / "good.png", fmt="png")
    (tmp_path / "bad.png").write_bytes(b"not an image at all")
    manifest = write_manifest(
        tmp_path, [{"path": "good.png", "post": "p"}, {"path": "bad.png", "post": "p"}]
    )
    plan = plan_posts(iter_sources([manifest]))
    async with Uploader(config_for(emulator), auth=auth(emulator)) as up:
        async for _ in up.upload_many(iter_sources([manifest]), posts=plan):
            pass
    (row,) = plan.rows()
    assert not row["complete"] and row["media_ids"][0] is not None


def test_manifest_subtitles_and_post_fields_are_read(tmp_path: Path) -> None:
    samples.write_video(tmp_path / "v.mp4", width=64, height=64, seconds=1)
    samples.write_srt(tmp_path / "en.srt")
    manifest = write_manifest(
        tmp_path,
        [
            {
                "path": "v.mp4",
                "post": 12,
                "subtitles": [{"path": "en.srt", "language_code": "en", "display_name": "E"}],
            },
            {"path": "v.mp4", "id": "bad", "subtitles": [{"path": "en.srt"}]},
        ],
    )
    good, bad = list(iter_sources([manifest]))
    assert isinstance(good, Item) and good.post == "12"
    assert good.subtitles == (
        SubtitleSpec(path=tmp_path / "en.srt", language_code="EN", display_name="E"),
    )
    assert not isinstance(bad, Item) and "language_code" in bad.message


WRONG = EmulatorConfig(
    users=(
        User(
            id="42",
            consumer_key="ck",
            consumer_secret="right-secret",
            access_token="42-token",
            access_token_secret="right-token-secret",
        ),
    ),
    lifetimes=Lifetimes(processing_secs=0, check_after_secs=0),
)


@pytest.mark.parametrize("emulator_config", [WRONG])
async def test_refused_credentials_send_only_the_first_requests_and_skip_the_rest(
    emulator: Emulator, tmp_path: Path
) -> None:
    items = [
        Item(id=f"i{i}", path=samples.write_image(tmp_path / f"i{i}.png", fmt="png", seed=i))
        for i in range(10)
    ]
    bad = OAuth1Auth(
        Credentials(
            consumer_key="ck",
            consumer_secret="wrong",
            token="42-token",
            token_secret="right-token-secret",
        )
    )
    # 4 files in flight, fewer than the items: the rest are never sent
    async with Uploader(config_for(emulator, files_in_flight=4), auth=bad) as up:
        results = [r async for r in up.upload_many(items)]
    assert len(results) == 10
    refused = emulator.stats()["requests"]["upload"]["401"]
    assert emulator.stats()["requests"] == {"upload": {"401": refused}}
    assert refused <= 4  # the files in flight sent one request each; nothing after the 401
    statuses = sorted(r.status for r in results)
    assert statuses.count("skipped") >= 10 - 4  # the rest was never sent
    assert all(r.error is not None and r.error.kind == "auth_error" for r in results)
