"""The order the uploader admits items in, against the emulator.

With one file in flight the order the files start in is the planner's order: videos
and GIFs before still images (the server processes them while the images upload),
higher ``priority`` before that, a post group's items together, and an item streamed
in later is not kept waiting for the lookahead to fill.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from bulkup.client.progress import NullObserver
from bulkup.client.uploader import Uploader
from bulkup.core.items import Item
from bulkup.emulator import Emulator
from bulkup.run.posts import plan_posts
from tests.conftest import oauth, upload_config

pytestmark = pytest.mark.anyio


class Started(NullObserver):
    def __init__(self) -> None:
        self.order: list[str] = []

    def item_started(self, item_id: str, size: int, done_bytes: int) -> None:
        self.order.append(item_id)


@pytest.fixture
def corpus(tmp_path: Path, png: bytes, gif: bytes, video: bytes) -> dict[str, Path]:
    files = {}
    for name, data in [
        ("a.png", png),
        ("b.png", png + b"b"),
        ("clip.mp4", video),
        ("c.png", png + b"c"),
        ("anim.gif", gif),
        ("d.png", png + b"d"),
    ]:
        files[name] = tmp_path / name
        files[name].write_bytes(data)
    return files


async def test_videos_and_gifs_start_first_then_priority_and_post_groups_decide(
    emulator: Emulator, corpus: dict[str, Path]
) -> None:
    def item(name: str, **fields: object) -> Item:
        return Item(id=name, path=corpus[name], **fields)  # type: ignore[arg-type]

    items = [
        item("a.png", post="P"),
        item("b.png"),
        item("clip.mp4"),
        item("c.png", priority=1),
        item("anim.gif"),
        item("d.png", post="P", priority=2),  # the group goes at its highest priority
    ]
    seen = Started()
    config = upload_config(emulator, files_in_flight=1)
    async with Uploader(config, auth=oauth(emulator), observer=seen) as up:
        results = [r async for r in up.upload_many(items, posts=plan_posts(items))]

    assert seen.order == ["a.png", "d.png", "c.png", "clip.mp4", "anim.gif", "b.png"]
    for result in results:
        assert result.ok, result.error
        info = emulator.media(result.media_id_string)  # type: ignore[arg-type]
        assert info is not None
        assert info["sha256"] == hashlib.sha256(corpus[result.id].read_bytes()).hexdigest()


async def test_an_item_streamed_in_starts_without_waiting_for_the_lookahead_to_fill(
    emulator: Emulator, corpus: dict[str, Path]
) -> None:
    first_done = anyio.Event()

    async def slow_source() -> AsyncIterator[Item]:
        yield Item(id="a.png", path=corpus["a.png"])
        await first_done.wait()  # a service handing items over as they come
        yield Item(id="b.png", path=corpus["b.png"])

    async with Uploader(upload_config(emulator), auth=oauth(emulator)) as up:
        with anyio.fail_after(30):  # a hang guard: a queue waiting to fill never ends
            results = []
            async for result in up.upload_many(slow_source()):
                results.append(result)
                first_done.set()

    assert [r.id for r in results] == ["a.png", "b.png"]
    assert all(r.ok for r in results)


async def test_a_rerun_that_would_send_an_image_another_way_reuses_it(
    emulator: Emulator, corpus: dict[str, Path], tmp_path: Path
) -> None:
    # --strategy auto sends a still image one-shot or chunked by the budgets left; the
    # next run's choice may differ, and the media it finished is still the media.
    items = [Item(id=name, path=corpus[name]) for name in ("a.png", "b.png")]
    checkpoint = tmp_path / "run.ckpt"
    chunked = upload_config(emulator, strategy="chunked")
    async with Uploader(chunked, auth=oauth(emulator)) as up:
        first = [r async for r in up.upload_many(items, checkpoint=checkpoint)]
    before = emulator.stats()["requests"]
    async with Uploader(upload_config(emulator), auth=oauth(emulator)) as up:  # auto
        second = [r async for r in up.upload_many(items, checkpoint=checkpoint)]

    assert emulator.stats()["requests"] == before  # nothing sent again
    assert all(r.ok and r.resumed for r in second)
    assert {r.media_id_string for r in second} == {r.media_id_string for r in first}
